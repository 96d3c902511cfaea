package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// inc makes an incident that ended at end.
func inc(id, sev string, start, end time.Time, tactics, actors []string) incident.Incident {
	return incident.Incident{Type: "incident", ID: id, Severity: sev, Start: start.Format(detect.TimeFormat), End: end.Format(detect.TimeFormat),
		StartTime: start, EndTime: end, Tactics: tactics, Actors: actors, SourceIPs: []string{"203.0.113.7"},
		FindingCount: len(tactics), Findings: []string{"audit-" + id}, Summary: "mallory read secrets. Then more.",
		Touched: []incident.Touched{{Resource: "secrets", Namespace: "default", Name: "db", Verbs: []string{"get"}, Count: 1}}}
}

// received is one request a test receiver took.
type received struct {
	at     time.Time
	header http.Header
	body   []byte
}

// recorder is a test receiver: it records requests and answers with what
// answer says (200 when nil).
type recorder struct {
	mu     sync.Mutex
	reqs   []received
	answer func(r *http.Request, body []byte) (int, http.Header)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	code, hdr := http.StatusOK, http.Header(nil)
	if rc.answer != nil {
		code, hdr = rc.answer(r, b)
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	rc.mu.Lock()
	if code/100 == 2 {
		rc.reqs = append(rc.reqs, received{at: time.Now(), header: r.Header.Clone(), body: b})
	}
	rc.mu.Unlock()
	w.WriteHeader(code)
}

// accepted returns the notifications acknowledged, in order.
func (rc *recorder) accepted(t *testing.T) []Notification {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []Notification
	for _, r := range rc.reqs {
		var n Notification
		if err := json.Unmarshal(r.body, &n); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
		out = append(out, n)
	}
	return out
}

func ids(ns []Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID+":"+n.Kind)
	}
	return out
}

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// webhookReceiver builds a webhook receiver posting to url with secret.
func webhookReceiver(t *testing.T, name, url, secret, ca string) Receiver {
	t.Helper()
	rs, err := NewReceivers([]ReceiverConfig{{Name: name, Type: TypeWebhook, URL: url, SecretFile: writeSecret(t, "secret", secret), TLSCA: ca}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

type testNotifier struct {
	*Notifier
	reg *prometheus.Registry
}

func newNotifier(t *testing.T, ob store.Outbox, clk func() time.Time, holder string, rs ...Receiver) testNotifier {
	t.Helper()
	if ob == nil {
		ob = memory.New()
	}
	reg := prometheus.NewRegistry()
	n, err := New(Config{Receivers: rs, Outbox: ob, MinSeverity: "medium", ResolveAfter: 30 * time.Minute, ExternalURL: "https://kaudit.example/",
		Holder: holder, LeaseTTL: 300 * time.Millisecond, Tick: 20 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk})
	if err != nil {
		t.Fatal(err)
	}
	return testNotifier{n, reg}
}

// metric reads a counter or gauge of one receiver.
func (tn testNotifier) metric(t *testing.T, name, receiver string) float64 {
	t.Helper()
	mfs, err := tn.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "receiver" && l.GetValue() == receiver {
					if m.Counter != nil {
						return m.Counter.GetValue()
					}
					return m.Gauge.GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{receiver=%q} not found", name, receiver)
	return 0
}

func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not the case after %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs the notifier until the test ends.
func (tn testNotifier) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tn.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
