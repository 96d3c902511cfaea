package webhook

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
)

const token = "webhook-secret-token"

// recorder is an acceptor that keeps what it was given, or fails with err.
type recorder struct {
	mu      sync.Mutex
	batches []ingest.Batch
	err     error
}

func (r *recorder) Accept(_ context.Context, b ingest.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.batches = append(r.batches, b)
	return nil
}

func (r *recorder) records() []ingest.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ingest.Record
	for _, b := range r.batches {
		out = append(out, b.Records...)
	}
	return out
}

// sampleItems returns n events of the real apiserver log, as list items.
func sampleItems(t *testing.T, n int) []json.RawMessage {
	t.Helper()
	f, err := os.Open("../../testdata/apiserver-1.36-basic-intrusion.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var out []json.RawMessage
	for sc.Scan() && len(out) < n {
		out = append(out, json.RawMessage(append([]byte(nil), sc.Bytes()...)))
	}
	return out
}

func eventList(items []json.RawMessage) []byte {
	b, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": map[string]any{}, "items": items})
	return b
}

type fixture struct {
	srv     *httptest.Server
	acc     *recorder
	metrics *Metrics
	reg     *prometheus.Registry
	logs    *bytes.Buffer
}

func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	toks, err := auth.NewTokens(token)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	fx := &fixture{acc: &recorder{}, metrics: NewMetrics(reg), reg: reg, logs: &bytes.Buffer{}}
	cfg := Config{Acceptor: fx.acc, Tokens: toks, MaxBodyBytes: 1 << 20, Metrics: fx.metrics,
		Logger: slog.New(slog.NewJSONHandler(&lockedWriter{w: fx.logs}, nil))}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	fx.srv = httptest.NewTLSServer(mux)
	t.Cleanup(fx.srv.Close)
	return fx
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (fx *fixture) post(t *testing.T, tok string, body []byte, hdr map[string]string) (int, Response, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, fx.srv.URL+Path+"?timeout=30s", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out Response
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d with Content-Type %q, want a JSON body", resp.StatusCode, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("status %d: body is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out, resp.Header
}

func (fx *fixture) rejected(reason string) float64 {
	return testutil.ToFloat64(fx.metrics.Rejected.WithLabelValues(reason))
}

func TestAcceptsEventListAndSingleEvent(t *testing.T) {
	fx := newFixture(t, nil)
	items := sampleItems(t, 50)
	code, resp, _ := fx.post(t, token, eventList(items), nil)
	if code != http.StatusOK || resp.Accepted != 50 || len(resp.Rejected) != 0 {
		t.Fatalf("list: %d %+v", code, resp)
	}
	code, resp, _ = fx.post(t, token, items[0], nil)
	if code != http.StatusOK || resp.Accepted != 1 {
		t.Fatalf("single event: %d %+v", code, resp)
	}
	recs := fx.acc.records()
	if len(recs) != 51 {
		t.Fatalf("acceptor got %d records, want 51", len(recs))
	}
	if !strings.HasPrefix(recs[7].Location, "webhook:127.0.0.1:") || !strings.HasSuffix(recs[7].Location, "#7") {
		t.Fatalf("location %q", recs[7].Location)
	}
	if got := testutil.ToFloat64(fx.metrics.Received); got != 51 {
		t.Fatalf("received counter %v", got)
	}
}

func TestAuthentication(t *testing.T) {
	fx := newFixture(t, nil)
	body := eventList(sampleItems(t, 3))
	for _, tc := range []struct{ name, tok string }{{"no token", ""}, {"wrong token", "not-the-token"}} {
		code, resp, hdr := fx.post(t, tc.tok, body, nil)
		if code != http.StatusUnauthorized || resp.Error == "" || hdr.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: %d %+v", tc.name, code, resp)
		}
	}
	if n := len(fx.acc.records()); n != 0 {
		t.Fatalf("unauthenticated requests reached the acceptor: %d records", n)
	}
	if got := fx.rejected(reasonUnauthenticated); got != 2 {
		t.Fatalf("unauthenticated counter %v, want 2", got)
	}
	logs := fx.logs.String()
	if strings.Count(logs, `"reason":"unauthenticated"`) != 2 || !strings.Contains(logs, `"remote":"127.0.0.1:`) {
		t.Fatalf("want one log line per rejection with the remote address:\n%s", logs)
	}
	if strings.Contains(logs, "not-the-token") {
		t.Fatal("a presented token was logged")
	}
}

func TestClientCertificate(t *testing.T) {
	pki := webhooktest.NewPKI(t)
	acc := &recorder{}
	h, err := NewHandler(Config{Acceptor: acc, ClientCerts: true, Metrics: NewMetrics(nil)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(pki.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	post := func(certFile, keyFile string) (int, error) {
		tc := &tls.Config{RootCAs: pool}
		if certFile != "" {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			// Present it whatever CAs the server names, as a stolen or
			// forged certificate would be.
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := cl.Post(srv.URL+Path, "application/json", bytes.NewReader(eventList(sampleItems(t, 2))))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post(pki.ClientCert, pki.ClientKey); err != nil || code != http.StatusOK {
		t.Fatalf("with the CA's client certificate: %d %v", code, err)
	}
	if code, err := post("", ""); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("without a certificate: %d %v", code, err)
	}
	if code, err := post(pki.OtherCert, pki.OtherKey); err == nil {
		t.Fatalf("a certificate of another CA got through the handshake: %d", code)
	}
	if n := len(acc.records()); n != 2 {
		t.Fatalf("%d records stored, want 2", n)
	}
}

func TestMalformedJSON(t *testing.T) {
	fx := newFixture(t, nil)
	code, resp, _ := fx.post(t, token, []byte(`{"kind":"EventList","items":[{"auditID":`), nil)
	if code != http.StatusBadRequest || !strings.Contains(resp.Error, "malformed JSON") {
		t.Fatalf("%d %+v", code, resp)
	}
	code, resp, _ = fx.post(t, token, []byte("this is not json"), nil)
	if code != http.StatusBadRequest || resp.Error == "" {
		t.Fatalf("%d %+v", code, resp)
	}
	if got := fx.rejected(reasonMalformed); got != 2 {
		t.Fatalf("malformed counter %v", got)
	}
}

func TestOneBadItemAmongGood(t *testing.T) {
	fx := newFixture(t, nil)
	items := sampleItems(t, 10)
	items[4] = json.RawMessage(`{"stage":"ResponseComplete","verb":"get"}`) // no auditID
	code, resp, _ := fx.post(t, token, eventList(items), nil)
	if code != http.StatusOK || resp.Accepted != 9 || len(resp.Rejected) != 1 || resp.Rejected[0].Index != 4 ||
		!strings.Contains(resp.Rejected[0].Reason, "auditID") {
		t.Fatalf("%d %+v", code, resp)
	}
	recs := fx.acc.records()
	if len(recs) != 9 || !strings.HasSuffix(recs[4].Location, "#5") {
		t.Fatalf("%d records; fifth at %q", len(recs), recs[4].Location)
	}
	if got := fx.rejected(reasonBadItem); got != 1 {
		t.Fatalf("bad_item counter %v", got)
	}
	all := make([]json.RawMessage, 3)
	for i := range all {
		all[i] = json.RawMessage(`{"verb":"get"}`)
	}
	code, resp, _ = fx.post(t, token, eventList(all), nil)
	if code != http.StatusBadRequest || len(resp.Rejected) != 3 {
		t.Fatalf("a list of only bad items: %d %+v", code, resp)
	}
	// Past a hundred, bad items are counted, not listed.
	many := append(make([]json.RawMessage, 0, 151), sampleItems(t, 1)...)
	for range 150 {
		many = append(many, json.RawMessage(`{"verb":"get"}`))
	}
	code, resp, _ = fx.post(t, token, eventList(many), nil)
	if code != http.StatusOK || resp.Accepted != 1 || len(resp.Rejected) != 100 || resp.RejectedCount != 150 {
		t.Fatalf("150 bad items: %d, %d listed, %d counted", code, len(resp.Rejected), resp.RejectedCount)
	}
}

func TestOversizedBody(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	body := eventList(sampleItems(t, 200))
	if len(body) <= 64<<10 {
		t.Fatalf("test body too small: %d", len(body))
	}
	code, resp, _ := fx.post(t, token, body, nil)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Error, "webhook.max_body_bytes") {
		t.Fatalf("%d %+v", code, resp)
	}
	// Without a Content-Length the limit holds while reading.
	req, _ := http.NewRequest(http.MethodPost, fx.srv.URL+Path, io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.ContentLength = -1
	r, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized body: %d", r.StatusCode)
	}
	if got := fx.rejected(reasonTooLarge); got != 2 {
		t.Fatalf("too_large counter %v", got)
	}
}

func gz(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.Bytes()
}

func TestGzip(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.MaxBodyBytes = 256 << 10 })
	items := sampleItems(t, 20)
	code, resp, _ := fx.post(t, token, gz(t, eventList(items)), map[string]string{"Content-Encoding": "gzip"})
	if code != http.StatusOK || resp.Accepted != 20 {
		t.Fatalf("gzip list: %d %+v", code, resp)
	}
	// A bomb: 100 MB of spaces inside a JSON document compress to ~100 KB.
	bomb := gz(t, append(append([]byte(`{"kind":"EventList","items":[`), bytes.Repeat([]byte(" "), 100<<20)...), "]}"...))
	if len(bomb) > 256<<10 {
		t.Fatalf("bomb of %d bytes does not fit the compressed limit", len(bomb))
	}
	code, resp, _ = fx.post(t, token, bomb, map[string]string{"Content-Encoding": "gzip"})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Error, "decompresses") {
		t.Fatalf("gzip bomb: %d %+v", code, resp)
	}
	if got := fx.rejected(reasonDecompressedTooLarge); got != 1 {
		t.Fatalf("decompressed_too_large counter %v", got)
	}
	code, _, _ = fx.post(t, token, []byte("not gzip at all"), map[string]string{"Content-Encoding": "gzip"})
	if code != http.StatusBadRequest {
		t.Fatalf("broken gzip: %d", code)
	}
}

type fullErr struct{}

func (fullErr) Error() string             { return "spool full" }
func (fullErr) RetryAfter() time.Duration { return 7 * time.Second }

func TestBackpressure(t *testing.T) {
	fx := newFixture(t, nil)
	body := eventList(sampleItems(t, 5))
	fx.acc.err = fmt.Errorf("store down: %w", fullErr{})
	code, resp, hdr := fx.post(t, token, body, nil)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "7" || resp.Error == "" {
		t.Fatalf("spool full: %d %q %+v", code, hdr.Get("Retry-After"), resp)
	}
	fx.acc.err = fmt.Errorf("store: dial tcp 10.9.8.7:9000: connect: connection refused; spool /var/lib/kaudit/spool: write: no space left")
	code, resp, hdr = fx.post(t, token, body, nil)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("unavailable: %d %q", code, hdr.Get("Retry-After"))
	}
	// The answer says what happened, not where: addresses and paths are
	// for the log.
	if strings.Contains(resp.Error, "10.9.8.7") || strings.Contains(resp.Error, "/var/lib") || resp.Error == "" {
		t.Fatalf("the 503 body reveals internals: %q", resp.Error)
	}
	if !strings.Contains(fx.logs.String(), "10.9.8.7:9000") {
		t.Fatal("the log lacks the acceptor's error")
	}
	if fx.rejected(reasonSpoolFull) != 1 || fx.rejected(reasonUnavailable) != 1 {
		t.Fatal("backpressure not counted")
	}
}

func TestMethodAndNoAuthConfig(t *testing.T) {
	fx := newFixture(t, nil)
	r, err := fx.srv.Client().Get(fx.srv.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", r.StatusCode)
	}
	if _, err := NewHandler(Config{Acceptor: &recorder{}}); err == nil {
		t.Fatal("a handler without any authentication was built")
	}
}
