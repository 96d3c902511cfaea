// Package webhook is kaudit's side of kube-apiserver's audit webhook
// backend: an http.Handler for POST /audit/webhook that authenticates the
// apiserver, reads the EventList it sends (or a single Event), hands the
// decoded batch to an ingest.Acceptor and answers 2xx only once the
// acceptor says the batch is durable.
//
// The responses are designed for the apiserver's client
// (k8s.io/apiserver/plugin/pkg/audit/webhook): it retries every non-2xx
// answer five times with a growing backoff and then drops the batch for
// good, and it honours Retry-After on 429 and 5xx. So:
//   - a batch that is durable gets 200, even when some of its items were bad
//     (they are reported by index in the body; a retry would not fix them);
//   - when kaudit cannot take the batch now (spool full, too many requests)
//     it answers 429 or 503 with Retry-After, which makes the apiserver wait
//     instead of burning its retries;
//   - input that will never be accepted (not JSON, too large, no valid
//     credentials) gets a 4xx with a JSON body naming the problem.
package webhook

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/ingest"
)

// Path is where the apiserver posts; the webhook kubeconfig's server URL
// ends with it.
const Path = "/audit/webhook"

// DefaultMaxBodyBytes is webhook.max_body_bytes when unset. The apiserver's
// own batch truncation, when enabled, caps a batch at 10 MB; untruncated
// batches of 400 events average about 0.5 MB.
const DefaultMaxBodyBytes = 32 << 20

// DefaultMaxInFlightBytes bounds the bodies read and decoded at once, and
// so the memory requests take: each holds its body (its Content-Length, or
// MaxBodyBytes when unknown or gzip) and its decoded events, about twice
// as much again. Requests beyond it wait, unread, for room.
const DefaultMaxInFlightBytes = 256 << 20

// DefaultQueueWait is how long a request waits for room in the in-flight
// budget before it is told to come back later (429, Retry-After: 1).
const DefaultQueueWait = 10 * time.Second

// retryAfterUnavailable is the wait asked of the apiserver when neither the
// store nor the spool can take a batch.
const retryAfterUnavailable = 5 * time.Second

// RetryAfterError is implemented by acceptor errors that carry how long the
// client should wait (a full spool): the handler answers 429 with that
// Retry-After.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// Config configures a Handler.
type Config struct {
	// Acceptor makes batches durable. Required.
	Acceptor ingest.Acceptor
	// Tokens are the bearer tokens the apiserver may present (nil: none).
	Tokens *auth.Tokens
	// ClientCerts accepts a TLS client certificate verified against the
	// server's client CA (the server's tls.Config does the verification).
	ClientCerts bool
	// Unauthenticated turns authentication off. Only for plain HTTP, over
	// which the apiserver sends no credentials at all.
	Unauthenticated bool
	// MaxBodyBytes caps a body as sent and, for gzip bodies, once
	// decompressed (DefaultMaxBodyBytes when zero).
	MaxBodyBytes int64
	// MaxInFlightBytes caps the body bytes being read and decoded at once
	// (DefaultMaxInFlightBytes when zero; at least MaxBodyBytes).
	MaxInFlightBytes int64
	// QueueWait is how long a request waits for room in that budget
	// (DefaultQueueWait when zero).
	QueueWait time.Duration
	// Metrics counts what the handler sees (nil: not counted).
	Metrics *Metrics
	// Logger gets one line per rejected request (nil: slog.Default()).
	Logger *slog.Logger
}

// Handler serves POST /audit/webhook.
type Handler struct {
	cfg Config
	mem *semaphore.Weighted
	log *slog.Logger
	m   *Metrics
}

// NewHandler checks cfg and returns the handler.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Acceptor == nil {
		return nil, errors.New("webhook: no acceptor")
	}
	if !cfg.Unauthenticated && (cfg.Tokens == nil || cfg.Tokens.Len() == 0) && !cfg.ClientCerts {
		return nil, errors.New("webhook: no way to authenticate the apiserver (tokens or client certificates)")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxInFlightBytes <= 0 {
		cfg.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	cfg.MaxInFlightBytes = max(cfg.MaxInFlightBytes, cfg.MaxBodyBytes)
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Handler{cfg: cfg, mem: semaphore.NewWeighted(cfg.MaxInFlightBytes), log: cfg.Logger, m: cfg.Metrics}, nil
}

// ItemProblem is one bad item of a list, as reported to the sender.
type ItemProblem struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// Response is the JSON body of every answer.
type Response struct {
	// Accepted is the number of events made durable.
	Accepted int `json:"accepted"`
	// Rejected lists the bad items of a list, by index.
	Rejected []ItemProblem `json:"rejected,omitempty"`
	// Error names what was wrong with the request as a whole.
	Error string `json:"error,omitempty"`
}

// ServeHTTP handles one POST of an EventList or Event.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, r, http.StatusMethodNotAllowed, reasonMethod, "method "+r.Method+" not allowed: POST audit events", 0)
		return
	}
	if !h.authenticated(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaudit-webhook"`)
		h.reject(w, r, http.StatusUnauthorized, reasonUnauthenticated, "no valid bearer token or client certificate", 0)
		return
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.reject(w, r, http.StatusRequestEntityTooLarge, reasonTooLarge, fmt.Sprintf("body of %d bytes exceeds webhook.max_body_bytes (%d)", r.ContentLength, h.cfg.MaxBodyBytes), 0)
		return
	}
	weight := h.cfg.MaxBodyBytes
	if r.ContentLength >= 0 && r.Header.Get("Content-Encoding") == "" {
		weight = max(r.ContentLength, 1)
	}
	if !h.acquire(r.Context(), weight) {
		h.reject(w, r, http.StatusTooManyRequests, reasonBusy, "too many bytes in flight", time.Second)
		return
	}
	defer h.mem.Release(weight)

	body, status, reason, err := h.readBody(r)
	if err != nil {
		h.reject(w, r, status, reason, err.Error(), 0)
		return
	}
	batch, bad, err := ingest.DecodeBatch(body, "webhook:"+r.RemoteAddr)
	body = nil // let the raw body go before the batch is written
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, reasonMalformed, err.Error(), 0)
		return
	}
	resp := Response{Rejected: problems(bad)}
	if len(bad) > 0 {
		h.m.Rejected.WithLabelValues(reasonBadItem).Add(float64(len(bad)))
		h.log.Warn("webhook: bad items in a list", "remote", r.RemoteAddr, "bad", len(bad), "good", len(batch.Records),
			"first_index", bad[0].Index, "first_reason", bad[0].Reason)
	}
	if len(batch.Records) == 0 && len(bad) > 0 {
		resp.Error = "no item of the list is a valid audit event"
		h.m.Rejected.WithLabelValues(reasonMalformed).Inc()
		writeJSON(w, http.StatusBadRequest, resp)
		return
	}
	h.m.Received.Add(float64(len(batch.Records)))
	// A batch being made durable is finished even if the apiserver hangs up
	// (its retry then finds it stored once), and SIGTERM waits for it.
	ctx := context.WithoutCancel(r.Context())
	if err := h.cfg.Acceptor.Accept(ctx, batch); err != nil {
		h.refuse(w, r, err)
		return
	}
	resp.Accepted = len(batch.Records)
	writeJSON(w, http.StatusOK, resp)
}

// authenticated accepts a verified client certificate or a known bearer
// token, whichever the apiserver's kubeconfig gives it.
func (h *Handler) authenticated(r *http.Request) bool {
	if h.cfg.Unauthenticated {
		return true
	}
	if h.cfg.ClientCerts && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	tok, ok := auth.BearerToken(r)
	return ok && h.cfg.Tokens.Valid(tok)
}

// acquire waits, at most QueueWait, for n bytes of the in-flight budget.
func (h *Handler) acquire(ctx context.Context, n int64) bool {
	if h.mem.TryAcquire(n) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.QueueWait)
	defer cancel()
	return h.mem.Acquire(ctx, n) == nil
}

// readBody reads the body within the limits, decompressing gzip.
func (h *Handler) readBody(r *http.Request) (body []byte, status int, reason string, err error) {
	max := h.cfg.MaxBodyBytes
	raw, err := readLimited(r.Body, max, r.ContentLength)
	if errors.Is(err, errTooLarge) {
		return nil, http.StatusRequestEntityTooLarge, reasonTooLarge, fmt.Errorf("body exceeds webhook.max_body_bytes (%d)", max)
	}
	if err != nil {
		return nil, http.StatusBadRequest, reasonBadBody, fmt.Errorf("reading body: %w", err)
	}
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return raw, 0, "", nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, http.StatusBadRequest, reasonBadBody, fmt.Errorf("gzip body: %w", err)
		}
		out, err := readLimited(zr, max, -1)
		if errors.Is(err, errTooLarge) {
			return nil, http.StatusRequestEntityTooLarge, reasonDecompressedTooLarge,
				fmt.Errorf("gzip body decompresses past webhook.max_body_bytes (%d)", max)
		}
		if err != nil {
			return nil, http.StatusBadRequest, reasonBadBody, fmt.Errorf("gzip body: %w", err)
		}
		return out, 0, "", nil
	default:
		return nil, http.StatusUnsupportedMediaType, reasonBadBody, fmt.Errorf("Content-Encoding %q: send identity or gzip", enc)
	}
}

var errTooLarge = errors.New("too large")

// readLimited reads all of rd, failing with errTooLarge past max bytes
// without ever holding more than max+1 of them.
func readLimited(rd io.Reader, max, hint int64) ([]byte, error) {
	var buf bytes.Buffer
	if hint > 0 && hint <= max {
		// ReadFrom wants MinRead bytes free before every read: room for
		// them spares a copy of the whole body into a doubled buffer.
		buf.Grow(int(hint) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(rd, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// refuse answers an acceptor error: 429 with the acceptor's Retry-After when
// it has one (spool full), else 503 with a default wait. Either makes the
// apiserver back off rather than spend its five retries at once.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var ra RetryAfterError
	if errors.As(err, &ra) {
		h.reject(w, r, http.StatusTooManyRequests, reasonSpoolFull, err.Error(), ra.RetryAfter())
		return
	}
	h.reject(w, r, http.StatusServiceUnavailable, reasonUnavailable, err.Error(), retryAfterUnavailable)
}

// reject answers with a JSON error, counts it by reason and logs one line
// with the remote address (never a header or the body: they may hold
// credentials or unredacted secrets).
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, status int, reason, msg string, retryAfter time.Duration) {
	h.m.Rejected.WithLabelValues(reason).Inc()
	h.log.Warn("webhook: request rejected", "reason", reason, "status", status, "remote", r.RemoteAddr, "detail", msg)
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	writeJSON(w, status, Response{Error: msg})
}

func problems(bad []ingest.ItemError) []ItemProblem {
	if len(bad) == 0 {
		return nil
	}
	out := make([]ItemProblem, len(bad))
	for i, b := range bad {
		out[i] = ItemProblem{Index: b.Index, Reason: b.Reason}
	}
	return out
}
