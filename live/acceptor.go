// Package live is what becomes of a judged batch: the ingest.Acceptor every
// source hands its batches to, which judges them through the pipeline and
// makes the events and their findings durable, in the store or, when the
// store cannot take them, in the local spool (live/spool) that a background
// worker drains into the store; and the Publisher that keeps the store's
// incidents current. Replay, `kaudit ui` and `kaudit serve` all take this
// one path: replay without a spool (the file it reads is the durable copy),
// serve with one. Scale-out correlation across Kafka consumers is in
// live/facts.
//
// Redaction comes first: secrets never reach the disk, not even the spool.
// Detection comes before the durable write so that events and their findings
// are written together, in one store write or one spool entry; a batch the
// acceptor will refuse anyway (store down and spool full) is refused before
// detection, so that the apiserver's retry is not judged twice.
//
// The design follows k8s.io/apiserver's audit backends, where a Backend
// decorates a Backend (buffered around webhook): the webhook handler and the
// Kafka consumer only see an ingest.Acceptor, and what stands behind it
// (this acceptor, or the Forwarder of a receiver) is wiring.
//
// The package may import everything below it (ingest, redact, detect,
// pipeline, store); nothing but cmd imports it.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/store"
)

// DefaultStoreTimeout bounds one store write of a live batch. Past it the
// batch is spooled instead: the apiserver's request times out at 30 s and a
// slow answer makes its buffer overflow upstream.
const DefaultStoreTimeout = 10 * time.Second

// BatchWriter takes a batch's events and findings: a store, or the facts
// topic (facts.Sink).
type BatchWriter interface {
	Write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error
}

// Config configures an Acceptor.
type Config struct {
	// Pipeline redacts and judges batches. Required.
	Pipeline *pipeline.Pipeline
	// Store is where batches go (nil: judged only, as replay without
	// --store does).
	Store BatchWriter
	// Spool takes batches the store cannot. Without one (replay), a store
	// error is returned to the source instead.
	Spool *spool.Spool
	// After, when set, receives each batch's events and findings once they
	// are durable (facts.Sink under kafka.facts_topic). Its error refuses
	// the batch: the source sends it again, it is written again (the store
	// keeps each event once) and After's readers deduplicate.
	After BatchWriter
	// StoreTimeout bounds one store write (DefaultStoreTimeout when zero).
	StoreTimeout time.Duration
	// AckFromSpool makes the spool the write-ahead log of every batch
	// (issue 17): Accept returns once the batch is fsynced to the spool,
	// in a group commit with the batches arriving beside it, and one
	// flusher moves the spool into the store in large writes, once the
	// oldest entry is FlushInterval old or FlushBytes wait. Store must be a
	// store.RowWriter: the spool holds rendered rows. Without it a batch
	// goes to the store first and to the spool only when the store cannot
	// take it.
	AckFromSpool bool
	// FlushInterval (DefaultFlushInterval when zero) bounds how stale the
	// store is behind what was acknowledged; FlushBytes
	// (DefaultFlushBytes when zero) bounds one flush, and its memory.
	FlushInterval time.Duration
	FlushBytes    int64
	// Metrics counts what the acceptor does (nil: not counted).
	Metrics *Metrics
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
}

// Acceptor judges batches and makes them durable. It is safe for
// concurrent use.
type Acceptor struct {
	cfg Config
	log *slog.Logger
	m   *Metrics
	// wal is Config.AckFromSpool, in effect (wal.go).
	wal bool
	// rows is Store as a RowWriter, when it is one: it drains row
	// entries, whichever path spooled them.
	rows store.RowWriter
	// rowBuf holds the rows of the drainer's last write, for its next:
	// a fresh slice for every write (tens of thousands of rows) was an
	// eighth of all kaudit allocated under load. Only the drainer uses it.
	rowBuf []store.Row
	// storeDown is set after a failed store write and cleared by the
	// drainer's first success: meanwhile batches go straight to the spool
	// instead of each waiting for the store to time out.
	storeDown atomic.Bool
	// spoolFull is set when the spool refused a batch and cleared when it
	// took one or the drainer made room: while it and storeDown are set,
	// batches are refused before detection and /readyz fails.
	spoolFull atomic.Bool

	inflight sync.WaitGroup
	closed   atomic.Bool
	wake     chan struct{}
	stop     chan struct{}
	drained  chan struct{}
	once     sync.Once
}

var _ ingest.Acceptor = (*Acceptor)(nil)

// New returns an acceptor and, with a spool, starts its drainer: entries
// left in the spool by an earlier run are drained first thing.
func New(cfg Config) (*Acceptor, error) {
	if cfg.Pipeline == nil {
		return nil, errors.New("live: a pipeline is required")
	}
	if cfg.Spool != nil && cfg.Store == nil {
		return nil, errors.New("live: a spool needs a store to drain into")
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil, nil, nil)
	}
	a := &Acceptor{cfg: cfg, log: cfg.Logger, m: cfg.Metrics,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), drained: make(chan struct{})}
	if err := a.setFlush(); err != nil {
		return nil, err
	}
	if cfg.Spool == nil {
		close(a.drained)
		return a, nil
	}
	a.m.watchSpool(cfg.Spool, &a.storeDown)
	go a.drainLoop()
	return a, nil
}

// ErrClosed is returned by Accept after Close began.
var ErrClosed = errors.New("kaudit is shutting down")

// Accept redacts and judges the batch and returns nil once it is durable.
// An error means nothing of the batch is acknowledged: a *spool.FullError
// when the store is down and the spool full (the caller asks its client to
// come back later), another error when neither could take it.
func (a *Acceptor) Accept(ctx context.Context, b ingest.Batch) error {
	a.inflight.Add(1)
	defer a.inflight.Done()
	if a.closed.Load() {
		return ErrClosed
	}
	if len(b.Records) == 0 && len(b.Bad) == 0 {
		return nil
	}
	if (a.wal || a.storeDown.Load()) && a.spoolFull.Load() {
		_, pending := a.cfg.Spool.Stats()
		a.m.SpoolFull.Inc()
		return &spool.FullError{Pending: pending, Max: a.cfg.Spool.Max(), Wait: 5 * time.Second}
	}
	findings, err := a.cfg.Pipeline.Judge(b)
	if err != nil {
		// A rule failing at run time costs neither the event nor the other
		// rules' findings: the batch is kept, the error reported.
		a.m.DetectErrors.Inc()
		a.log.Error("detection error", "err", err)
	}
	a.m.countFindings(findings)
	if len(b.Records) == 0 {
		return nil
	}
	if err := a.persist(ctx, b.Records, findings); err != nil {
		return err
	}
	if a.cfg.After != nil {
		if err := a.cfg.After.Write(ctx, b.Records, findings); err != nil {
			return fmt.Errorf("batch durable but not published: %w", err)
		}
	}
	return nil
}

// persist writes to the store, or to the spool when the store is down or
// fails.
func (a *Acceptor) persist(ctx context.Context, recs []ingest.Record, findings []detect.Finding) error {
	if a.cfg.Store == nil {
		return nil
	}
	if a.wal {
		return a.spoolRows(recs, findings)
	}
	if !a.storeDown.Load() {
		err := a.storeWrite(ctx, a.cfg.StoreTimeout, recs, findings)
		if err == nil {
			return nil
		}
		if a.cfg.Spool == nil {
			return err
		}
		if !a.storeDown.Swap(true) {
			a.log.Error("store write failed: spooling until the store is back", "err", err)
		}
	}
	return a.spoolBatch(recs, findings)
}

// spoolBatch appends the batch to the spool (fsynced before it returns)
// and wakes the drainer.
func (a *Acceptor) spoolBatch(recs []ingest.Record, findings []detect.Finding) error {
	data, err := encodeEntry(recs, findings)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := a.appendSpool(data, len(recs)); err != nil {
		return err
	}
	a.kick()
	return nil
}

// appendSpool appends one entry of n events, noting a full spool.
func (a *Acceptor) appendSpool(data []byte, n int) error {
	return a.appendSpoolWith(n, func() error { return a.cfg.Spool.Append(data) })
}

// appendSpoolWith runs an append of n events, noting a full spool.
func (a *Acceptor) appendSpoolWith(n int, appendEntry func() error) error {
	if err := appendEntry(); err != nil {
		var full *spool.FullError
		if errors.As(err, &full) {
			a.m.SpoolFull.Inc()
			if !a.spoolFull.Swap(true) {
				a.log.Warn("spool full: refusing batches until the store takes some", "pending_bytes", full.Pending, "max_bytes", full.Max)
			}
		}
		return err
	}
	if !a.wal {
		// On the write-ahead path only the flusher clears it, by making
		// room: a small batch squeezing in is no sign of room for the next.
		a.spoolFull.Store(false)
	}
	a.m.Spooled.Add(float64(n))
	return nil
}

func (a *Acceptor) storeWrite(ctx context.Context, timeout time.Duration, recs []ingest.Record, findings []detect.Finding) error {
	return a.timedWrite(ctx, timeout, len(recs), func(ctx context.Context) error { return a.cfg.Store.Write(ctx, recs, findings) })
}

// timedWrite runs one store write of n events within timeout, timing and
// counting it.
func (a *Acceptor) timedWrite(ctx context.Context, timeout time.Duration, n int, write func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	err := write(ctx)
	a.m.StoreWrite.Observe(time.Since(t0).Seconds())
	if err != nil {
		a.m.StoreErrors.Inc()
		return err
	}
	a.m.Stored.Add(float64(n))
	return nil
}

func (a *Acceptor) kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Ready reports whether a batch would be taken now: the store is up, or the
// spool has room. /readyz answers with it.
func (a *Acceptor) Ready() error {
	if a.closed.Load() {
		return ErrClosed
	}
	if !a.spoolFull.Load() || !a.wal && !a.storeDown.Load() {
		return nil
	}
	n, pending := a.cfg.Spool.Stats()
	if a.wal {
		return fmt.Errorf("spool full (%d batches, %d bytes pending)", n, pending)
	}
	return fmt.Errorf("store down and spool full (%d batches, %d bytes pending)", n, pending)
}

// Spooling reports, while batches go to the spool because the store does
// not take them (kaudit_store_up 0), how much the spool holds: /readyz
// answers 200 then (batches are still taken, durably) and says so.
func (a *Acceptor) Spooling() (spooling bool, batches int, bytes int64) {
	if a.cfg.Spool == nil || !a.storeDown.Load() {
		return false, 0, 0
	}
	n, b := a.cfg.Spool.Stats()
	return true, n, b
}

// Close refuses new batches, waits for those in flight to be durable (or
// for ctx), and stops the drainer; on the write-ahead path it then writes
// what the spool holds while ctx lasts. What is spooled stays for the next
// run.
func (a *Acceptor) Close(ctx context.Context) error {
	a.closed.Store(true)
	done := make(chan struct{})
	go func() { a.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("live: batches still in flight at shutdown: %w", ctx.Err())
	}
	a.once.Do(func() { close(a.stop) })
	<-a.drained
	if a.cfg.Spool != nil {
		a.flushRemaining(ctx)
	}
	return err
}
