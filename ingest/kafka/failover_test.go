package kafka_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

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
		if _, err := p.Process(ctx, b); err != nil {
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

	second := start(t, cfg, pipelineAcceptor{p})
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
		_, err := pA.Process(ctx, b)
		return err
	})
	var batchesB atomic.Int64
	bWorking := make(chan struct{})
	accB := acceptorFunc(func(ctx context.Context, b ingest.Batch) error {
		if batchesB.Add(1) == 1 {
			close(bWorking)
		}
		_, err := pB.Process(ctx, b)
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
