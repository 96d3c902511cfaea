package investigate

import (
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strings"
)

// gzipMinBytes is the size above which answers are compressed: an
// incident's full timeline of 10,000 events is about 5 MB of JSON and
// shrinks about twentyfold, which matters to `kaudit serve` across a
// network; small answers are not worth the CPU.
const gzipMinBytes = 64 << 10

// apiError is the body of every error the API answers, so that clients
// read one shape whatever went wrong.
type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// writeJSON answers v as JSON, gzipped when large and the client takes
// it. Responses hold an analyst's evidence: no cache keeps them.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Error: "encode response: " + err.Error(), Status: status})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	b = append(b, '\n')
	if len(b) >= gzipMinBytes && r != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // the level is valid
		_, _ = zw.Write(b)
		_ = zw.Close()
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// writeError answers an error as JSON.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, nil, status, apiError{Error: msg, Status: status})
}
