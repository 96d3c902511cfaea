package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/redact"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

const samplePath = "../../testdata/apiserver-1.36-basic-intrusion.log"

// clickhouseServer is one private ClickHouse for the package's tests,
// started by the first test that needs it; each test takes a database of
// its own.
var (
	clickhouseServer *chtest.Server
	clickhouseOnce   sync.Once
	clickhouseErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if clickhouseServer != nil {
		if err := clickhouseServer.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

var dbSeq atomic.Int64

// testStore is a store with a way to count what it holds per identity.
type testStore struct {
	store.Store
	// identities returns the distinct (auditID, stage) stored.
	identities func() int64
}

// openClickHouse opens the store on a fresh database of the package's
// server, with synchronous writes (Write returns once rows are in
// ClickHouse, as the Kafka path needs).
func openClickHouse(t testing.TB) testStore {
	t.Helper()
	db := fmt.Sprintf("kafka_%s_%d", strings.ToLower(sanitize(t.Name())), dbSeq.Add(1))
	return openClickHouseDB(t, db, clickhouse.Config{BatchAge: 20 * time.Millisecond})
}

// openClickHouseDB opens a store on database db of the package's server
// (another store on the same db is another process's connection).
func openClickHouseDB(t testing.TB, db string, cfg clickhouse.Config) testStore {
	t.Helper()
	clickhouseOnce.Do(func() { clickhouseServer, clickhouseErr = chtest.New() })
	if clickhouseErr != nil {
		t.Fatalf("ClickHouse: %v", clickhouseErr)
	}
	cfg.DSN = clickhouseServer.DSN(db)
	st, err := clickhouse.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open clickhouse store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	conn, err := ch.Open(&ch.Options{Addr: []string{clickhouseServer.Addr()}})
	if err != nil {
		t.Fatalf("clickhouse connection: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return testStore{Store: st, identities: func() int64 {
		var n uint64
		q := fmt.Sprintf("SELECT uniqExact(audit_id, stage) FROM %s.events", db)
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return int64(n)
	}}
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// batchWriter takes judged batches: a store, a counter, the facts sink.
type batchWriter interface {
	Write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error
}

// judging is the acceptor the consumer tests give the consumer: the
// pipeline every source shares, then every writer in turn (as serve's live
// acceptor writes to the store, then to the facts topic).
type judging struct {
	*pipeline.Pipeline
	writers []batchWriter
}

// newPipeline builds a judging acceptor with a fixed redaction key, so that
// every consumer hashes alike.
func newPipeline(t testing.TB, writers ...batchWriter) *judging {
	t.Helper()
	r, err := redact.New([]byte("test-key"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	return &judging{Pipeline: pipeline.New(r, eng, incident.New(0, rules.Tactics())), writers: writers}
}

// Accept judges the batch and writes it to every writer.
func (j *judging) Accept(ctx context.Context, b ingest.Batch) error {
	findings, err := j.Judge(b)
	if err != nil {
		return err
	}
	for _, w := range j.writers {
		if err := w.Write(ctx, b.Records, findings); err != nil {
			return err
		}
	}
	return nil
}

// acceptorFunc adapts a function to ingest.Acceptor.
type acceptorFunc func(ctx context.Context, b ingest.Batch) error

func (f acceptorFunc) Accept(ctx context.Context, b ingest.Batch) error { return f(ctx, b) }

// testConfig is a consumer configuration for a kfake cluster: short group
// timers so that joins and rebalances take well under a second.
func testConfig(c *kafkatest.Cluster, topic, group string) kafka.Config {
	return kafka.Config{
		Brokers:           c.Brokers,
		Topic:             topic,
		Group:             group,
		SessionTimeout:    2 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond,
		RebalanceTimeout:  5 * time.Second,
		Logger:            slog.New(slog.NewTextHandler(testWriter{}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// testWriter sends logs to stderr only under -v, where they explain a
// failure without cluttering a passing run.
type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		return os.Stderr.Write(p)
	}
	return len(p), nil
}

// running is a consumer started in the background.
type running struct {
	c      *kafka.Consumer
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, cfg kafka.Config, acc ingest.Acceptor) *running {
	t.Helper()
	c, err := kafka.NewConsumer(cfg, acc)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops the consumer and fails the test if Run failed.
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("consumer: %v", err)
	}
	r.done = nil
}

// waitFor polls cond until it holds; the limit only keeps a broken test
// from hanging, it asserts nothing about speed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// messages wraps lines as Kafka messages keyed by actor (what the
// forwarder and a well-configured shipper do).
func messages(t testing.TB, lines [][]byte) []kafkago.Message {
	t.Helper()
	out := make([]kafkago.Message, len(lines))
	for i, l := range lines {
		ev, err := ingest.DecodeEvent(l)
		if err != nil {
			t.Fatalf("sample line %d: %v", i+1, err)
		}
		out[i] = kafkago.Message{Key: []byte(detect.ActorOf(ev)), Value: l}
	}
	return out
}

// expected counts the distinct (auditID, stage) and audit ids of lines.
func expected(t testing.TB, lines [][]byte) (ids, requests int) {
	t.Helper()
	seen := map[[2]string]bool{}
	reqs := map[string]bool{}
	for i, l := range lines {
		ev, err := ingest.DecodeEvent(l)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		seen[[2]string{string(ev.AuditID), string(ev.Stage)}] = true
		reqs[string(ev.AuditID)] = true
	}
	return len(seen), len(reqs)
}

// memoryCounter is an Acceptor-side sink counting events per identity, to
// tell redeliveries (seen twice by the pipeline) from what the store shows.
type memoryCounter struct {
	mu     sync.Mutex
	seen   map[[2]string]int
	actors map[string]int
}

func newCounter() *memoryCounter {
	return &memoryCounter{seen: map[[2]string]int{}, actors: map[string]int{}}
}

// actor returns how many events of the actor the counter saw.
func (m *memoryCounter) actor(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.actors[name]
}

func (m *memoryCounter) Write(_ context.Context, events []ingest.Record, _ []detect.Finding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range events {
		m.seen[[2]string{string(r.Event.AuditID), string(r.Event.Stage)}]++
		m.actors[detect.ActorOf(r.Event)]++
	}
	return nil
}

// counts returns distinct identities and total deliveries.
func (m *memoryCounter) counts() (distinct, total int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.seen {
		total += n
	}
	return len(m.seen), total
}

var errCrash = errors.New("simulated crash")

// replayLines runs lines through p in file order, as `kaudit replay` does.
func replayLines(t testing.TB, p *judging, lines [][]byte) {
	t.Helper()
	var b ingest.Batch
	for i, l := range lines {
		ev, err := ingest.DecodeEvent(l)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		b.Records = append(b.Records, ingest.Record{Event: ev, Location: fmt.Sprintf("sample:%d", i+1)})
	}
	if err := p.Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// openStore is the store the tests that say "into ClickHouse" use.
func openStore(t testing.TB) testStore { return openClickHouse(t) }
