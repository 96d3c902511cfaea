package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
)

// retryBase is the apiserver client's first retry delay in these tests
// (10 s in kube-apiserver): short, so that a retried batch does not take
// the test minutes.
const retryBase = 200 * time.Millisecond

// apiserverRetryBase is kube-apiserver's own first retry delay
// (--audit-webhook-initial-backoff), for the tests that keep the spool
// full while the store is away. Each of the client's five tries of a
// refused batch lasts up to its 30 s timeout, spent waiting out
// Retry-After. With this delay between the tries the client holds a batch
// for about four minutes before giving it up, as in a cluster; with
// retryBase, for two and a half (measured: 3 min 60 s and 2 min 31 s),
// which a slow machine can take to bring a ClickHouse shard back and
// drain the spool.
const apiserverRetryBase = 10 * time.Second

// send posts events through the apiserver's own webhook client and returns
// once every batch was acknowledged.
func send(t *testing.T, kubeconfig string, evs []*auditv1.Event) {
	t.Helper()
	as := webhooktest.NewApiserver(t, kubeconfig, retryBase)
	as.Send(t, evs)
	delivered(t, as)
}

// delivered shuts the apiserver's client down, once every batch was
// answered, and fails the test if it gave up on any: kaudit told it to
// come back later for longer than its retries last.
func delivered(t *testing.T, as *webhooktest.Apiserver) {
	t.Helper()
	as.Shutdown()
	if n := as.Dropped(); n > 0 {
		t.Fatalf("the apiserver gave up on %d events: their batches were refused for longer than its retries last", n)
	}
}

func assertStoredOnce(t *testing.T, e *serveEnv, want int) {
	t.Helper()
	rows, ids := e.stored()
	if rows != want || ids != want {
		t.Fatalf("ClickHouse holds %d rows, %d distinct (audit_id, stage); want exactly %d of each", rows, ids, want)
	}
}

// The apiserver's client (token, then client certificate) delivers the
// real intrusion log; every event is stored once, the mallory incident
// shows on the query API, and the bad inputs get their answers.
func TestServeApiserverWebhook(t *testing.T) {
	e := newServeEnv(t, "serve_webhook")
	e.maxBody = "1Mi"
	p := e.start()
	evs := webhooktest.Sample(t, sample)

	send(t, e.pki.Kubeconfig(t, p.webhook, testWebhookToken, false), evs[:700])
	send(t, e.pki.Kubeconfig(t, p.webhook, "", true), evs[700:])
	// Stored directly, or spooled if ClickHouse was slow to open: either
	// way in ClickHouse once the spool is empty.
	eventually(t, 90*time.Second, "spool empty", func() bool { return p.metric("kaudit_spool_entries") == 0 })
	assertStoredOnce(t, e, len(evs))
	if got := p.metric("kaudit_events_stored_total"); int(got) < len(evs) {
		t.Fatalf("kaudit_events_stored_total %v, want at least %d", got, len(evs))
	}
	if got := p.metric("kaudit_webhook_events_received_total"); int(got) != len(evs) {
		t.Fatalf("kaudit_webhook_events_received_total %v", got)
	}

	// The incident arrives on the query API (the publisher runs every 2 s).
	var incID string
	eventually(t, 60*time.Second, "mallory's incident on /api/v1/incidents", func() bool {
		code, body := p.get("/api/v1/incidents", testAnalystToken)
		if code != http.StatusOK {
			t.Fatalf("/api/v1/incidents: %d %s", code, body)
		}
		var r struct {
			Incidents []struct {
				ID     string   `json:"id"`
				Actors []string `json:"actors"`
			} `json:"incidents"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("incidents JSON: %v", err)
		}
		for _, inc := range r.Incidents {
			if strings.Contains(strings.Join(inc.Actors, ","), "mallory") {
				incID = inc.ID
				return true
			}
		}
		return false
	})
	if code, body := p.get("/api/v1/incidents/"+incID, testAnalystToken); code != http.StatusOK || !bytes.Contains(body, []byte("mallory")) {
		t.Fatalf("/api/v1/incidents/%s: %d %s", incID, code, body)
	}

	// /metrics shows what detection found only with a token: without one,
	// an attacker cannot tell whether a request of theirs tripped a rule.
	code, public := p.get("/metrics", "")
	if code != http.StatusOK || !bytes.Contains(public, []byte("kaudit_webhook_events_received_total")) {
		t.Fatalf("/metrics without a token: %d", code)
	}
	for _, hidden := range []string{"kaudit_findings_total", "kaudit_correlator_findings", "cluster-admin-binding"} {
		if bytes.Contains(public, []byte(hidden)) {
			t.Errorf("/metrics without a token shows %s", hidden)
		}
	}
	if code, all := p.get("/metrics", testAnalystToken); code != http.StatusOK || !bytes.Contains(all, []byte(`kaudit_findings_total{rule="cluster-admin-binding"} 1`)) {
		t.Fatalf("/metrics with the analyst's token: %d, lacks the findings by rule", code)
	}
	if code, _ := p.get("/metrics", "wrong-token"); code != http.StatusUnauthorized {
		t.Fatalf("/metrics with a wrong token: %d", code)
	}

	// Tokens do not cross: the webhook's never opens the query API, the
	// analyst's never posts events, and no token gets nothing.
	if code, _ := p.get("/api/v1/incidents", testWebhookToken); code != http.StatusUnauthorized {
		t.Fatalf("webhook token on the query API: %d", code)
	}
	if code, _ := p.get("/api/v1/timeline?actor=mallory", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token on the query API: %d", code)
	}
	one, _ := json.Marshal(evs[0])
	for _, tok := range []string{"", "wrong-token", testAnalystToken} {
		if code, _, body := p.post(one, tok, nil); code != http.StatusUnauthorized || !json.Valid(body) {
			t.Fatalf("webhook with token %q: %d %s", tok, code, body)
		}
	}

	// Bad input never costs the good events beside it.
	code, _, body := p.post([]byte(`{"kind":"EventList","items":[{"auditID":"x",`), testWebhookToken, nil)
	if code != http.StatusBadRequest || !bytes.Contains(body, []byte("malformed JSON")) {
		t.Fatalf("malformed JSON: %d %s", code, body)
	}
	items := make([]json.RawMessage, 0, 4)
	for i := 0; i < 3; i++ {
		ev := evs[i].DeepCopy()
		ev.AuditID = types.UID(fmt.Sprintf("fresh-%d", i))
		b, _ := json.Marshal(ev)
		items = append(items, b)
	}
	items = append(items[:1], append([]json.RawMessage{json.RawMessage(`{"stage":"ResponseComplete"}`)}, items[1:]...)...)
	list, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
	code, _, body = p.post(list, testWebhookToken, nil)
	var resp struct {
		Accepted int `json:"accepted"`
		Rejected []struct {
			Index  int    `json:"index"`
			Reason string `json:"reason"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || code != http.StatusOK || resp.Accepted != 3 || len(resp.Rejected) != 1 || resp.Rejected[0].Index != 1 {
		t.Fatalf("a list with one bad item: %d %s", code, body)
	}
	// Acknowledged from the spool; in ClickHouse after the next flush.
	eventually(t, 60*time.Second, "spool flushed", func() bool { return p.metric("kaudit_spool_entries") == 0 })
	assertStoredOnce(t, e, len(evs)+3)

	big := bytes.Repeat([]byte(" "), 2<<20)
	if code, _, body := p.post(big, testWebhookToken, nil); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s", code, body)
	}
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
	zw.Write([]byte(`{"kind":"EventList","items":[`))
	zw.Write(bytes.Repeat([]byte(" "), 200<<20))
	zw.Close()
	if code, _, body := p.post(zb.Bytes(), testWebhookToken, map[string]string{"Content-Encoding": "gzip"}); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("gzip bomb of %d bytes: %d %s", zb.Len(), code, body)
	}
	for reason, want := range map[string]float64{"unauthenticated": 3, "malformed": 1, "bad_item": 1, "too_large": 1, "decompressed_too_large": 1} {
		if got := p.metric(`kaudit_webhook_rejected_total{reason="` + reason + `"}`); got != want {
			t.Errorf("rejected{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	logs := p.logs.String()
	if strings.Contains(logs, testWebhookToken) || strings.Contains(logs, testAnalystToken) || strings.Contains(logs, "wrong-token") {
		t.Fatal("a token appears in the log")
	}
	p.stop()
	assertStoredOnce(t, e, len(evs)+3)
}

// ClickHouse stops while batches arrive: they are acknowledged from the
// spool and written into ClickHouse once it is back, each event stored
// once. On the write-ahead path (the default) every batch goes through the
// spool; with spool.ack_from_spool false, only those the store could not
// take.
func TestServeClickHouseStoppedAndRestarted(t *testing.T) {
	for _, wal := range []bool{true, false} {
		t.Run(fmt.Sprintf("ack_from_spool=%v", wal), func(t *testing.T) {
			e := newServeEnv(t, "serve_chdown")
			e.spoolExtra = fmt.Sprintf("  ack_from_spool: %v\n", wal)
			p := e.start()
			evs := webhooktest.Sample(t, sample)
			kc := e.pki.Kubeconfig(t, p.webhook, testWebhookToken, false)

			send(t, kc, evs[:400])
			eventually(t, 60*time.Second, "the first batches in ClickHouse", func() bool { return p.metric("kaudit_spool_entries") == 0 })
			if err := e.ch.Stop(); err != nil {
				t.Fatal(err)
			}
			send(t, kc, evs[400:])
			want := len(evs) - 400
			if wal {
				want = len(evs)
			}
			if got := p.metric("kaudit_events_spooled_total"); int(got) != want {
				t.Fatalf("spooled %v events, want %d", got, want)
			}
			if code, body := p.get("/readyz", ""); code != http.StatusOK {
				t.Fatalf("/readyz with the store down and room in the spool: %d %s", code, body)
			}
			if lag := p.metric("kaudit_store_lag_seconds"); lag <= 0 {
				t.Fatalf("kaudit_store_lag_seconds %v with acknowledged batches not in the store", lag)
			}
			if err := e.ch.Restart(); err != nil {
				t.Fatal(err)
			}
			eventually(t, 90*time.Second, "spool drained", func() bool { return p.metric("kaudit_spool_entries") == 0 })
			assertStoredOnce(t, e, len(evs))
			if got := p.metric("kaudit_store_up"); got != 1 {
				t.Fatalf("kaudit_store_up %v after the drain", got)
			}
			if lag := p.metric("kaudit_store_lag_seconds"); lag != 0 {
				t.Fatalf("kaudit_store_lag_seconds %v with the spool empty", lag)
			}
			p.stop()
		})
	}
}

// Acknowledged means fsynced to the spool, not yet in ClickHouse: kaudit
// is SIGKILLed while ClickHouse is up but before the flusher wrote
// anything (a flush interval of an hour), and the restarted kaudit writes
// every acknowledged event, once.
func TestServeSIGKILLBeforeFlush(t *testing.T) {
	e := newServeEnv(t, "serve_kill_wal")
	e.spoolExtra = "  flush_interval: 1h\n"
	p := e.start()
	evs := webhooktest.Sample(t, sample)
	send(t, e.pki.Kubeconfig(t, p.webhook, testWebhookToken, false), evs)
	if got := p.metric("kaudit_webhook_events_received_total"); int(got) != len(evs) {
		t.Fatalf("received %v events, want %d", got, len(evs))
	}
	if rows, _ := e.stored(); rows != 0 {
		t.Fatalf("ClickHouse holds %d events before the first flush: the acknowledgement did not come from the spool", rows)
	}
	if got := p.metric("kaudit_spool_entries"); got == 0 {
		t.Fatal("acknowledged batches are not in the spool")
	}
	p.kill()
	e.spoolExtra = "  flush_interval: 100ms\n"
	p2 := e.start()
	eventually(t, 90*time.Second, "spool of the killed process flushed", func() bool { return p2.metric("kaudit_spool_entries") == 0 })
	assertStoredOnce(t, e, len(evs))
	p2.stop()
}

// kaudit is SIGKILLed right after it acknowledged batches that only the
// spool holds; restarted on the same spool, it stores every one once.
func TestServeSIGKILLAfterAck(t *testing.T) {
	e := newServeEnv(t, "serve_kill")
	p := e.start()
	evs := webhooktest.Sample(t, sample)
	if err := e.ch.Stop(); err != nil { // acknowledged batches live only in the spool
		t.Fatal(err)
	}
	send(t, e.pki.Kubeconfig(t, p.webhook, testWebhookToken, false), evs)
	if got := p.metric("kaudit_events_spooled_total"); int(got) != len(evs) {
		t.Fatalf("spooled %v, want %d acknowledged", got, len(evs))
	}
	p.kill()
	if err := e.ch.Restart(); err != nil {
		t.Fatal(err)
	}
	p2 := e.start()
	eventually(t, 90*time.Second, "spool of the killed process drained", func() bool { return p2.metric("kaudit_spool_entries") == 0 })
	assertStoredOnce(t, e, len(evs))
	p2.stop()
}

// With ClickHouse down and the spool at spool.max_bytes, batches get 429
// with Retry-After and /readyz fails; the apiserver's client waits and
// retries, and once ClickHouse is back everything is stored once.
func TestServeSpoolFull(t *testing.T) {
	e := newServeEnv(t, "serve_full")
	e.spoolMax, e.maxBody = "800Ki", "800Ki" // a body of 400 sample events fits
	p := e.start()
	evs := fillingSample(t)
	if err := e.ch.Stop(); err != nil {
		t.Fatal(err)
	}
	as := webhooktest.NewApiserver(t, e.pki.Kubeconfig(t, p.webhook, testWebhookToken, false), apiserverRetryBase)
	as.Send(t, evs)
	eventually(t, 60*time.Second, "a batch refused for a full spool", func() bool {
		return p.metric(`kaudit_webhook_rejected_total{reason="spool_full"}`) >= 1
	})
	if code, body := p.get("/readyz", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the store down and the spool full: %d %s", code, body)
	}
	one, _ := json.Marshal(evs[0])
	code, hdr, body := p.post(one, testWebhookToken, nil)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("post to a full spool: %d Retry-After %q %s", code, hdr.Get("Retry-After"), body)
	}
	if !strings.Contains(p.logs.String(), "spool full") {
		t.Fatal("a full spool is not logged")
	}
	if err := e.ch.Restart(); err != nil {
		t.Fatal(err)
	}
	delivered(t, as) // the client's retries, honouring Retry-After, now succeed
	eventually(t, 90*time.Second, "spool drained", func() bool { return p.metric("kaudit_spool_entries") == 0 })
	assertStoredOnce(t, e, len(evs))
	p.stop()
}

// SIGTERM while batches are in flight: every batch kaudit acknowledged is
// stored, and kaudit exits cleanly.
func TestServeSIGTERMDrainsInFlight(t *testing.T) {
	e := newServeEnv(t, "serve_sigterm")
	p := e.start()
	evs := webhooktest.Sample(t, sample)
	// Bodies of 200 events with audit IDs of their own, so that each
	// acknowledged request adds exactly 200 identities.
	body := func(n int) []byte {
		items := make([]*auditv1.Event, 0, 200)
		for i := 0; i < 200; i++ {
			ev := evs[(n*200+i)%len(evs)].DeepCopy()
			ev.AuditID = types.UID(fmt.Sprintf("sigterm-%04d-%03d", n, i))
			items = append(items, ev)
		}
		b, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
		return b
	}
	type result struct{ acked int }
	results := make(chan result, 64)
	started := make(chan struct{}, 64)
	for s := 0; s < 8; s++ {
		go func(s int) {
			acked := 0
			defer func() { results <- result{acked} }()
			for i := 0; ; i++ {
				req, _ := http.NewRequest(http.MethodPost, p.webhook, bytes.NewReader(body(s*1000+i)))
				req.Header.Set("Authorization", "Bearer "+testWebhookToken)
				started <- struct{}{}
				resp, err := p.client.Do(req)
				if err != nil {
					return // kaudit is gone
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return
				}
				acked += 200
			}
		}(s)
	}
	for i := 0; i < 40; i++ { // let batches flow, then stop mid-stream
		<-started
	}
	p.stop()
	acked := 0
	for s := 0; s < 8; s++ {
		acked += (<-results).acked
	}
	if acked == 0 {
		t.Fatal("no batch was acknowledged before SIGTERM")
	}
	if !strings.Contains(p.logs.String(), "waiting for batches in flight") {
		t.Fatal("shutdown not logged")
	}
	// Acknowledged batches are in ClickHouse, or in the spool for the next
	// start: start again and let it drain, then count.
	p2 := e.start()
	eventually(t, 90*time.Second, "spool empty", func() bool { return p2.metric("kaudit_spool_entries") == 0 })
	if _, ids := e.stored(); ids < acked {
		t.Fatalf("%d events acknowledged before SIGTERM, %d stored", acked, ids)
	}
	p2.stop()
}
