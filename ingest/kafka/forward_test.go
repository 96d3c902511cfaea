package kafka_test

import (
	"context"
	"sync"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
)

// webhookBatches decodes lines into the batches a webhook receiver takes:
// EventList items of at most 400, without kind or apiVersion.
func webhookBatches(t testing.TB, lines [][]byte) []ingest.Batch {
	t.Helper()
	var out []ingest.Batch
	for len(lines) > 0 {
		n := min(400, len(lines))
		var b ingest.Batch
		for _, l := range lines[:n] {
			ev, err := ingest.DecodeEvent(l)
			if err != nil {
				t.Fatal(err)
			}
			ev.Kind, ev.APIVersion = "", ""
			b.Records = append(b.Records, ingest.Record{Event: ev, Location: "webhook:127.0.0.1"})
		}
		out = append(out, b)
		lines = lines[n:]
	}
	return out
}

// forward sends batches through fwd from three goroutines at once, as
// apiservers send concurrently.
func forward(t testing.TB, fwd *kafka.Forwarder, batches []ingest.Batch) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(batches))
	work := make(chan ingest.Batch)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				errs <- fwd.Accept(context.Background(), b)
			}
		}()
	}
	for _, b := range batches {
		work <- b
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("forward: %v", err)
		}
	}
}

// partitionsByKey reads a whole topic and returns, per key, the partitions
// holding messages with that key.
func partitionsByKey(t testing.TB, c *kafkatest.Cluster, topic string, partitions int) (map[string]map[int]bool, []kafkago.Message) {
	t.Helper()
	out := map[string]map[int]bool{}
	var all []kafkago.Message
	conn, err := kafkago.Dial("tcp", c.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for p := 0; p < partitions; p++ {
		pc, err := kafkago.DialLeader(context.Background(), "tcp", c.Brokers[0], topic, p)
		if err != nil {
			t.Fatal(err)
		}
		_, last, err := pc.ReadOffsets()
		pc.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.Brokers, Topic: topic, Partition: p, MaxWait: 2e9})
		for off := int64(0); off < last; off++ {
			m, err := r.ReadMessage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if out[string(m.Key)] == nil {
				out[string(m.Key)] = map[int]bool{}
			}
			out[string(m.Key)][p] = true
			all = append(all, m)
		}
		r.Close()
	}
	return out, all
}

// Forwarding mode end to end: webhook batches go to Kafka through the
// Forwarder (nil only once Kafka acknowledged), one actor per partition,
// and a consumer stores them all.
func TestForwardingEndToEnd(t *testing.T) {
	lines := kafkatest.Lines(t, samplePath)
	c := kafkatest.Start(t, 4, []string{"audit"})
	cfg := testConfig(c, "audit", "kaudit")
	fwd, err := kafka.NewForwarder(cfg, detect.ActorOf)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	forward(t, fwd, webhookBatches(t, lines))
	// Acknowledged means in Kafka: every event is there before any consumer runs.
	if n := c.Count(t, "audit"); n != int64(len(lines)) {
		t.Fatalf("topic holds %d messages after the forwarder acknowledged %d", n, len(lines))
	}
	byKey, msgs := partitionsByKey(t, c, "audit", 4)
	for key, parts := range byKey {
		if len(parts) != 1 {
			t.Errorf("actor %q spread over partitions %v; one actor must stay in one partition", key, parts)
		}
	}
	for _, m := range msgs[:10] {
		ev, err := ingest.DecodeEvent(m.Value)
		if err != nil {
			t.Fatalf("forwarded message: %v", err)
		}
		if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" || detect.ActorOf(ev) != string(m.Key) {
			t.Errorf("forwarded message kind %q apiVersion %q key %q actor %q", ev.Kind, ev.APIVersion, m.Key, detect.ActorOf(ev))
		}
	}

	st := openStore(t)
	r := start(t, cfg, newPipeline(t, st))
	ids, _ := expected(t, lines)
	waitFor(t, "every forwarded event stored", func() bool { return st.identities() == int64(ids) })
	r.stop(t)
}
