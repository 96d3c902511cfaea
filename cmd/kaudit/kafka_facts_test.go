package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/spf13/viper"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
)

// oneProcessIncident is mallory's incident as one kaudit builds it from the
// whole log, through the same pipeline serve runs.
func oneProcessIncident(t *testing.T, lines [][]byte) incident.Incident {
	t.Helper()
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, v: viper.New()}
	a.v.Set("redact.key", "serve-test-key")
	p, err := a.newPipeline()
	if err != nil {
		t.Fatal(err)
	}
	var b ingest.Batch
	for i, l := range lines {
		ev, err := ingest.DecodeEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Records = append(b.Records, ingest.Record{Event: ev, Location: fmt.Sprintf("sample:%d", i+1)})
	}
	if _, err := p.Judge(b); err != nil {
		t.Fatal(err)
	}
	for _, inc := range p.Incidents() {
		if inc.Actors[0] == "mallory" {
			return inc
		}
	}
	t.Fatal("one process builds no incident of mallory")
	return incident.Incident{}
}

// incidentOf returns the stored incident whose first actor is actor, from
// the query API of p (its detail view), or false when there is none yet.
func incidentOf(t *testing.T, p *kauditProc, actor string) (incident.Incident, bool) {
	t.Helper()
	code, body := p.get("/api/v1/incidents", testAnalystToken)
	if code != http.StatusOK {
		t.Fatalf("/api/v1/incidents: %d %s", code, body)
	}
	var list struct {
		Incidents []incident.Incident `json:"incidents"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("incidents JSON: %v", err)
	}
	for _, inc := range list.Incidents {
		if len(inc.Actors) == 0 || inc.Actors[0] != actor {
			continue
		}
		code, body := p.get("/api/v1/incidents/"+inc.ID, testAnalystToken)
		if code != http.StatusOK {
			t.Fatalf("/api/v1/incidents/%s: %d %s", inc.ID, code, body)
		}
		var d struct {
			Incident incident.Incident `json:"incident"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatalf("incident JSON: %v", err)
		}
		return d.Incident, true
	}
	return incident.Incident{}, false
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Scale-out through `kaudit serve` with kafka.facts_topic: two consuming
// kaudits in one group, admin's and mallory's events on partitions held by
// different members, so each judges one of them only. Each publishes its
// facts and builds incidents from everyone's: the mallory incident on the
// query API holds the cluster-admin binding by admin (a finding the other
// process made) and equals what one process makes of the whole log.
func TestServeKafkaFactsCorrelateAcrossConsumers(t *testing.T) {
	kafkaFactsAcrossConsumers(t, func() *serveEnv { return newServeEnv(t, "serve_kafka_facts") })
}

// kafkaFactsAcrossConsumers is the body of the test above, with the store
// newEnv gives: one ClickHouse, or a cluster (TestClusterServeKafkaConsumers),
// where the second kaudit enters through another shard's node.
func kafkaFactsAcrossConsumers(t *testing.T, newEnv func() *serveEnv) {
	lines := kafkatest.Lines(t, sample)
	want := oneProcessIncident(t, lines)
	if len(want.Links) == 0 || want.Links[0].From != "admin" || want.Links[0].Role != "cluster-admin" {
		t.Fatalf("one process should link admin's cluster-admin binding into mallory's incident: %s", jsonOf(t, want.Links))
	}

	parts := kafkatest.SplitPartitions(t, "mallory", "admin")
	c := kafkatest.Start(t, int32(parts), []string{"kaudit-audit"})
	c.CreateTopic(t, 1, "kaudit-facts")
	t.Setenv("KAUDIT_KAFKA_BROKERS", strings.Join(c.Brokers, ","))
	t.Setenv("KAUDIT_KAFKA_FACTS_TOPIC", "kaudit-facts")
	// Quick rebalances when the second member joins; a session long
	// enough that a busy machine does not cost a member (and its split).
	t.Setenv("KAUDIT_KAFKA_SESSION_TIMEOUT", "10s")
	t.Setenv("KAUDIT_KAFKA_HEARTBEAT_INTERVAL", "200ms")
	e := newEnv()
	first := e.start()
	e.spoolDir = filepath.Join(e.dir, "spool-2") // one spool per kaudit
	if e.cl != nil {
		e.entry = len(e.cl.Nodes) / 2 // the first node of shard 2
	}
	second := e.start()
	for _, p := range []*kauditProc{first, second} {
		if !strings.Contains(p.logs.String(), "incidents correlated across consumers") {
			t.Fatalf("serve does not say it correlates through the facts topic:\n%s", tail(p.logs.String(), 20))
		}
	}

	// admin's and mallory's partitions belong to different members.
	owners := func() map[int]string {
		own := map[int]string{}
		for member, ps := range c.WaitStableGroup(t, defaultKafkaGroup, "kaudit-audit", 2) {
			for _, p := range ps {
				own[p] = member
			}
		}
		return own
	}
	all := make([]int, parts)
	for i := range all {
		all[i] = i
	}
	bal := &kafkago.Murmur2Balancer{}
	pAdmin := bal.Balance(kafkago.Message{Key: []byte("admin")}, all...)
	pMallory := bal.Balance(kafkago.Message{Key: []byte("mallory")}, all...)
	before := owners()
	if before[pAdmin] == before[pMallory] {
		t.Fatalf("admin (partition %d) and mallory (partition %d) are on one member: %v", pAdmin, pMallory, before)
	}

	msgs := actorMessages(t, lines)
	c.Produce(t, "kaudit-audit", msgs)
	eventually(t, 90*time.Second, "every event consumed into ClickHouse", func() bool {
		_, ids := e.stored()
		return ids == len(lines)
	})
	assertStoredOnce(t, e, len(lines))
	if after := owners(); after[pAdmin] != before[pAdmin] || after[pMallory] != before[pMallory] {
		t.Fatalf("the group rebalanced meanwhile (%v, then %v): the split is not proven", before, after)
	}

	// Each kaudit judged one of the two: admin's binding was found by one,
	// mallory's admission webhook by the other.
	binding := `kaudit_findings_total{rule="cluster-admin-binding"}`
	webhookRule := `kaudit_findings_total{rule="admission-webhook-change"}`
	b1, b2 := first.metric(binding), second.metric(binding)
	w1, w2 := first.metric(webhookRule), second.metric(webhookRule)
	if b1+b2 != 1 || w1+w2 != 1 || b1 == w1 {
		t.Fatalf("findings per kaudit: binding %v/%v, admission webhook %v/%v; want each found once, by different kaudits", b1, b2, w1, w2)
	}

	// Both serve the incident of one process, admin's binding included.
	for i, p := range []*kauditProc{first, second} {
		deadline := time.Now().Add(60 * time.Second)
		for {
			got, ok := incidentOf(t, p, "mallory")
			if ok && jsonOf(t, got) == jsonOf(t, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kaudit %d: mallory's incident on the query API differs from one process's:\n got %s\nwant %s", i+1, jsonOf(t, got), jsonOf(t, want))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	first.stop()
	second.stop()
}
