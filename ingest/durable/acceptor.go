// Package durable is the ingest.Acceptor of live ingest (the webhook, and
// Kafka when kaudit consumes it): it runs a batch through the pipeline
// (redaction, detection, correlation) and returns nil only once the redacted
// events and their findings are durable, stored in the store or, when the
// store cannot take them, fsynced to the local spool. A background worker
// drains the spool into the store when it is back.
//
// Redaction comes first: secrets never reach the disk, not even the spool.
// Detection comes before the durable write so that events and their findings
// are written together, in one store write or one spool entry; a batch the
// acceptor will refuse anyway (store down and spool full) is refused before
// detection, so that the apiserver's retry is not judged twice.
package durable

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
	"github.com/kaudit/kaudit/ingest/spool"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/store"
)

// DefaultStoreTimeout bounds one store write of a live batch. Past it the
// batch is spooled instead: the apiserver's request times out at 30 s and a
// slow answer makes its buffer overflow upstream.
const DefaultStoreTimeout = 10 * time.Second

// Config configures an Acceptor.
type Config struct {
	// Store is where batches go. Required.
	Store store.Store
	// Spool takes batches the store cannot. Required.
	Spool *spool.Spool
	// Pipeline redacts and judges batches; it must have no sinks (the
	// acceptor does the writing). Required.
	Pipeline *pipeline.Pipeline
	// After, when set, receives each batch's events and findings once they
	// are durable (kafka.FactsSink under kafka.facts_topic). It is not a
	// pipeline sink because its error must refuse the batch: a pipeline
	// error is taken for a rule's and the batch acknowledged, so what After
	// missed would be missed for good. A refused batch comes again and is
	// written again; After's readers deduplicate.
	After pipeline.Sink
	// StoreTimeout bounds one store write (DefaultStoreTimeout when zero).
	StoreTimeout time.Duration
	// Metrics counts what the acceptor does (nil: not counted).
	Metrics *Metrics
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
}

// Acceptor makes batches durable. It is safe for concurrent use.
type Acceptor struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

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

// New returns an acceptor and starts its spool drainer. Entries left in
// the spool by an earlier run are drained first thing.
func New(cfg Config) (*Acceptor, error) {
	if cfg.Store == nil || cfg.Spool == nil || cfg.Pipeline == nil {
		return nil, errors.New("durable: store, spool and pipeline are required")
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil, nil)
	}
	a := &Acceptor{cfg: cfg, log: cfg.Logger, m: cfg.Metrics,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), drained: make(chan struct{})}
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
	if len(b.Records) == 0 {
		return nil
	}
	if a.storeDown.Load() && a.spoolFull.Load() {
		_, pending := a.cfg.Spool.Stats()
		a.m.SpoolFull.Inc()
		return &spool.FullError{Pending: pending, Max: a.cfg.Spool.Max(), Wait: 5 * time.Second}
	}
	findings, err := a.cfg.Pipeline.Process(ctx, b)
	if err != nil {
		// Only a rule failing at run time can get here (the pipeline has
		// no sinks): the events are still stored, the error reported.
		a.m.DetectErrors.Inc()
		a.log.Error("detection error", "err", err)
	}
	a.m.countFindings(findings)
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
	if !a.storeDown.Load() {
		err := a.storeWrite(ctx, recs, findings)
		if err == nil {
			return nil
		}
		if !a.storeDown.Swap(true) {
			a.log.Error("store write failed: spooling until the store is back", "err", err)
		}
	}
	data, err := encodeEntry(recs, findings)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := a.cfg.Spool.Append(data); err != nil {
		var full *spool.FullError
		if errors.As(err, &full) {
			a.m.SpoolFull.Inc()
			if !a.spoolFull.Swap(true) {
				a.log.Warn("spool full: refusing batches until the store is back", "pending_bytes", full.Pending, "max_bytes", full.Max)
			}
		}
		return err
	}
	a.spoolFull.Store(false)
	a.m.Spooled.Add(float64(len(recs)))
	a.kick()
	return nil
}

func (a *Acceptor) storeWrite(ctx context.Context, recs []ingest.Record, findings []detect.Finding) error {
	return a.storeWriteWithin(ctx, a.cfg.StoreTimeout, recs, findings)
}

func (a *Acceptor) storeWriteWithin(ctx context.Context, timeout time.Duration, recs []ingest.Record, findings []detect.Finding) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	err := a.cfg.Store.Write(ctx, recs, findings)
	a.m.StoreWrite.Observe(time.Since(t0).Seconds())
	if err != nil {
		a.m.StoreErrors.Inc()
		return err
	}
	a.m.Stored.Add(float64(len(recs)))
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
	if !a.storeDown.Load() || !a.spoolFull.Load() {
		return nil
	}
	n, pending := a.cfg.Spool.Stats()
	return fmt.Errorf("store down and spool full (%d batches, %d bytes pending)", n, pending)
}

// Close refuses new batches, waits for those in flight to be durable (or
// for ctx), and stops the drainer. What is spooled stays for the next run.
func (a *Acceptor) Close(ctx context.Context) error {
	a.closed.Store(true)
	done := make(chan struct{})
	go func() { a.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("durable: batches still in flight at shutdown: %w", ctx.Err())
	}
	a.once.Do(func() { close(a.stop) })
	<-a.drained
	return err
}
