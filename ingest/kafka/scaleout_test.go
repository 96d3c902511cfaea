package kafka_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
	"github.com/kaudit/kaudit/live/facts"
	"github.com/kaudit/kaudit/rules"
)

func incidentsJSON(t testing.TB, incs []incident.Incident) string {
	t.Helper()
	b, err := json.MarshalIndent(incs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Scale-out (the consumer with live/facts): receivers forward to Kafka keyed by actor, two consumers in
// one group each run their own pipeline, and the incidents come out exactly
// as one process makes them from the same log, although the incident that
// matters joins admin (who bound cluster-admin to mallory) and mallory,
// whose events the two consumers saw apart.
func TestScaleOutIncidentsEqualOneProcess(t *testing.T) {
	lines := kafkatest.Lines(t, samplePath)

	// One process, the file in order: the reference.
	ref := newPipeline(t)
	replayLines(t, ref, lines)
	want := ref.Incidents()
	joined := false
	for _, inc := range want {
		if len(inc.Actors) > 1 {
			joined = true
		}
	}
	if !joined {
		t.Fatal("the sample should hold an incident joining two actors")
	}

	parts := kafkatest.SplitPartitions(t, "mallory", "admin")
	c := kafkatest.Start(t, int32(parts), []string{"audit"})
	c.CreateTopic(t, 1, "kaudit-facts")
	cfg := testConfig(c, "audit", "kaudit")
	st := openStore(t)

	type member struct {
		p       *judging
		counter *memoryCounter
		facts   *facts.Sink
	}
	members := make([]member, 2)
	for i := range members {
		fs, err := facts.NewSink(cfg, "kaudit-facts")
		if err != nil {
			t.Fatal(err)
		}
		defer fs.Close()
		counter := newCounter()
		members[i] = member{p: newPipeline(t, st, counter, fs), counter: counter, facts: fs}
		start(t, cfg, members[i].p)
	}
	c.WaitStableGroup(t, "kaudit", "audit", 2)

	fwd, err := kafka.NewForwarder(cfg, detect.ActorOf)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	forward(t, fwd, webhookBatches(t, lines))
	ids, _ := expected(t, lines)
	waitFor(t, "every event stored by the two consumers", func() bool { return st.identities() == int64(ids) })
	// Committed means every sink, the facts topic included, took the batch.
	waitFor(t, "every offset committed", func() bool {
		var sum int64
		for _, off := range committed(t, c, "kaudit", "audit", parts) {
			sum += max(off, 0)
		}
		return sum == int64(len(lines))
	})

	// The two consumers saw mallory and admin apart: neither alone can
	// build the joined incident.
	if members[0].counter.actor("mallory")+members[1].counter.actor("mallory") == 0 || members[0].counter.actor("admin")+members[1].counter.actor("admin") == 0 {
		t.Fatal("mallory's or admin's events are missing")
	}
	for i, m := range members {
		if m.counter.actor("mallory") > 0 && m.counter.actor("admin") > 0 {
			t.Fatalf("consumer %d saw both mallory and admin; the test needs them apart", i)
		}
		if incidentsJSON(t, m.p.Incidents()) == incidentsJSON(t, want) {
			t.Errorf("consumer %d alone built the one-process incidents; the test needs the actors split", i)
		}
	}

	corr, err := facts.NewCorrelation(context.Background(), cfg, "kaudit-facts", incident.New(0, rules.Tactics()))
	if err != nil {
		t.Fatal(err)
	}
	defer corr.Close()
	if err := corr.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := corr.Incidents()
	if g, w := incidentsJSON(t, got), incidentsJSON(t, want); g != w {
		t.Errorf("incidents from two consumers differ from one process:\n got %s\nwant %s", g, w)
	}
	if corr.Bad() != 0 {
		t.Errorf("%d unreadable facts", corr.Bad())
	}
	t.Logf("%d partitions, %d incidents, identical to one process", parts, len(got))
}
