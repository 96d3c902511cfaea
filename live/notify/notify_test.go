package notify

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// An incident notifies when it opens at or above min_severity, rises in
// severity, gains a tactic or an identity, resolves after resolve_after of
// quiet, and goes on after that; nothing else sends anything.
func TestStateMachine(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	clk := newClock()
	n := newNotifier(t, nil, clk.Now, "a", webhookReceiver(t, "hook", srv.URL, "s3cret", ""))
	ctx := context.Background()
	t0 := clk.Now().Add(-time.Minute)
	step := func(incs ...incident.Incident) {
		n.Observe(incs)
		n.step(ctx)
	}
	step(inc("inc-1", "low", t0, t0, []string{"Discovery"}, []string{"mallory"}))
	if got := rec.accepted(t); len(got) != 0 {
		t.Fatalf("a low incident under min_severity medium notified: %v", ids(got))
	}
	i1 := inc("inc-1", "medium", t0, t0.Add(time.Second), []string{"Discovery"}, []string{"mallory"})
	step(i1)
	step(i1) // nothing changed: nothing sent
	i1 = inc("inc-1", "high", t0, t0.Add(2*time.Second), []string{"Discovery", "Persistence"}, []string{"mallory"})
	step(i1)
	i1 = inc("inc-1", "high", t0, t0.Add(3*time.Second), []string{"Discovery", "Persistence"}, []string{"mallory", "system:serviceaccount:default:backdoor"})
	step(i1)
	// A quiet, low incident and an old one never open.
	old := inc("inc-old", "critical", t0.Add(-2*time.Hour), t0.Add(-time.Hour), []string{"Impact"}, []string{"eve"})
	step(i1, old)
	clk.Add(31 * time.Minute)
	step(i1, old)
	step(i1, old)
	i1 = inc("inc-1", "high", t0, clk.Now(), []string{"Discovery", "Persistence"}, []string{"mallory", "system:serviceaccount:default:backdoor"})
	step(i1, old)

	got := rec.accepted(t)
	want := []string{"inc-1-1:opened", "inc-1-2:escalated", "inc-1-3:updated", "inc-1-4:resolved", "inc-1-5:reopened"}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("notifications %v, want %v", ids(got), want)
	}
	if r := got[1].Reasons; !slices.Equal(r, []string{"severity medium -> high", "new tactic Persistence"}) {
		t.Fatalf("escalation reasons %q", r)
	}
	if r := got[2].Reasons; !slices.Equal(r, []string{"new identity system:serviceaccount:default:backdoor"}) {
		t.Fatalf("update reasons %q", r)
	}
	s := got[0].Incident
	if s.ID != "inc-1" || s.Severity != "medium" || s.URL != "https://kaudit.example/#/incidents/inc-1" || s.Status != "open" ||
		!slices.Equal(s.Namespaces, []string{"default"}) || s.Start == "" || s.End == "" || got[3].Incident.Status != "resolved" {
		t.Fatalf("notification content: %+v / resolved %+v", s, got[3].Incident)
	}
	if n.metric(t, "kaudit_notify_sent_total", "hook") != 5 || n.metric(t, "kaudit_notify_pending", "hook") != 0 {
		t.Fatal("metrics do not count 5 sent, 0 pending")
	}
}

// verifier is the generic webhook's receiving end as the documentation
// (deploy/notify/README.md) tells its implementers: check the HMAC over
// timestamp and body, refuse a timestamp more than 5 minutes off and a
// signature seen before (a replay), and acknowledge a notification id seen
// before without acting on it again.
type verifier struct {
	secret []byte
	mu     sync.Mutex
	sigs   map[string]bool
	ids    map[string]int
	order  []string
	bad    int
}

func (v *verifier) answer(r *http.Request, body []byte) (int, http.Header) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ts, sig := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		v.bad++
		return http.StatusUnauthorized, nil
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(v.secret, ts, body))) {
		v.bad++
		return http.StatusUnauthorized, nil
	}
	if v.sigs[sig] {
		v.bad++
		return http.StatusConflict, nil // a replayed request
	}
	v.sigs[sig] = true
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil || n.ID != r.Header.Get(HeaderID) {
		return http.StatusBadRequest, nil
	}
	if v.ids[n.ID] == 0 {
		v.order = append(v.order, n.ID)
	}
	v.ids[n.ID]++
	return http.StatusOK, nil
}

func newVerifier(secret string) *verifier {
	return &verifier{secret: []byte(secret), sigs: map[string]bool{}, ids: map[string]int{}}
}

// caFile writes the test server's certificate as a CA file for tls_ca.
func caFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The generic webhook over HTTPS (server certificate checked against
// tls_ca): every notification verifies, a replay of a captured request and
// a forged body are refused, and a wrong secret is never acknowledged.
func TestWebhookSignedOverHTTPS(t *testing.T) {
	v := newVerifier("the-shared-secret")
	var mu sync.Mutex
	var captured []*http.Request
	var bodies [][]byte
	rec := &recorder{answer: func(r *http.Request, b []byte) (int, http.Header) {
		mu.Lock()
		captured, bodies = append(captured, r.Clone(context.Background())), append(bodies, b)
		mu.Unlock()
		return v.answer(r, b)
	}}
	srv := httptest.NewTLSServer(rec)
	defer srv.Close()
	ca := caFile(t, srv)
	n := newNotifier(t, nil, time.Now, "a", webhookReceiver(t, "hook", srv.URL, "the-shared-secret", ca))
	now := time.Now()
	n.Observe([]incident.Incident{inc("inc-a", "high", now, now, []string{"Credential Access"}, []string{"mallory"})})
	n.step(context.Background())
	if len(v.order) != 1 || v.bad != 0 {
		t.Fatalf("verified %v, refused %d", v.order, v.bad)
	}
	// An attacker replays the captured request, then forges its body.
	replay := func(body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(body)))
		req.Header = captured[0].Header.Clone()
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := replay(bodies[0]); code != http.StatusConflict {
		t.Fatalf("replayed request answered %d", code)
	}
	forged := strings.Replace(string(bodies[0]), `"high"`, `"low"`, 1)
	if code := replay([]byte(forged)); code != http.StatusUnauthorized {
		t.Fatalf("forged body answered %d", code)
	}
	// Without the CA the server's certificate is refused; with a wrong
	// secret the receiver refuses: neither is ever acknowledged.
	other := newNotifier(t, nil, time.Now, "b", webhookReceiver(t, "nocas", srv.URL, "the-shared-secret", ""), webhookReceiver(t, "wrong", srv.URL, "not-the-secret", ca))
	other.Observe([]incident.Incident{inc("inc-b", "high", now, now, []string{"Impact"}, []string{"eve"})})
	other.step(context.Background())
	if other.metric(t, "kaudit_notify_sent_total", "nocas") != 0 || other.metric(t, "kaudit_notify_failed_total", "nocas") != 1 ||
		other.metric(t, "kaudit_notify_failed_total", "wrong") != 1 || other.metric(t, "kaudit_notify_pending", "wrong") != 1 {
		t.Fatal("a receiver whose certificate or secret is wrong should count one failure and one pending")
	}
}

// A Slack-shaped endpoint gets Block Kit blocks and a text that stands on
// its own; the URL, a secret, comes from url_file.
func TestSlackIncomingWebhook(t *testing.T) {
	var got map[string]any
	rec := &recorder{answer: func(r *http.Request, b []byte) (int, http.Header) {
		if r.URL.Path != "/services/T000/B000/XXXX" || r.Header.Get("Content-Type") != "application/json" {
			return http.StatusNotFound, nil
		}
		if err := json.Unmarshal(b, &got); err != nil {
			return http.StatusBadRequest, nil
		}
		return http.StatusOK, nil
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	rs, err := NewReceivers([]ReceiverConfig{{Name: "chat", Type: TypeSlack, URLFile: writeSecret(t, "slack.url", srv.URL+"/services/T000/B000/XXXX")}}, "")
	if err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, nil, time.Now, "a", rs...)
	now := time.Now()
	n.Observe([]incident.Incident{inc("inc-s", "critical", now, now, []string{"Privilege Escalation"}, []string{"mallory"})})
	n.step(context.Background())
	if got == nil {
		t.Fatal("nothing reached the Slack endpoint")
	}
	text, _ := got["text"].(string)
	blocks, _ := got["blocks"].([]any)
	if !strings.Contains(text, "inc-s") || !strings.Contains(text, "CRITICAL") || !strings.Contains(text, "mallory") || !strings.Contains(text, "https://kaudit.example/#/incidents/inc-s") {
		t.Fatalf("text: %q", text)
	}
	var types []string
	for _, b := range blocks {
		types = append(types, b.(map[string]any)["type"].(string))
	}
	if !slices.Equal(types, []string{"header", "section", "section", "context", "actions"}) {
		t.Fatalf("block types %v", types)
	}
}

// A receiver that is down gets, once it is back, every notification in the
// order decided, and none it acknowledged twice.
func TestReceiverDownThenUp(t *testing.T) {
	v := newVerifier("k")
	rec := &recorder{answer: v.answer}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: rec}
	go func() { _ = srv.Serve(ln) }()
	n := newNotifier(t, nil, time.Now, "a", webhookReceiver(t, "hook", "http://"+addr, "k", ""))
	now := time.Now()
	incs := []incident.Incident{inc("inc-1", "high", now, now, []string{"Execution"}, []string{"a"})}
	n.Observe(incs)
	n.step(context.Background())
	srv.Close() // down
	for i := 2; i <= 4; i++ {
		incs = append(incs, inc("inc-"+strconv.Itoa(i), "high", now, now, []string{"Execution"}, []string{"a"}))
		n.Observe(incs)
		n.step(context.Background())
	}
	if n.metric(t, "kaudit_notify_pending", "hook") != 3 || n.metric(t, "kaudit_notify_failed_total", "hook") < 1 {
		t.Fatal("3 notifications should be pending after a failure")
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv2 := &http.Server{Handler: rec}
	go func() { _ = srv2.Serve(ln2) }()
	defer srv2.Close()
	n.run(t)
	eventually(t, 10*time.Second, "all delivered", func() bool { v.mu.Lock(); defer v.mu.Unlock(); return len(v.order) == 4 })
	time.Sleep(200 * time.Millisecond)
	v.mu.Lock()
	defer v.mu.Unlock()
	if !slices.Equal(v.order, []string{"inc-1-1", "inc-2-1", "inc-3-1", "inc-4-1"}) {
		t.Fatalf("order %v", v.order)
	}
	for id, c := range v.ids {
		if c != 1 {
			t.Fatalf("%s delivered %d times", id, c)
		}
	}
}

// A receiver answering 429 with Retry-After is not tried again before it.
func TestRetryAfterHonoured(t *testing.T) {
	var mu sync.Mutex
	var tries []time.Time
	rec := &recorder{answer: func(*http.Request, []byte) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		tries = append(tries, time.Now())
		if len(tries) == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}
		}
		return http.StatusOK, nil
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := newNotifier(t, nil, time.Now, "a", webhookReceiver(t, "hook", srv.URL, "k", ""))
	now := time.Now()
	n.Observe([]incident.Incident{inc("inc-r", "high", now, now, []string{"Impact"}, []string{"a"})})
	n.run(t)
	eventually(t, 10*time.Second, "delivered after the 429", func() bool { return len(rec.accepted(t)) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(tries) != 2 {
		t.Fatalf("%d attempts, want 2 (backoff is 50 ms, Retry-After 2 s)", len(tries))
	}
	if gap := tries[1].Sub(tries[0]); gap < 2*time.Second {
		t.Fatalf("retried %s after a 429 with Retry-After: 2", gap)
	}
}

// A process that dies with notifications pending leaves them in the
// outbox; the next one (after the lease lapses) delivers them under the
// same ids, and not what was acknowledged before.
func TestRestartResumesFromOutbox(t *testing.T) {
	up := true
	var mu sync.Mutex
	v := newVerifier("k")
	rec := &recorder{answer: func(r *http.Request, b []byte) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			return http.StatusServiceUnavailable, nil
		}
		return v.answer(r, b)
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	ob := memory.New()
	first := newNotifier(t, ob, time.Now, "first", webhookReceiver(t, "hook", srv.URL, "k", ""))
	now := time.Now()
	incs := []incident.Incident{inc("inc-1", "high", now, now, []string{"Execution"}, []string{"a"})}
	first.Observe(incs)
	first.step(context.Background())
	mu.Lock()
	up = false
	mu.Unlock()
	incs = append(incs, inc("inc-2", "critical", now, now, []string{"Impact"}, []string{"b"}))
	first.Observe(incs)
	first.step(context.Background())
	// first is gone (never stepped again); the next process starts.
	mu.Lock()
	up = true
	mu.Unlock()
	second := newNotifier(t, ob, time.Now, "second", webhookReceiver(t, "hook", srv.URL, "k", ""))
	second.Observe(incs)
	second.run(t)
	eventually(t, 10*time.Second, "inc-2 delivered by the second process", func() bool { v.mu.Lock(); defer v.mu.Unlock(); return v.ids["inc-2-1"] == 1 })
	time.Sleep(200 * time.Millisecond)
	v.mu.Lock()
	defer v.mu.Unlock()
	if !slices.Equal(v.order, []string{"inc-1-1", "inc-2-1"}) || v.ids["inc-1-1"] != 1 {
		t.Fatalf("delivered %v (%v)", v.order, v.ids)
	}
	ds, _ := ob.Deliveries(context.Background(), time.Time{})
	for _, d := range ds {
		if d.State != store.DeliverySent {
			t.Fatalf("delivery %s is %s", d.ID, d.State)
		}
	}
}

// Two processes on one outbox: one delivers, each notification once; when
// it stops, the other takes over.
func TestTwoReplicasOneOutbox(t *testing.T) {
	v := newVerifier("k")
	srv := httptest.NewServer(&recorder{answer: v.answer})
	defer srv.Close()
	ob := memory.New()
	a := newNotifier(t, ob, time.Now, "a", webhookReceiver(t, "hook", srv.URL, "k", ""))
	b := newNotifier(t, ob, time.Now, "b", webhookReceiver(t, "hook", srv.URL, "k", ""))
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { defer close(doneA); a.Run(ctxA) }()
	b.run(t)
	now := time.Now()
	var incs []incident.Incident
	for i := range 5 {
		incs = append(incs, inc("inc-"+strconv.Itoa(i), "high", now, now, []string{"Execution"}, []string{"a"}))
		a.Observe(incs)
		b.Observe(incs)
		time.Sleep(30 * time.Millisecond)
	}
	eventually(t, 10*time.Second, "5 delivered", func() bool { v.mu.Lock(); defer v.mu.Unlock(); return len(v.order) == 5 })
	stopA()
	<-doneA
	incs = append(incs, inc("inc-late", "high", now, now, []string{"Execution"}, []string{"a"}))
	b.Observe(incs)
	eventually(t, 10*time.Second, "the standby delivers after the lease lapsed", func() bool { v.mu.Lock(); defer v.mu.Unlock(); return len(v.order) == 6 })
	time.Sleep(200 * time.Millisecond)
	v.mu.Lock()
	defer v.mu.Unlock()
	for id, c := range v.ids {
		if c != 1 {
			t.Fatalf("%s delivered %d times", id, c)
		}
	}
}

// Configuration errors name the entry and key; secrets never come inline.
func TestDecodeReceiversErrors(t *testing.T) {
	cases := []struct {
		raw  any
		want string
	}{
		{[]any{map[string]any{"type": "pagerduty", "url": "http://x"}}, `receivers[0].type "pagerduty"`},
		{[]any{map[string]any{"type": "webhook", "url": "http://x", "secret": "hunter2"}}, "receivers[0].secret: secrets are read from files"},
		{[]any{map[string]any{"type": "webhook", "url": "http://x"}}, "receivers[0].secret_file is required"},
		{[]any{map[string]any{"type": "slack", "url": "https://hooks.slack.com/x"}}, "receivers[0].url: a Slack webhook URL is a secret"},
		{[]any{map[string]any{"type": "alertmanager", "url": "am:9093"}}, "receivers[0].url"},
		{[]any{map[string]any{"type": "alertmanager", "url": "http://am:9093", "min_severity": "urgent"}}, "receivers[0].min_severity"},
		{[]any{map[string]any{"type": "alertmanager", "url": "http://am:9093", "match": map[string]any{"tactic": "x"}}}, "receivers[0].match.tactic: unknown key"},
		{[]any{map[string]any{"type": "alertmanager", "url": "http://a"}, map[string]any{"type": "alertmanager", "url": "http://b", "name": "alertmanager-0"}}, `receivers[1].name: "alertmanager-0"`},
		{[]any{map[string]any{"type": "alertmanager", "url": "http://a", "urll": "x"}}, "receivers[0].urll: unknown key"},
	}
	for _, c := range cases {
		_, err := DecodeReceivers(c.raw)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want it to contain %q", c.raw, err, c.want)
		}
	}
	rs, err := DecodeReceivers([]any{map[string]any{"type": "alertmanager", "url": "http://am:9093", "min_severity": "HIGH",
		"match": map[string]any{"tactics": []any{"Persistence", "Privilege*"}, "namespaces": "kube-*"}}})
	if err != nil || rs[0].Name != "alertmanager-0" || rs[0].MinSeverity != "high" || len(rs[0].Match.Tactics) != 2 || rs[0].Match.Namespaces[0] != "kube-*" {
		t.Fatalf("%+v %v", rs, err)
	}
	if _, err := NewReceivers([]ReceiverConfig{{Name: "w", Type: TypeWebhook, URL: "http://x", SecretFile: "/nonexistent/secret"}}, ""); err == nil || !strings.Contains(err.Error(), "receivers[0].secret_file") {
		t.Fatalf("missing secret file: %v", err)
	}
}

// A receiver's min_severity and match narrow what it hears; resolved goes
// only to receivers that heard of the incident.
func TestReceiverFilters(t *testing.T) {
	b := base{minSeverity: "high", match: Match{Tactics: []string{"Privilege*"}, Namespaces: []string{"kube-*"}}}
	yes := Summary{Severity: "critical", Tactics: []string{"Discovery", "Privilege Escalation"}, Namespaces: []string{"kube-system"}}
	if !b.Wants(&yes) {
		t.Fatal("should match")
	}
	for _, s := range []Summary{
		{Severity: "medium", Tactics: yes.Tactics, Namespaces: yes.Namespaces},
		{Severity: "high", Tactics: []string{"Discovery"}, Namespaces: yes.Namespaces},
		{Severity: "high", Tactics: yes.Tactics, Namespaces: []string{"default"}},
	} {
		if b.Wants(&s) {
			t.Fatalf("%+v should not match", s)
		}
	}
}
