package live

import (
	"context"
	"errors"
	"testing"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// Without a spool (replay), the acceptor writes straight to the store and
// hands a store failure back to the caller instead of hiding it.
func TestNoSpoolReturnsStoreErrors(t *testing.T) {
	st := &flaky{Store: memory.New()}
	a, err := New(Config{Store: st, Pipeline: newPipeline(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	bs, _ := batches(t, 500)
	if err := a.Accept(context.Background(), bs[0]); err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	if err := a.Accept(context.Background(), bs[1]); err == nil || !errors.Is(err, errDown) {
		t.Fatalf("store down without a spool: err = %v, want the store's error", err)
	}
	if err := a.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

// A spool needs a store to drain into.
func TestSpoolWithoutStoreIsRefused(t *testing.T) {
	if _, err := New(Config{Pipeline: newPipeline(t), Spool: openSpool(t)}); err == nil {
		t.Fatal("a spool without a store was accepted")
	}
}

// Replay's way: judge everything, then publish once; the publisher returns
// every incident and stores them all, and a second call with nothing new
// writes nothing.
func TestPublishOnceAfterReplay(t *testing.T) {
	mem := memory.New()
	p := newPipeline(t)
	a, err := New(Config{Store: mem, Pipeline: p})
	if err != nil {
		t.Fatal(err)
	}
	bs, _ := batches(t, 200)
	for _, b := range bs {
		if err := a.Accept(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	var heard [][]incident.Incident
	pub := &Publisher{Pipeline: p, Store: mem, Notify: func(incs []incident.Incident) { heard = append(heard, incs) }}
	incs, err := pub.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) == 0 {
		t.Fatal("no incident from the intrusion sample")
	}
	stored, err := mem.Incidents(context.Background(), store.IncidentQuery{})
	if err != nil || len(stored) != len(incs) {
		t.Fatalf("stored %d incidents (%v), published %d", len(stored), err, len(incs))
	}
	if again, _ := pub.Publish(context.Background()); again != nil {
		t.Errorf("a second publish with nothing new rebuilt %d incidents", len(again))
	}
	// The notifier hears every rebuild once it is stored, and nothing else.
	if len(heard) != 1 || len(heard[0]) != len(incs) {
		t.Errorf("Notify heard %d rebuilds, want 1 of %d incidents", len(heard), len(incs))
	}
}
