package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
)

// serveStoreRetryFor is how long the ClickHouse writer retries one batch
// for serve when store.retry_for is not set: short, because the apiserver
// waits for the answer and the spool is the better place for a batch the
// store cannot take now.
const serveStoreRetryFor = 3 * time.Second

// errStoreNotOpen is what writes and queries get until the store opened.
var errStoreNotOpen = errors.New("store not reachable yet")

// lazyStore is the store of a server that must start even when the store
// is down (a ClickHouse restart must not stop the webhook from taking
// batches into the spool): it opens the store in the background, retrying,
// and fails every call with errStoreNotOpen until then.
type lazyStore struct {
	mu   sync.RWMutex
	st   store.Store
	stop context.CancelFunc
	done chan struct{}
}

// openLazy tries open once within first, then keeps trying in the
// background with backoff.
func openLazy(ctx context.Context, open func(context.Context) (store.Store, error), first time.Duration, log *slog.Logger) *lazyStore {
	ctx, cancel := context.WithCancel(ctx)
	l := &lazyStore{stop: cancel, done: make(chan struct{})}
	try := func(d time.Duration) bool {
		octx, ocancel := context.WithTimeout(ctx, d)
		defer ocancel()
		st, err := open(octx)
		if err != nil {
			log.Warn("store not reachable; batches go to the spool meanwhile", "err", err)
			return false
		}
		l.mu.Lock()
		l.st = st
		l.mu.Unlock()
		log.Info("store open")
		return true
	}
	if try(first) {
		close(l.done)
		return l
	}
	go func() {
		defer close(l.done)
		backoff := time.Second
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if try(30 * time.Second) {
				return
			}
			backoff = min(backoff*2, 30*time.Second)
		}
	}()
	return l
}

func (l *lazyStore) get() (store.Store, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.st == nil {
		return nil, errStoreNotOpen
	}
	return l.st, nil
}

// Write stores events and findings (store.Store).
func (l *lazyStore) Write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.Write(ctx, events, findings)
}

// WriteIncidents stores incidents (store.Store).
func (l *lazyStore) WriteIncidents(ctx context.Context, incs []incident.Incident) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.WriteIncidents(ctx, incs)
}

// Timeline queries requests (store.Store).
func (l *lazyStore) Timeline(ctx context.Context, q store.Query) ([]store.Entry, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Timeline(ctx, q)
}

// Incidents queries incidents (store.Store).
func (l *lazyStore) Incidents(ctx context.Context, q store.IncidentQuery) ([]incident.Incident, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Incidents(ctx, q)
}

// Incident reads one incident (store.Store).
func (l *lazyStore) Incident(ctx context.Context, id string) (*store.IncidentDetail, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Incident(ctx, id)
}

// Event reads one request's stages (store.Store).
func (l *lazyStore) Event(ctx context.Context, auditID string) ([][]byte, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Event(ctx, auditID)
}

// Close stops opening and closes the store when it was opened.
func (l *lazyStore) Close() error {
	l.stop()
	<-l.done
	st, err := l.get()
	if err != nil {
		return nil
	}
	return st.Close()
}
