package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/baseline"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
)

// ErrNotOpen is what writes and queries of a Lazy store get until the store
// behind it opened.
var ErrNotOpen = errors.New("store not reachable yet")

// Lazy is a Store that opens in the background: a server must start even
// when its store is down (a ClickHouse restart must not stop the webhook
// from taking batches into the spool). Until the store opened, every call
// fails with ErrNotOpen, which the live acceptor answers by spooling.
type Lazy struct {
	mu   sync.RWMutex
	st   Store
	stop context.CancelFunc
	done chan struct{}
}

var _ Store = (*Lazy)(nil)

// OpenLazy tries open once, for at most first, then keeps trying in the
// background with exponential backoff (up to 30 s between tries) until it
// succeeds or Close is called.
func OpenLazy(ctx context.Context, open func(context.Context) (Store, error), first time.Duration, log *slog.Logger) *Lazy {
	ctx, cancel := context.WithCancel(ctx)
	l := &Lazy{stop: cancel, done: make(chan struct{})}
	try := func(d time.Duration) (struct{}, error) {
		octx, ocancel := context.WithTimeout(ctx, d)
		defer ocancel()
		st, err := open(octx)
		if err != nil {
			log.Warn("store not reachable; batches go to the spool meanwhile", "err", err)
			return struct{}{}, err
		}
		l.mu.Lock()
		l.st = st
		l.mu.Unlock()
		log.Info("store open")
		return struct{}{}, nil
	}
	if _, err := try(first); err == nil {
		close(l.done)
		return l
	}
	go func() {
		defer close(l.done)
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxInterval = time.Second, 30*time.Second
		_, _ = backoff.Retry(ctx, func() (struct{}, error) { return try(30 * time.Second) },
			backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	}()
	return l
}

func (l *Lazy) get() (Store, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.st == nil {
		return nil, ErrNotOpen
	}
	return l.st, nil
}

// Write stores events and findings (Writer).
func (l *Lazy) Write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.Write(ctx, events, findings)
}

// WriteIncidents stores incidents (Writer).
func (l *Lazy) WriteIncidents(ctx context.Context, incs []incident.Incident) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.WriteIncidents(ctx, incs)
}

// Timeline queries requests (Reader).
func (l *Lazy) Timeline(ctx context.Context, q Query) ([]Entry, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Timeline(ctx, q)
}

// Incidents queries incidents (Reader).
func (l *Lazy) Incidents(ctx context.Context, q IncidentQuery) ([]incident.Incident, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Incidents(ctx, q)
}

// Incident reads one incident (Reader).
func (l *Lazy) Incident(ctx context.Context, id string) (*IncidentDetail, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Incident(ctx, id)
}

// Event reads one request's stages (Reader).
func (l *Lazy) Event(ctx context.Context, auditID string) ([][]byte, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Event(ctx, auditID)
}

// LearnBaseline learns a baseline from the store behind, when it can
// (BaselineReader).
func (l *Lazy) LearnBaseline(ctx context.Context, b *baseline.Baseline, since, until time.Time) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	br, ok := st.(BaselineReader)
	if !ok {
		return errors.New("this store cannot learn a baseline")
	}
	return br.LearnBaseline(ctx, b, since, until)
}

// Findings reads the findings on requests (Reader).
func (l *Lazy) Findings(ctx context.Context, auditIDs []string) ([]detect.Finding, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Findings(ctx, auditIDs)
}

// ObjectBefore reads an object's previous version (Reader).
func (l *Lazy) ObjectBefore(ctx context.Context, ref ObjectRef, t time.Time) (*ObjectVersion, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.ObjectBefore(ctx, ref, t)
}

// Span reads the times the store covers (Reader).
func (l *Lazy) Span(ctx context.Context) (first, last time.Time, err error) {
	st, err := l.get()
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return st.Span(ctx)
}

// PutDeliveries writes notification deliveries (Outbox).
func (l *Lazy) PutDeliveries(ctx context.Context, ds []Delivery) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.PutDeliveries(ctx, ds)
}

// Deliveries reads notification deliveries (Outbox).
func (l *Lazy) Deliveries(ctx context.Context, since time.Time) ([]Delivery, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Deliveries(ctx, since)
}

// Lease asks for the notifier's lease (Outbox).
func (l *Lazy) Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	st, err := l.get()
	if err != nil {
		return false, err
	}
	return st.Lease(ctx, name, holder, ttl)
}

// Close stops opening and closes the store when it was opened.
func (l *Lazy) Close() error {
	l.stop()
	<-l.done
	st, err := l.get()
	if err != nil {
		return nil
	}
	return st.Close()
}
