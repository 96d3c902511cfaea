package kafka_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
	"github.com/kaudit/kaudit/store"
)

// committed returns the group's committed offset per partition.
func committed(t testing.TB, c *kafkatest.Cluster, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...)}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	res, err := cl.OffsetFetch(context.Background(), &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// The sample, one event per message as shippers send it, consumed into
// ClickHouse: every event stored once, findings located by partition and
// offset, and the group's offsets committed to the end.
func TestConsumeSampleIntoClickHouse(t *testing.T) {
	lines := kafkatest.Lines(t, samplePath)
	c := kafkatest.Start(t, 3, []string{"audit"})
	c.Produce(t, "audit", messages(t, lines))
	st := openStore(t)
	p := newPipeline(t, st)
	r := start(t, testConfig(c, "audit", "kaudit"), p)

	ids, requests := expected(t, lines)
	waitFor(t, "every event in ClickHouse", func() bool { return st.identities() == int64(ids) })
	waitFor(t, "offsets committed to the end", func() bool {
		var sum int64
		for _, off := range committed(t, c, "kaudit", "audit", 3) {
			sum += off
		}
		return sum == int64(len(lines))
	})
	r.stop(t)

	s := r.c.Stats()
	if s.Events != int64(len(lines)) || s.Malformed != 0 || s.Messages != int64(len(lines)) {
		t.Errorf("stats %+v, want %d events and messages, none malformed", s, len(lines))
	}
	tl, err := st.Timeline(context.Background(), store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != requests {
		t.Errorf("timeline has %d requests, want %d", len(tl), requests)
	}
	for _, e := range tl {
		if !strings.HasPrefix(e.Location, "kafka:audit/") {
			t.Fatalf("entry %s located at %q, want kafka:audit/PARTITION/OFFSET", e.AuditID, e.Location)
		}
	}
	// One consumer is one process: its findings are the replay's.
	ref := newPipeline(t)
	replayLines(t, ref, lines)
	if got, want := len(p.Findings()), len(ref.Findings()); got != want || got == 0 {
		t.Errorf("consumer found %d findings, replay %d", got, want)
	}
}

// A poison message among good ones: counted, logged, dead-lettered with its
// location and reason, and the good events around it (the partition is one,
// so those after it prove it did not block) all arrive.
func TestPoisonMessageDeadLettered(t *testing.T) {
	lines := kafkatest.Lines(t, samplePath)[:200]
	c := kafkatest.Start(t, 1, []string{"audit", "audit-dlq"})
	good := messages(t, lines)
	var list []json.RawMessage
	for _, l := range lines[100:103] {
		list = append(list, l)
	}
	list = append(list, json.RawMessage(`{"auditID":"x","stage":"Nonsense","requestReceivedTimestamp":"2026-01-01T00:00:00Z"}`))
	listBody, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": list})
	poison := []kafkago.Message{
		{Key: []byte("p1"), Value: []byte(`this is not JSON`)},
		{Key: []byte("p2"), Value: []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1"}`)},
		{Key: []byte("p3"), Value: nil},
		{Key: []byte("p4"), Value: listBody},
	}
	msgs := append(append(append([]kafkago.Message{}, good[:50]...), poison...), good[50:]...)
	c.Produce(t, "audit", msgs)

	cfg := testConfig(c, "audit", "kaudit")
	cfg.DeadLetterTopic = "audit-dlq"
	counter := newCounter()
	var bad atomic.Int64
	acc := acceptorFunc(func(ctx context.Context, b ingest.Batch) error {
		bad.Add(int64(len(b.Bad)))
		return counter.Write(ctx, b.Records, nil)
	})
	r := start(t, cfg, acc)
	ids, _ := expected(t, lines)
	waitFor(t, "every good event", func() bool { d, _ := counter.counts(); return d == ids })
	waitFor(t, "four dead letters", func() bool { return c.Count(t, "audit-dlq") == 4 })
	r.stop(t)

	s := r.c.Stats()
	if s.Malformed != 4 || s.DeadLettered != 4 || s.DeadLetterFailed != 0 {
		t.Errorf("stats %+v, want 4 malformed, 4 dead-lettered", s)
	}
	if bad.Load() != 4 { // three whole messages and one list item
		t.Errorf("acceptor saw %d bad inputs, want 4", bad.Load())
	}
	rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.Brokers, Topic: "audit-dlq", Partition: 0, MaxWait: 100e6})
	defer rd.Close()
	reasons := map[string]string{}
	for i := 0; i < 4; i++ {
		m, err := rd.ReadMessage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if !strings.HasPrefix(h[kafka.HeaderSource], "kafka:audit/0/") || h[kafka.HeaderError] == "" {
			t.Errorf("dead letter %s headers %v", m.Key, h)
		}
		reasons[string(m.Key)] = h[kafka.HeaderError]
	}
	for key, want := range map[string]string{"p1": "malformed JSON", "p2": "missing auditID", "p3": "empty message", "p4": "unknown stage"} {
		if !strings.Contains(reasons[key], want) {
			t.Errorf("dead letter %s: reason %q, want it to mention %q", key, reasons[key], want)
		}
	}
}
