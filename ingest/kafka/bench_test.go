package kafka_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
	"github.com/kaudit/kaudit/store/clickhouse"
)

// benchEvents is how many events one benchmark round moves (the sample
// repeated, each copy distinct); KAUDIT_BENCH_EVENTS overrides it. kfake
// keeps the topic in memory, which bounds it.
func benchEvents(b *testing.B) int {
	if s := os.Getenv("KAUDIT_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("KAUDIT_BENCH_EVENTS: %v", err)
		}
		return n
	}
	return 20000
}

// benchStoreConfig is serve's store configuration (store.batch_age 200 ms
// unless KAUDIT_BENCH_BATCH_AGE says otherwise).
func benchStoreConfig(b *testing.B) clickhouse.Config {
	cfg := clickhouse.Config{}
	if s := os.Getenv("KAUDIT_BENCH_BATCH_AGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("KAUDIT_BENCH_BATCH_AGE: %v", err)
		}
		cfg.BatchAge = d
	}
	return cfg
}

func benchInFlight(b *testing.B) int {
	if s := os.Getenv("KAUDIT_BENCH_INFLIGHT"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("KAUDIT_BENCH_INFLIGHT: %v", err)
		}
		return n
	}
	return 0
}

func benchBatchMessages(b *testing.B) int {
	if s := os.Getenv("KAUDIT_BENCH_BATCH_MESSAGES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("KAUDIT_BENCH_BATCH_MESSAGES: %v", err)
		}
		return n
	}
	return 0
}

// BenchmarkConsumeIntoClickHouse measures events/s from Kafka into
// ClickHouse through the whole pipeline (decode, redact, detect, store),
// with one consumer and with two in one group, each with its own pipeline
// and its own store connection as two processes would have. Each round
// waits until the group is stable on an empty topic, then starts the clock,
// produces the events and stops the clock when ClickHouse holds them all.
func BenchmarkConsumeIntoClickHouse(b *testing.B) {
	n := benchEvents(b)
	lines := kafkatest.Copies(kafkatest.Lines(b, samplePath), n)
	msgs := messages(b, lines)
	ids, _ := expected(b, lines)
	for _, consumers := range []int{1, 2} {
		b.Run(fmt.Sprintf("consumers=%d", consumers), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				c := kafkatest.Start(b, 4, []string{"audit"})
				db := fmt.Sprintf("bench_consume_%d_%d", consumers, dbSeq.Add(1))
				cfg := testConfig(c, "audit", db)
				cfg.BatchMessages = benchBatchMessages(b)
				cfg.MaxInFlight = benchInFlight(b)
				var rs []*running
				var st testStore
				for range consumers {
					st = openClickHouseDB(b, db, benchStoreConfig(b))
					rs = append(rs, startBench(b, cfg, newPipeline(b, st)))
				}
				c.WaitStableGroup(b, db, "audit", consumers)
				start := time.Now()
				c.Produce(b, "audit", msgs)
				waitFor(b, "every event in ClickHouse", func() bool { return st.identities() == int64(ids) })
				total += time.Since(start)
				for _, r := range rs {
					r.stop(b)
					s := r.c.Stats()
					b.Logf("consumer: %d messages in %d batches", s.Messages, s.Commits)
				}
				c.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "events/s")
		})
	}
}

// BenchmarkConsumePipelineOnly is BenchmarkConsumeIntoClickHouse without
// the store: Kafka, decoding, redaction and detection only, the ceiling a
// consumer reaches when the store keeps up.
func BenchmarkConsumePipelineOnly(b *testing.B) {
	n := benchEvents(b)
	lines := kafkatest.Copies(kafkatest.Lines(b, samplePath), n)
	msgs := messages(b, lines)
	ids, _ := expected(b, lines)
	for _, consumers := range []int{1, 2} {
		b.Run(fmt.Sprintf("consumers=%d", consumers), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				c := kafkatest.Start(b, 4, []string{"audit"})
				group := fmt.Sprintf("bench_pipeline_%d", dbSeq.Add(1))
				cfg := testConfig(c, "audit", group)
				cfg.BatchMessages = benchBatchMessages(b)
				cfg.MaxInFlight = benchInFlight(b)
				counter := newCounter()
				var rs []*running
				for range consumers {
					rs = append(rs, startBench(b, cfg, newPipeline(b, counter)))
				}
				c.WaitStableGroup(b, group, "audit", consumers)
				start := time.Now()
				c.Produce(b, "audit", msgs)
				waitFor(b, "every event through the pipeline", func() bool { d, _ := counter.counts(); return d == ids })
				total += time.Since(start)
				for _, r := range rs {
					r.stop(b)
				}
				c.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "events/s")
		})
	}
}

// BenchmarkForwarding measures forwarding mode: webhook batches of 400
// written by the Forwarder (three at once, as apiservers post) until Kafka
// acknowledged them ("acked"), and the same with one consumer storing into
// ClickHouse at the same time, until ClickHouse holds every event
// ("stored").
func BenchmarkForwarding(b *testing.B) {
	n := benchEvents(b)
	lines := kafkatest.Copies(kafkatest.Lines(b, samplePath), n)
	ids, _ := expected(b, lines)
	b.Run("acked", func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			c := kafkatest.Start(b, 4, []string{"audit"})
			fwd, err := kafka.NewForwarder(testConfig(c, "audit", "g"), detect.ActorOf)
			if err != nil {
				b.Fatal(err)
			}
			batches := webhookBatches(b, lines)
			start := time.Now()
			forward(b, fwd, batches)
			total += time.Since(start)
			fwd.Close()
			c.Close()
		}
		b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "events/s")
	})
	b.Run("stored", func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			c := kafkatest.Start(b, 4, []string{"audit"})
			cfg := testConfig(c, "audit", "g")
			cfg.BatchMessages = benchBatchMessages(b)
			cfg.MaxInFlight = benchInFlight(b)
			fwd, err := kafka.NewForwarder(cfg, detect.ActorOf)
			if err != nil {
				b.Fatal(err)
			}
			st := openClickHouseDB(b, fmt.Sprintf("bench_forward_%d", dbSeq.Add(1)), benchStoreConfig(b))
			batches := webhookBatches(b, lines)
			start := time.Now()
			r := startBench(b, cfg, newPipeline(b, st))
			forward(b, fwd, batches)
			waitFor(b, "every forwarded event in ClickHouse", func() bool { return st.identities() == int64(ids) })
			total += time.Since(start)
			r.stop(b)
			fwd.Close()
			c.Close()
		}
		b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "events/s")
	})
}

// startBench starts a consumer without the cleanup of start (benchmarks
// stop theirs inside the timed loop).
func startBench(b *testing.B, cfg kafka.Config, acc ingest.Acceptor) *running {
	b.Helper()
	cons, err := kafka.NewConsumer(cfg, acc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: cons, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- cons.Run(ctx) }()
	return r
}
