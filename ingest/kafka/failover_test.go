package kafka_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
	"github.com/kaudit/kaudit/store"
)

// twentyThousand is the sample repeated to 20,000 distinct events (kfake
// keeps everything in memory; this is plenty to cross many batches).
func twentyThousand(t testing.TB) [][]byte {
	return kafkatest.Copies(kafkatest.Lines(t, samplePath), 20000)
}

// A consumer killed mid-stream, after its batch was stored but before its
// offsets were committed, and started again: nothing lost, and nothing
// doubled although the pipeline saw the batch twice.
func TestKillMidStreamAndRestart(t *testing.T) {
	lines := twentyThousand(t)
	c := kafkatest.Start(t, 3, []string{"audit"})
	c.Produce(t, "audit", messages(t, lines))
	st := openStore(t)
	counter := newCounter()
	p := newPipeline(t, st, counter)
	cfg := testConfig(c, "audit", "kaudit")
	cfg.BatchMessages = 500

	// The first run dies right after the store took its fifth batch: the
	// batch is durable, its offsets are not committed.
	var batches atomic.Int64
	var first *running
	var once sync.Once
	crashed := make(chan struct{})
	crashing := acceptorFunc(func(ctx context.Context, b ingest.Batch) error {
		if err := p.Accept(ctx, b); err != nil {
			return err
		}
		if batches.Add(1) == 5 {
			once.Do(func() { first.cancel(); close(crashed) })
			return errCrash
		}
		return nil
	})
	first = start(t, cfg, crashing)
	<-crashed
	first.stop(t)
	t.Logf("committed after the crash: %v", committed(t, c, "kaudit", "audit", 3))
	_, before := counter.counts()
	if before == 0 || before >= len(lines) {
		t.Fatalf("first run handled %d events; the crash should come after 5 batches, mid-stream", before)
	}

	second := start(t, cfg, p)
	ids, requests := expected(t, lines)
	waitFor(t, "every event after the restart", func() bool { return st.identities() == int64(ids) })
	second.stop(t)

	distinct, total := counter.counts()
	if distinct != ids {
		t.Errorf("pipeline saw %d distinct events, want %d", distinct, ids)
	}
	if total <= distinct {
		t.Errorf("pipeline saw %d deliveries of %d events: the uncommitted batch should have come again", total, distinct)
	}
	tl, err := st.Timeline(context.Background(), store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != requests {
		t.Errorf("timeline shows %d requests, want %d (each once)", len(tl), requests)
	}
	t.Logf("%d events, %d deliveries (%d redelivered after the crash)", distinct, total, total-distinct)
}

// Two consumers in one group: the second joins while the first is in the
// middle of a batch, partitions move, the first's batch is redelivered to
// its new owner. Both do work, every event is stored once.
func TestTwoConsumersRebalance(t *testing.T) {
	lines := twentyThousand(t)
	c := kafkatest.Start(t, 4, []string{"audit"})
	c.Produce(t, "audit", messages(t, lines))
	st := openStore(t)
	cfg := testConfig(c, "audit", "kaudit")
	cfg.BatchMessages = 500

	countA, countB := newCounter(), newCounter()
	pA, pB := newPipeline(t, st, countA), newPipeline(t, st, countB)

	// A takes two batches, then holds its third until B has joined and
	// taken a batch of its own.
	var batchesA atomic.Int64
	holding, release := make(chan struct{}), make(chan struct{})
	accA := acceptorFunc(func(ctx context.Context, b ingest.Batch) error {
		if batchesA.Add(1) == 3 {
			close(holding)
			<-release
		}
		err := pA.Accept(ctx, b)
		return err
	})
	var batchesB atomic.Int64
	bWorking := make(chan struct{})
	accB := acceptorFunc(func(ctx context.Context, b ingest.Batch) error {
		if batchesB.Add(1) == 1 {
			close(bWorking)
		}
		err := pB.Accept(ctx, b)
		return err
	})
	a := start(t, cfg, accA)
	<-holding
	b := start(t, cfg, accB)
	<-bWorking
	close(release)

	ids, requests := expected(t, lines)
	waitFor(t, "every event through two consumers", func() bool { return st.identities() == int64(ids) })
	a.stop(t)
	b.stop(t)

	dA, tA := countA.counts()
	dB, tB := countB.counts()
	if dA == 0 || dB == 0 {
		t.Fatalf("consumer A handled %d events, B %d: both should have had partitions", dA, dB)
	}
	tl, err := st.Timeline(context.Background(), store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != requests {
		t.Errorf("timeline shows %d requests, want %d (each once)", len(tl), requests)
	}
	t.Logf("A: %d events (%d deliveries), B: %d events (%d deliveries), %d identities stored; A committed %d times, %d refused",
		dA, tA, dB, tB, ids, a.c.Stats().Commits, a.c.Stats().CommitErrors)
}

// An acceptor that cannot make batches durable for a while (ClickHouse down
// and the spool full): the consumer retries the same batch, commits
// nothing meanwhile, and loses nothing once the acceptor takes it.
func TestAcceptorRefusalsAreRetried(t *testing.T) {
	lines := kafkatest.Lines(t, samplePath)
	c := kafkatest.Start(t, 1, []string{"audit"})
	c.Produce(t, "audit", messages(t, lines))
	counter := newCounter()
	var refusals, committedMeanwhile atomic.Int64
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...)}
	acc := acceptorFunc(func(ctx context.Context, b ingest.Batch) error {
		if refusals.Add(1) <= 3 {
			res, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: "kaudit", Topics: map[string][]int{"audit": {0}}})
			if err == nil && len(res.Topics["audit"]) == 1 && res.Topics["audit"][0].CommittedOffset > 0 {
				committedMeanwhile.Store(res.Topics["audit"][0].CommittedOffset)
			}
			return errCrash
		}
		return counter.Write(ctx, b.Records, nil)
	})
	r := start(t, testConfig(c, "audit", "kaudit"), acc)
	ids, _ := expected(t, lines)
	waitFor(t, "every event once the acceptor takes them", func() bool { d, _ := counter.counts(); return d == ids })
	r.stop(t)
	if off := committedMeanwhile.Load(); off != 0 {
		t.Errorf("offset %d committed while the acceptor refused", off)
	}
	if s := r.c.Stats(); s.AcceptRetries != 3 || s.Events != int64(len(lines)) {
		t.Errorf("stats %+v, want 3 accept retries and %d events", s, len(lines))
	}
}

// A dead-letter topic that does not exist: the malformed message is logged
// and counted as not dead-lettered, and the partition goes on.
func TestDeadLetterTopicDownDoesNotBlock(t *testing.T) {
	lines := kafkatest.Lines(t, samplePath)[:20]
	c := kafkatest.Start(t, 1, []string{"audit"})
	msgs := messages(t, lines)
	msgs = append(append(msgs[:10:10], kafkago.Message{Value: []byte("{oops")}), msgs[10:]...)
	c.Produce(t, "audit", msgs)
	cfg := testConfig(c, "audit", "kaudit")
	cfg.DeadLetterTopic = "no-such-topic"
	counter := newCounter()
	r := start(t, cfg, newPipeline(t, counter))
	ids, _ := expected(t, lines)
	waitFor(t, "the good events after the poison", func() bool { d, _ := counter.counts(); return d == ids })
	waitFor(t, "the poison's batch committed", func() bool { return committed(t, c, "kaudit", "audit", 1)[0] == int64(len(msgs)) })
	r.stop(t)
	if s := r.c.Stats(); s.Malformed != 1 || s.DeadLetterFailed != 1 || s.DeadLettered != 0 {
		t.Errorf("stats %+v, want 1 malformed, 1 dead letter failed", s)
	}
}
