package store

import (
	"bytes"
	"fmt"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/ingest"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Renderer renders records as rows (their columns, and their events as
// json.Marshal writes them) into a buffer it reuses:
// the JSON of the row it returns is valid until its next call. The
// write-ahead path copies each row into its spool entry at once, and a
// fresh buffer per event was a tenth of all it allocated under load.
// A Renderer is not safe for concurrent use.
type Renderer struct {
	out   rendered
	enc   *json.Encoder
	ev    eventJSON
	times microTimes
}

// rendered keeps the last value the encoder wrote.
type rendered struct{ buf []byte }

func (r *rendered) Write(p []byte) (int, error) {
	r.buf = append(r.buf[:0], p...)
	return len(p), nil
}

// NewRenderer returns a Renderer. Its encoder has Marshal's options (HTML
// characters escaped, invalid UTF-8 replaced), and it marshals events as
// eventJSON, so its JSON is json.Marshal's, byte for byte.
func NewRenderer() *Renderer {
	r := &Renderer{}
	r.enc = json.NewEncoder(&r.out)
	return r
}

// Row renders rec; the row's JSON is overwritten by the next call.
func (r *Renderer) Row(rec *ingest.Record) (Row, error) {
	raw, err := r.JSON(rec.Event)
	if err != nil {
		return Row{}, err
	}
	row := columnsOf(rec)
	row.JSON = raw
	return row, nil
}

// JSON marshals ev as Marshal does; the bytes are overwritten by the next
// call.
func (r *Renderer) JSON(ev *auditv1.Event) ([]byte, error) {
	r.ev.set(ev, &r.times)
	err := r.enc.Encode(&r.ev)
	r.ev = eventJSON{} // keeps no event alive
	if err != nil {
		return nil, fmt.Errorf("marshal event %s: %w", ev.AuditID, err)
	}
	return bytes.TrimSuffix(r.out.buf, []byte("\n")), nil // Encode ends every value with one
}
