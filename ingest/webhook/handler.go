// Package webhook is kaudit's side of kube-apiserver's audit webhook
// backend: an http.Handler for POST /audit/webhook that authenticates the
// apiserver, reads the EventList it sends (or a single Event), hands the
// decoded batch to an ingest.Acceptor and answers 2xx only once the
// acceptor says the batch is durable.
//
// The responses are designed for the apiserver's client
// (k8s.io/apiserver/plugin/pkg/audit/webhook): it tries a batch answered
// 429, 500, 504 or with Retry-After five times with a growing backoff,
// each try waiting out Retry-After until its 30 s timeout, and then drops
// the batch for good (about 4 minutes after the first refusal, with the
// apiserver's defaults); any other non-2xx answer drops it at once. So:
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

// DefaultMaxInFlightBytes bounds the memory requests take, all clients
// together: each counts its body as it is read, its decompressed body as it
// is inflated and its events as they are decoded (budget.go), before any of
// it is allocated. Requests beyond it wait for room, then get 429.
const DefaultMaxInFlightBytes = 256 << 20

// DefaultMaxClientInFlightBytes is what one client identity (a token, a
// certificate subject) may hold of that budget: half, so that one client,
// however many requests it sends, always leaves room for another (the
// apiserver). A body of webhook.max_body_bytes (32 MiB) of ordinary events
// weighs about 120 MiB once decoded.
const DefaultMaxClientInFlightBytes = 128 << 20

// DefaultMinBodyRate is the slowest a body may arrive, in bytes a second,
// after DefaultMinBodyRateGrace: slower bodies are cut with 408, so that a client
// trickling bytes holds neither a connection nor its budget for long.
const DefaultMinBodyRate = 64 << 10

// DefaultMinBodyRateGrace is how long a body may take before the minimum
// rate applies: a small batch over a slow link is not cut.
const DefaultMinBodyRateGrace = 5 * time.Second

// DefaultQueueWait is how long a request waits for room in the in-flight
// budget before it is told to come back later (429, Retry-After: 1).
const DefaultQueueWait = 10 * time.Second

// retryAfterUnavailable is the wait asked of the apiserver when neither the
// store nor the spool can take a batch.
const retryAfterUnavailable = 5 * time.Second

// maxReportedItems bounds the bad items named in an answer; the rest are
// counted.
const maxReportedItems = 100

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
	// ClientSubjects, when not empty, restricts ClientCerts to
	// certificates whose subject common name or one of whose subject
	// alternative names (DNS, IP, email, URI) is in the list
	// (webhook.tls.client_subjects): a CA that signs other certificates
	// too must not let them all post audit events.
	ClientSubjects []string
	// Unauthenticated turns authentication off. Only for plain HTTP, over
	// which the apiserver sends no credentials at all.
	Unauthenticated bool
	// MaxBodyBytes caps a body as sent and, for gzip bodies, once
	// decompressed (DefaultMaxBodyBytes when zero).
	MaxBodyBytes int64
	// MaxInFlightBytes caps the memory of the requests being read and
	// decoded at once (DefaultMaxInFlightBytes when zero), and
	// MaxClientInFlightBytes what one client identity holds of it
	// (DefaultMaxClientInFlightBytes, at most MaxInFlightBytes).
	MaxInFlightBytes       int64
	MaxClientInFlightBytes int64
	// MinBodyRate is the slowest a body may arrive, in bytes a second
	// (DefaultMinBodyRate when zero; negative: no minimum), once
	// MinBodyRateGrace (DefaultMinBodyRateGrace when zero) has passed.
	MinBodyRate      int64
	MinBodyRateGrace time.Duration
	// QueueWait is how long a request waits for room in that budget
	// (DefaultQueueWait when zero).
	QueueWait time.Duration
	// Throttle slows down guessing of bearer tokens: failures per source
	// address and per token prefix (nil: auth's defaults, 20 at once and
	// one more a second).
	Throttle *auth.Throttle
	// Metrics counts what the handler sees (nil: not counted).
	Metrics *Metrics
	// Logger gets one line per rejected request (nil: slog.Default()).
	Logger *slog.Logger
}

// Handler serves POST /audit/webhook.
type Handler struct {
	cfg      Config
	budget   *budget
	subjects map[string]bool
	refusals *auth.RefusalLog
	log      *slog.Logger
	m        *Metrics
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
	if cfg.MaxClientInFlightBytes <= 0 {
		cfg.MaxClientInFlightBytes = DefaultMaxClientInFlightBytes
	}
	cfg.MaxClientInFlightBytes = min(cfg.MaxClientInFlightBytes, cfg.MaxInFlightBytes)
	if cfg.MinBodyRate == 0 {
		cfg.MinBodyRate = DefaultMinBodyRate
	}
	if cfg.MinBodyRateGrace <= 0 {
		cfg.MinBodyRateGrace = DefaultMinBodyRateGrace
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Throttle == nil {
		cfg.Throttle = auth.NewThrottle(0, 0, nil)
	}
	h := &Handler{cfg: cfg, budget: newBudget(cfg.MaxInFlightBytes, cfg.MaxClientInFlightBytes), log: cfg.Logger, m: cfg.Metrics,
		refusals: auth.NewRefusalLog(cfg.Logger, nil)}
	h.m.watchRefusals(h.refusals)
	if len(cfg.ClientSubjects) > 0 {
		h.subjects = map[string]bool{}
		for _, s := range cfg.ClientSubjects {
			h.subjects[s] = true
		}
	}
	return h, nil
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
	// Rejected lists the bad items of a list, by index: the first
	// maxReportedItems of them.
	Rejected []ItemProblem `json:"rejected,omitempty"`
	// RejectedCount counts every bad item, listed or not.
	RejectedCount int `json:"rejected_count,omitempty"`
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
	client, ok, wait := h.authenticate(r)
	if !ok {
		h.refuseAuth(w, r, wait)
		return
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.reject(w, r, http.StatusRequestEntityTooLarge, reasonTooLarge, fmt.Sprintf("body of %d bytes exceeds webhook.max_body_bytes (%d)", r.ContentLength, h.cfg.MaxBodyBytes), 0)
		return
	}
	c := h.budget.open(r.Context(), client, time.Now().Add(h.cfg.QueueWait))
	defer c.close()
	body, status, reason, err := h.readBody(w, r, c)
	if err != nil {
		h.rejectBudget(w, r, status, reason, err)
		return
	}
	batch, bad, err := ingest.DecodeBatchFunc(body, "webhook:"+r.RemoteAddr, &weigher{c: c})
	putBody(body) // decoded: the events hold copies of what they keep
	body = nil
	switch {
	case errors.Is(err, errBudgetBusy) || errors.Is(err, errBudgetTooBig):
		h.rejectBudget(w, r, http.StatusRequestEntityTooLarge, reasonTooLarge, err)
		return
	case err != nil:
		h.reject(w, r, http.StatusBadRequest, reasonMalformed, err.Error(), 0)
		return
	}
	resp := Response{Rejected: problems(bad), RejectedCount: len(bad)}
	if len(bad) > 0 {
		h.m.Rejected.WithLabelValues(reasonBadItem).Add(float64(len(bad)))
		h.log.Warn("webhook: bad items in a list", "remote", r.RemoteAddr, "client", client, "bad", len(bad), "good", len(batch.Records),
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

// rejectBudget answers a body that could not be read or decoded within the
// budget and the rates: 429 when the budget is busy (come back later), 413
// when the request alone needs more than a client may hold, else the
// status given.
func (h *Handler) rejectBudget(w http.ResponseWriter, r *http.Request, status int, reason string, err error) {
	switch {
	case errors.Is(err, errBudgetBusy):
		h.reject(w, r, http.StatusTooManyRequests, reasonBusy, "too many bytes in flight; try again", time.Second)
	case errors.Is(err, errBudgetTooBig):
		h.reject(w, r, http.StatusRequestEntityTooLarge, reasonTooLarge,
			fmt.Sprintf("the batch needs more memory to read and decode than a client may hold (webhook.max_client_in_flight_bytes, %d): send smaller batches", h.cfg.MaxClientInFlightBytes), 0)
	default:
		h.reject(w, r, status, reason, err.Error(), 0)
	}
}

// authenticate returns who sent r (the identity its in-flight budget is
// kept under) and whether it authenticated: a verified client certificate
// whose subject is allowed, or a known bearer token, whichever the
// apiserver's kubeconfig gives it. A bearer token from a source address or
// with a prefix that failed too often is not even checked: wait says when
// to come back.
func (h *Handler) authenticate(r *http.Request) (id string, ok bool, wait time.Duration) {
	if h.cfg.Unauthenticated {
		return "addr:" + remoteHost(r), true, 0
	}
	if h.cfg.ClientCerts && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		if id, ok := h.certificate(r.TLS.VerifiedChains[0][0]); ok {
			return id, true, 0
		}
	}
	tok, ok := auth.BearerToken(r)
	if !ok {
		return "", false, 0
	}
	keys := []string{auth.SourceKey(remoteHost(r)), auth.PrefixKey(tok)}
	if allowed, wait := h.cfg.Throttle.Allow(keys...); !allowed {
		return "", false, wait
	}
	if h.cfg.Tokens.Valid(tok) {
		return "token:" + auth.ID(tok), true, 0
	}
	h.cfg.Throttle.Fail(keys...)
	return "", false, 0
}

// refuseAuth answers a request that did not authenticate: 401, or 429
// while its source or token prefix is throttled. Every refusal is counted;
// the log takes about one a second.
func (h *Handler) refuseAuth(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	if wait > 0 {
		h.m.Rejected.WithLabelValues(reasonThrottled).Inc()
		h.refusals.Warn("webhook: request refused", "reason", reasonThrottled, "status", http.StatusTooManyRequests, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeJSON(w, http.StatusTooManyRequests, Response{Error: "too many failed authentications from this address or with this token; try again later"})
		return
	}
	h.m.Rejected.WithLabelValues(reasonUnauthenticated).Inc()
	h.refusals.Warn("webhook: request refused", "reason", reasonUnauthenticated, "status", http.StatusUnauthorized, "remote", r.RemoteAddr)
	w.Header().Set("WWW-Authenticate", `Bearer realm="kaudit-webhook"`)
	writeJSON(w, http.StatusUnauthorized, Response{Error: "no valid bearer token or client certificate"})
}

// readBody reads the body within the limits, decompressing gzip, counting
// what it holds against the request's charge before reading it.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, c *charge) (body []byte, status int, reason string, err error) {
	max := h.cfg.MaxBodyBytes
	var src io.Reader = r.Body
	if h.cfg.MinBodyRate > 0 {
		src = newRateReader(r.Body, http.NewResponseController(w), h.cfg.MinBodyRate, h.cfg.MinBodyRateGrace)
	}
	enc := r.Header.Get("Content-Encoding")
	switch enc {
	case "", "identity", "gzip":
	default:
		return nil, http.StatusUnsupportedMediaType, reasonBadBody, fmt.Errorf("Content-Encoding %q: send identity or gzip", enc)
	}
	raw, err := readCharged(src, c, max, r.ContentLength)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, http.StatusRequestEntityTooLarge, reasonTooLarge, fmt.Errorf("body exceeds webhook.max_body_bytes (%d)", max)
	case errors.Is(err, errSlowBody):
		w.Header().Set("Connection", "close")
		return nil, http.StatusRequestTimeout, reasonSlow, fmt.Errorf("body arrived slower than webhook.min_body_rate (%d bytes/s)", h.cfg.MinBodyRate)
	case errors.Is(err, errBudgetBusy) || errors.Is(err, errBudgetTooBig):
		return nil, 0, "", err
	case err != nil:
		h.log.Debug("webhook: body not read", "remote", r.RemoteAddr, "err", err)
		return nil, http.StatusBadRequest, reasonBadBody, errors.New("the body could not be read to its end")
	}
	if enc != "gzip" {
		return raw, 0, "", nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, http.StatusBadRequest, reasonBadBody, fmt.Errorf("gzip body: %w", err)
	}
	out, err := readCharged(zr, c, max, -1)
	putBody(raw) // inflated (or failed): the compressed body is done with
	switch {
	case errors.Is(err, errTooLarge):
		return nil, http.StatusRequestEntityTooLarge, reasonDecompressedTooLarge,
			fmt.Errorf("gzip body decompresses past webhook.max_body_bytes (%d)", max)
	case errors.Is(err, errBudgetBusy) || errors.Is(err, errBudgetTooBig):
		return nil, 0, "", err
	case err != nil:
		return nil, http.StatusBadRequest, reasonBadBody, fmt.Errorf("gzip body: %w", err)
	}
	return out, 0, "", nil
}

// refuse answers an acceptor error: 429 with the acceptor's Retry-After when
// it has one (spool full), else 503 with a default wait. Either makes the
// apiserver back off rather than spend its five retries at once. A 503's
// body does not carry the error, which can name internal addresses (the
// store's); the log has it.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var ra RetryAfterError
	if errors.As(err, &ra) {
		h.reject(w, r, http.StatusTooManyRequests, reasonSpoolFull, ra.Error(), ra.RetryAfter())
		return
	}
	h.m.Rejected.WithLabelValues(reasonUnavailable).Inc()
	h.log.Error("webhook: batch not made durable", "remote", r.RemoteAddr, "err", err)
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfterUnavailable.Seconds()))))
	writeJSON(w, http.StatusServiceUnavailable, Response{Error: "the batch could not be made durable now (store and spool); try again"})
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
	bad = bad[:min(len(bad), maxReportedItems)]
	out := make([]ItemProblem, len(bad))
	for i, b := range bad {
		out[i] = ItemProblem{Index: b.Index, Reason: b.Reason}
	}
	return out
}
