package main

import (
	"crypto/hmac"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
	"github.com/kaudit/kaudit/live/notify"
	"github.com/kaudit/kaudit/live/notify/amtest"
)

// hook is a generic-webhook receiver as deploy/notify/README.md tells
// implementers to write one: it checks the signature, refuses a stale
// timestamp or a signature seen before, and counts notifications by id.
type hook struct {
	secret []byte
	mu     sync.Mutex
	sigs   map[string]bool
	ids    map[string]int
	got    []notify.Notification
	bad    int
}

func newHook(secret string) *hook {
	return &hook{secret: []byte(secret), sigs: map[string]bool{}, ids: map[string]int{}}
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	ts, sig := r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute || !hmac.Equal([]byte(sig), []byte(notify.Sign(h.secret, ts, body))) {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if h.sigs[sig] {
		h.bad++
		w.WriteHeader(http.StatusConflict)
		return
	}
	h.sigs[sig] = true
	var n notify.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if h.ids[n.ID] == 0 {
		h.got = append(h.got, n)
	}
	h.ids[n.ID]++
	w.WriteHeader(http.StatusOK)
}

func (h *hook) received() ([]notify.Notification, map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := map[string]int{}
	for k, v := range h.ids {
		ids[k] = v
	}
	return append([]notify.Notification(nil), h.got...), ids
}

// serveHook serves h over TLS on addr with the test PKI's server
// certificate (127.0.0.1), until the test ends.
func serveHook(t *testing.T, pki *webhooktest.PKI, addr string, h http.Handler) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close() })
}

// freeAddr reserves a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// recentSample is the intrusion sample moved in time so that it ends now:
// serve notifies only incidents whose last finding is within
// notify.resolve_after.
func recentSample(t *testing.T) []*auditv1.Event {
	t.Helper()
	evs := webhooktest.Sample(t, sample)
	var last time.Time
	for _, ev := range evs {
		if ev.StageTimestamp.After(last) {
			last = ev.StageTimestamp.Time
		}
	}
	shift := time.Since(last)
	for _, ev := range evs {
		ev.RequestReceivedTimestamp = metav1.NewMicroTime(ev.RequestReceivedTimestamp.Add(shift))
		ev.StageTimestamp = metav1.NewMicroTime(ev.StageTimestamp.Add(shift))
	}
	return evs
}

func notifyYAML(e *serveEnv, addr, secretFile string) string {
	return fmt.Sprintf(`notify:
  min_severity: medium
  resolve_after: 30m
  external_url: https://kaudit.example:9443/
  receivers:
    - name: hook
      type: webhook
      url: https://%s/kaudit
      tls_ca: %s
      secret_file: %s
`, addr, e.pki.CAFile, secretFile)
}

// kaudit serve notifies mallory's incident to a webhook that is down;
// SIGKILLed with the notification pending, the next kaudit (whose
// correlation starts empty) delivers it from the outbox in ClickHouse once
// the webhook is up, under the same id, once.
func TestServeNotifyPendingSurvivesSIGKILL(t *testing.T) {
	e := newServeEnv(t, "serve_notify")
	secret := filepath.Join(e.dir, "hook.secret")
	writeFile(t, secret, "hook-secret\n")
	addr := freeAddr(t)
	e.extra = notifyYAML(e, addr, secret)
	p := e.start()
	send(t, e.pki.Kubeconfig(t, p.webhook, testWebhookToken, false), recentSample(t))
	eventually(t, 60*time.Second, "a notification pending for the webhook that is down", func() bool {
		return p.metric(`kaudit_notify_pending{receiver="hook"}`) >= 1 && p.metric(`kaudit_notify_failed_total{receiver="hook"}`) >= 1
	})
	if p.metric(`kaudit_notify_sent_total{receiver="hook"}`) != 0 || p.metric("kaudit_notify_leader") != 1 {
		t.Fatal("nothing should be sent yet, by the leader")
	}
	p.kill()

	h := newHook("hook-secret")
	serveHook(t, e.pki, addr, h)
	p2 := e.start()
	eventually(t, 90*time.Second, "the pending notification delivered after the restart", func() bool {
		got, _ := h.received()
		return len(got) >= 1
	})
	time.Sleep(2 * time.Second)
	got, ids := h.received()
	if len(got) != 1 || h.bad != 0 {
		t.Fatalf("webhook got %d notifications (%v), refused %d", len(got), ids, h.bad)
	}
	n := got[0]
	if ids[n.ID] != 1 || n.Kind != notify.KindOpened || (n.Incident.Severity != "high" && n.Incident.Severity != "critical") || !strings.HasSuffix(n.ID, "-1") ||
		!strings.Contains(strings.Join(n.Incident.Actors, ","), "mallory") || len(n.Incident.TopFindings) == 0 ||
		n.Incident.URL != "https://kaudit.example:9443/#/incidents/"+n.Incident.ID {
		t.Fatalf("notification %+v (ids %v)", n, ids)
	}
	if p2.metric(`kaudit_notify_sent_total{receiver="hook"}`) != 1 || p2.metric(`kaudit_notify_pending{receiver="hook"}`) != 0 {
		t.Fatal("the second kaudit should count 1 sent, 0 pending")
	}
	p2.stop()
}

// Two kaudit processes on one ClickHouse, each judging the same events
// (as Kafka consumers with kafka.facts_topic build the same incidents):
// one holds the outbox lease and delivers, each notification once.
func TestServeTwoReplicasNotifyOnce(t *testing.T) {
	e1 := newServeEnv(t, "serve_notify_replicas")
	secret := filepath.Join(e1.dir, "hook.secret")
	writeFile(t, secret, "hook-secret\n")
	h := newHook("hook-secret")
	addr := freeAddr(t)
	serveHook(t, e1.pki, addr, h)
	e1.extra = notifyYAML(e1, addr, secret)
	e2 := &serveEnv{t: t, pki: e1.pki, dir: t.TempDir(), ch: e1.ch, db: e1.db}
	e2.spoolDir = filepath.Join(e2.dir, "spool")
	writeFile(t, filepath.Join(e2.dir, "webhook.tokens"), testWebhookToken+"\n")
	writeFile(t, filepath.Join(e2.dir, "api.tokens"), testAnalystToken+"\n")
	e2.extra = e1.extra
	p1, p2 := e1.start(), e2.start()
	evs := recentSample(t)
	send(t, e1.pki.Kubeconfig(t, p1.webhook, testWebhookToken, false), evs)
	send(t, e2.pki.Kubeconfig(t, p2.webhook, testWebhookToken, false), evs)
	eventually(t, 60*time.Second, "mallory's incident notified", func() bool { got, _ := h.received(); return len(got) >= 1 })
	time.Sleep(6 * time.Second) // both publishers ran a few times since
	got, ids := h.received()
	for id, c := range ids {
		if c != 1 {
			t.Fatalf("%s delivered %d times", id, c)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d notifications, want 1: %v", len(got), ids)
	}
	if l := p1.metric("kaudit_notify_leader") + p2.metric("kaudit_notify_leader"); l != 1 {
		t.Fatalf("%v processes hold the lease", l)
	}
	p1.stop()
	p2.stop()
}

// `kaudit replay --notify` sends what a forensic run found, once; without
// receivers it is a usage error.
func TestReplayNotify(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var slackBodies []map[string]any
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		slackBodies = append(slackBodies, m)
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	defer slack.Close()
	writeFile(t, filepath.Join(dir, "slack.url"), slack.URL+"/services/T/B/X\n")
	cfg := filepath.Join(dir, "kaudit.yaml")
	writeFile(t, cfg, fmt.Sprintf(`notify:
  min_severity: low
  receivers:
    - name: chat
      type: slack
      url_file: %s
      min_severity: high
`, filepath.Join(dir, "slack.url")))
	code, _, stderr := kaudit(t, "", "replay", "--config", cfg, "--notify", sample)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slackBodies) != 1 {
		t.Fatalf("slack got %d messages, want 1 (only mallory's incident is high or above): %s", len(slackBodies), stderr)
	}
	if text, _ := slackBodies[0]["text"].(string); !strings.Contains(text, " opened [") || !strings.Contains(text, "mallory") {
		t.Fatalf("text %q", text)
	}
	code, _, stderr = kaudit(t, "", "replay", "--notify", sample)
	if code != exitUsage || !strings.Contains(stderr, "notify.receivers") {
		t.Fatalf("--notify without receivers: exit %d %q", code, stderr)
	}
}

// `kaudit notify test` sends a synthetic incident to every receiver (a
// real Alertmanager, a signed HTTPS webhook, a Slack endpoint) and reports
// each answer; a receiver that is down fails the command, naming it.
func TestNotifyTestCommand(t *testing.T) {
	dir := t.TempDir()
	pki := webhooktest.NewPKI(t)
	inbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer inbox.Close()
	am := amtest.Start(t, amtest.Options{WebhookURL: inbox.URL})
	h := newHook("s")
	hookAddr := freeAddr(t)
	serveHook(t, pki, hookAddr, h)
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer slack.Close()
	writeFile(t, filepath.Join(dir, "secret"), "s\n")
	writeFile(t, filepath.Join(dir, "slack.url"), slack.URL+"\n")
	receivers := fmt.Sprintf(`    - {name: am, type: alertmanager, url: %s}
    - {name: soc, type: webhook, url: "https://%s/", tls_ca: %s, secret_file: %s}
    - {name: chat, type: slack, url_file: %s}
`, am.URL, hookAddr, pki.CAFile, filepath.Join(dir, "secret"), filepath.Join(dir, "slack.url"))
	cfg := filepath.Join(dir, "ok.yaml")
	writeFile(t, cfg, "notify:\n  receivers:\n"+receivers)
	code, stdout, stderr := kaudit(t, "", "notify", "test", "--config", cfg)
	if code != exitOK || strings.Count(stdout, " ok ") != 3 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	alerts := am.Alerts(t)
	if len(alerts) != 1 || alerts[0].Labels["alertname"] != notify.AlertName || alerts[0].Labels["severity"] != "info" {
		t.Fatalf("alertmanager holds %+v", alerts)
	}
	if got, _ := h.received(); len(got) != 1 || got[0].Kind != notify.KindTest {
		t.Fatalf("webhook got %+v", got)
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "notify:\n  receivers:\n"+receivers+fmt.Sprintf("    - {name: down, type: alertmanager, url: http://%s}\n", freeAddr(t)))
	code, stdout, _ = kaudit(t, "", "notify", "test", "--config", bad)
	if code != exitInput || !strings.Contains(stdout, "down") || !strings.Contains(stdout, "FAILED") {
		t.Fatalf("a receiver down: exit %d\n%s", code, stdout)
	}
}

// Bad notify settings stop the start with a usage error naming the key,
// and secrets are refused anywhere but in files.
func TestNotifyConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret"), "s\n")
	ok := "    - {type: webhook, url: https://h.example/, secret_file: " + filepath.Join(dir, "secret") + "}\n"
	cases := []struct{ yaml, key string }{
		{"notify:\n  receivers:\n    - {type: webhook, url: https://h.example/, secret: hunter2}\n", "notify.receivers[0].secret"},
		{"notify:\n  receivers:\n    - {type: webhook, url: https://h.example/, secret_file: /nonexistent}\n", "notify.receivers[0].secret_file"},
		{"notify:\n  receivers:\n    - {type: slack, url: https://hooks.slack.com/services/x}\n", "notify.receivers[0].url"},
		{"notify:\n  receivers:\n    - {type: opsgenie, url: https://h.example/}\n", "notify.receivers[0].type"},
		{"notify:\n  receivers:\n    - {type: alertmanager, url: http://am:9093, tls_ca: /nonexistent}\n", "notify.receivers[0].tls_ca"},
		{"notify:\n  min_severity: urgent\n  receivers:\n" + ok, "notify.min_severity"},
		{"notify:\n  resolve_after: soon\n  receivers:\n" + ok, "notify.resolve_after"},
		{"notify:\n  external_url: kaudit.example\n  receivers:\n" + ok, "notify.external_url"},
		{"notify:\n  receivers: {type: webhook}\n", "notify.receivers"},
	}
	for i, c := range cases {
		cfg := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
		writeFile(t, cfg, c.yaml)
		code, _, stderr := kaudit(t, "", "notify", "test", "--config", cfg)
		if code != exitUsage || !strings.Contains(stderr, c.key) {
			t.Errorf("%q: exit %d, stderr %q: want a usage error naming %s", c.yaml, code, stderr, c.key)
		}
	}
	// serve checks them before it opens anything.
	pki := webhooktest.NewPKI(t)
	writeFile(t, filepath.Join(dir, "api.tokens"), "analyst\n")
	writeFile(t, filepath.Join(dir, "wh.tokens"), "apiserver\n")
	cfg := filepath.Join(dir, "serve.yaml")
	writeFile(t, cfg, fmt.Sprintf(`webhook: {listen: "127.0.0.1:0", tls: {cert: %s, key: %s}, tokens_file: %s}
api: {listen: "127.0.0.1:0", tokens_file: %s}
store: {dsn: "memory://"}
spool: {dir: %s}
notify:
  receivers:
    - {type: webhook, url: https://h.example/, token: abc, secret_file: %s}
`, pki.ServerCert, pki.ServerKey, filepath.Join(dir, "wh.tokens"), filepath.Join(dir, "api.tokens"), filepath.Join(dir, "spool"), filepath.Join(dir, "secret")))
	code, _, stderr := kaudit(t, "", "serve", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, "notify.receivers[0].token") || !strings.Contains(stderr, "token_file") {
		t.Fatalf("serve: exit %d %q", code, stderr)
	}
}
