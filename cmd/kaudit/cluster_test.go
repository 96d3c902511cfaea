package main

// kaudit on a ClickHouse cluster (store.cluster): ZooKeeper and four
// clickhouse-server 18.16.1, two shards of two replicas (chtest.Cluster),
// each test with a cluster of its own.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

// newClusterServeEnv is newServeEnv with a ClickHouse cluster for the
// store.
func newClusterServeEnv(t *testing.T, db string) *serveEnv {
	t.Helper()
	e := &serveEnv{t: t, pki: webhooktest.NewPKI(t), dir: t.TempDir(), db: db}
	e.spoolDir = filepath.Join(e.dir, "spool")
	writeFile(t, filepath.Join(e.dir, "webhook.tokens"), testWebhookToken+"\n")
	writeFile(t, filepath.Join(e.dir, "api.tokens"), testAnalystToken+"\n")
	start := time.Now()
	e.cl = chtest.StartCluster(t)
	t.Logf("cluster started in %s", time.Since(start).Round(time.Millisecond))
	return e
}

// replicasAgree checks that the replicas of each shard hold the same
// events, once merged.
func replicasAgree(t *testing.T, c *chtest.Cluster, db string) {
	t.Helper()
	if err := c.SyncReplicas(db); err != nil {
		t.Fatal(err)
	}
	for sh := 1; sh <= len(c.Nodes)/c.Replicas; sh++ {
		var got []string
		for _, n := range c.Shard(sh) {
			out, err := n.Query(fmt.Sprintf("SELECT count(), uniqExact(audit_id, stage) FROM %s.events_local FINAL", db))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, strings.Join(strings.Fields(out), " "))
		}
		if got[0] != got[1] {
			t.Fatalf("shard %d: the replicas hold %v events (rows, identities)", sh, got)
		}
	}
}

// replay --store of every sample into the cluster: timelines (whole, and
// each of the first actors'), incidents and an incident's detail read from
// the cluster are byte for byte those read from the file.
func TestClusterReplayStoreTimelinesEqualFiles(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	c := chtest.StartCluster(t)
	t.Setenv("KAUDIT_STORE_CLUSTER", c.Name)
	samples, err := filepath.Glob("../../testdata/apiserver-*.log")
	if err != nil || len(samples) < 4 {
		t.Fatalf("samples: %v, %v", samples, err)
	}
	for i, path := range samples {
		t.Run(filepath.Base(path), func(t *testing.T) {
			dsn := c.DSNFrom(i, fmt.Sprintf("replay_%d", i)) // each through another node
			if code, _, stderr := kaudit(t, "", "replay", "--store", dsn, path); code != 0 {
				t.Fatalf("replay --store: exit %d: %s", code, stderr)
			}
			if path == sample { // delivered twice: nothing changes
				if code, _, stderr := kaudit(t, "", "replay", "--store", dsn, path); code != 0 {
					t.Fatalf("second replay --store: exit %d: %s", code, stderr)
				}
			}
			_, whole, _ := kaudit(t, "", "timeline", "--format", "json", path)
			queries := [][]string{{"timeline", "--format", "json"}, {"incidents", "--format", "json"}}
			seen := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(whole), "\n") {
				var e struct{ Actor string }
				if json.Unmarshal([]byte(l), &e) == nil && e.Actor != "" && !seen[e.Actor] && len(seen) < 4 {
					seen[e.Actor] = true
					queries = append(queries, []string{"timeline", "--format", "json", "--actor", e.Actor})
				}
			}
			if path == sample {
				queries = append(queries,
					[]string{"timeline", "--format", "json", "--actor", "mallory"},
					[]string{"timeline", "--format", "text", "--resource", "configmaps", "--namespace", "kube-system", "--name", "coredns"},
					[]string{"timeline", "--format", "json", "--since", "2026-11-22T09:53:40Z", "--until", "2026-11-22T09:53:45.3Z", "--limit", "7", "--offset", "2"})
			}
			for _, args := range queries {
				code, fromFile, stderr := kaudit(t, "", append(append([]string{}, args...), path)...)
				if code != 0 {
					t.Fatalf("%v PATH: exit %d: %s", args, code, stderr)
				}
				code, fromStore, stderr := kaudit(t, "", append(append([]string{}, args...), "--store", dsn)...)
				if code != 0 {
					t.Fatalf("%v --store: exit %d: %s", args, code, stderr)
				}
				if fromFile != fromStore {
					t.Fatalf("%v: file and cluster differ\nfile:\n%s\ncluster:\n%s", args, fromFile, fromStore)
				}
			}
			_, incs, _ := kaudit(t, "", "incidents", "--format", "json", path)
			if first, _, _ := strings.Cut(incs, "\n"); first != "" {
				var inc struct{ ID string }
				if err := json.Unmarshal([]byte(first), &inc); err != nil {
					t.Fatal(err)
				}
				_, fromFile, _ := kaudit(t, "", "incidents", "--format", "json", path, inc.ID)
				_, fromStore, _ := kaudit(t, "", "incidents", "--format", "json", "--store", dsn, inc.ID)
				if fromFile != fromStore || !strings.Contains(fromStore, `"timeline":[{`) {
					t.Fatalf("incident %s: file and cluster differ\nfile:    %s\ncluster: %s", inc.ID, fromFile, fromStore)
				}
			}
		})
	}
}

// Two kaudit consumers of one topic, writing into the cluster through
// different shards' nodes, serve the incident one process builds.
func TestClusterServeKafkaConsumers(t *testing.T) {
	kafkaFactsAcrossConsumers(t, func() *serveEnv { return newClusterServeEnv(t, "cluster_kafka_facts") })
}

// One replica is SIGKILLed while a kaudit consumer stores a topic into the
// cluster, then restarted: the query API answers throughout (from the
// surviving replica while the other is down), consumption goes on, and
// every event is stored exactly once, on both replicas.
func TestClusterServeKafkaReplicaKilledMidStream(t *testing.T) {
	lines := kafkatest.Copies(kafkatest.Lines(t, sample), 10000)
	msgs := actorMessages(t, lines)
	k := kafkatest.Start(t, 4, []string{"kaudit-audit"})
	// A fifth of the stream before the kill, the rest after it: the kill
	// comes mid-stream however fast kaudit consumes.
	k.Produce(t, "kaudit-audit", msgs[:len(msgs)/5])
	t.Setenv("KAUDIT_KAFKA_BROKERS", strings.Join(k.Brokers, ","))
	t.Setenv("KAUDIT_KAFKA_BATCH_MESSAGES", "500")
	e := newClusterServeEnv(t, "cluster_kafka_kill")
	// Small flushes, so that the store is written all along, as it would
	// be under a steady stream.
	e.spoolExtra = "  flush_bytes: 512Ki\n  flush_interval: 200ms\n"
	p := e.start()

	// The analyst's queries, all along.
	var asked, answered, duringOutage atomic.Int64
	var down atomic.Bool
	var firstFailure atomic.Value
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodGet, p.api+"/api/v1/timeline?actor=mallory&limit=5", nil)
			req.Header.Set("Authorization", "Bearer "+testAnalystToken)
			asked.Add(1)
			resp, err := p.client.Do(req)
			if err != nil {
				firstFailure.CompareAndSwap(nil, err.Error())
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				firstFailure.CompareAndSwap(nil, resp.Status)
				continue
			}
			answered.Add(1)
			if down.Load() {
				duringOutage.Add(1)
			}
		}
	}()

	eventually(t, 90*time.Second, "some events stored", func() bool { _, ids := e.stored(); return ids > 0 })
	killed := e.cl.Nodes[0] // shard 1's first replica, the node kaudit entered through
	killed.Kill()
	down.Store(true)
	_, atKill := e.stored()
	k.Produce(t, "kaudit-audit", msgs[len(msgs)/5:])
	eventually(t, 90*time.Second, "events stored with the replica down", func() bool { _, ids := e.stored(); return ids >= atKill+2000 })
	_, atRestart := e.stored()
	down.Store(false)
	if err := killed.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 120*time.Second, "every event after the restart", func() bool { _, ids := e.stored(); return ids == len(lines) })
	close(stop)
	<-polled
	assertStoredOnce(t, e, len(lines))
	replicasAgree(t, e.cl, e.db)
	if f := firstFailure.Load(); f != nil || duringOutage.Load() == 0 {
		t.Fatalf("query API: %d of %d answered, %d while the replica was down; first failure %v", answered.Load(), asked.Load(), duringOutage.Load(), f)
	}
	p.stop()
	t.Logf("%d events stored when the replica was killed, %d when it came back, of %d; %d queries answered, %d while it was down",
		atKill, atRestart, len(lines), answered.Load(), duringOutage.Load())
}

// A whole shard goes down while the apiserver sends: batches are spooled
// and acknowledged (kaudit_store_up 0, /readyz 200 saying so), then, with
// the spool full, refused with 429 (/readyz 503); queries are refused (503)
// rather than answered from half of the data; once the shard is back the
// spool drains and every event is stored exactly once. Both ways of
// acknowledging are held to it: from the spool (the default) and after the
// store took the batch (spool.ack_from_spool: false).
func TestClusterServeShardDown(t *testing.T) {
	for _, ack := range []bool{true, false} {
		t.Run(fmt.Sprintf("ack_from_spool=%v", ack), func(t *testing.T) { clusterShardDown(t, ack) })
	}
}

func clusterShardDown(t *testing.T, ackFromSpool bool) {
	e := newClusterServeEnv(t, fmt.Sprintf("cluster_shard_down_%v", ackFromSpool))
	e.spoolMax, e.maxBody = "800Ki", "800Ki" // a body of 400 sample events fits
	e.spoolExtra = fmt.Sprintf("  ack_from_spool: %v\n  flush_bytes: 400Ki\n", ackFromSpool)
	p := e.start()
	evs := fillingSample(t)
	kc := e.pki.Kubeconfig(t, p.webhook, testWebhookToken, false)
	send(t, kc, evs[:400])
	eventually(t, 60*time.Second, "the first batches stored", func() bool { _, ids := e.stored(); return ids == 400 })
	// Stored in every table and gone from the spool: with ack_from_spool
	// the flusher may still be writing the other tables, and a kill now
	// would leave the first batch in the spool, with no room for the next.
	eventually(t, 60*time.Second, "the spool emptied", func() bool { return p.metric("kaudit_spool_entries") == 0 })
	if up := p.metric("kaudit_store_up"); up != 1 {
		t.Fatalf("kaudit_store_up %v with the cluster whole", up)
	}

	shard := e.cl.Shard(2)
	for _, n := range shard {
		n.Kill()
	}
	spooledBefore := p.metric("kaudit_events_spooled_total")
	send(t, kc, evs[400:800])
	// Store first, the 400 events the store refused are spooled. From the
	// spool, every event is; the apiserver's batches that no longer fit
	// beside those the flusher cannot write are refused, and retried later.
	if got := p.metric("kaudit_events_spooled_total") - spooledBefore; !ackFromSpool && got != 400 || ackFromSpool && got == 0 {
		t.Fatalf("kaudit_events_spooled_total grew by %v with shard 2 down; want the 400 events sent since", got)
	}
	// From the spool, the flusher finds the store down at its next write.
	eventually(t, 30*time.Second, "kaudit_store_up 0 with shard 2 down", func() bool { return p.metric("kaudit_store_up") == 0 })
	// From the spool, the refused batches may already have filled it.
	if code, body := p.get("/readyz", ""); (code != http.StatusOK || !strings.Contains(string(body), "spooled")) &&
		!(ackFromSpool && code == http.StatusServiceUnavailable && strings.Contains(string(body), "spool full")) {
		t.Fatalf("/readyz with shard 2 down and room in the spool: %d %s; want 200 saying batches are spooled", code, body)
	}
	if code, body := p.get("/api/v1/timeline?limit=10", testAnalystToken); code != http.StatusServiceUnavailable {
		t.Fatalf("a query with shard 2 down: %d %s; want 503, not half of the answer", code, body)
	}

	as := webhooktest.NewApiserver(t, kc, apiserverRetryBase)
	as.Send(t, evs[800:])
	eventually(t, 60*time.Second, "a batch refused for a full spool", func() bool {
		return p.metric(`kaudit_webhook_rejected_total{reason="spool_full"}`) >= 1
	})
	if code, body := p.get("/readyz", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with shard 2 down and the spool full: %d %s", code, body)
	}
	one, _ := json.Marshal(evs[0])
	if code, hdr, body := p.post(one, testWebhookToken, nil); code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("a post with shard 2 down and the spool full: %d Retry-After %q %s", code, hdr.Get("Retry-After"), body)
	}

	for _, n := range shard {
		if err := n.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	// ClickHouse keeps counting a restarted shard's replicas as failed for a
	// while (its replica error counters decay over a minute): wait until
	// kaudit writes to the store again, then let the apiserver's retries,
	// honouring Retry-After, succeed.
	eventually(t, 180*time.Second, "the store taking writes again", func() bool { return p.metric("kaudit_store_up") == 1 })
	delivered(t, as)
	eventually(t, 120*time.Second, "spool drained", func() bool { return p.metric("kaudit_spool_entries") == 0 })
	eventually(t, 60*time.Second, "every event stored", func() bool { _, ids := e.stored(); return ids == len(evs) })
	assertStoredOnce(t, e, len(evs))
	replicasAgree(t, e.cl, e.db)
	if up := p.metric("kaudit_store_up"); up != 1 {
		t.Fatalf("kaudit_store_up %v after the drain", up)
	}
	if code, body := p.get("/readyz", ""); code != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("/readyz after the drain: %d %s", code, body)
	}
	p.stop()
	logged := "spooling until the store is back"
	if ackFromSpool {
		logged = "store not taking writes"
	}
	if !strings.Contains(p.logs.String(), logged) {
		t.Fatalf("the outage is not logged:\n%s", tail(p.logs.String(), 20))
	}
}
