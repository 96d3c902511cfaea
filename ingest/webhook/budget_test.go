package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kaudit/kaudit/ingest"
)

// Two requests of one client each holding half its share and both needing
// more do not wait for each other until they time out: the younger gives
// up without waiting, and the older gets its bytes.
func TestBudgetOldestHolderProgresses(t *testing.T) {
	b := newBudget(1000, 100)
	// No deadline passes within the test: an answer of the younger holder
	// is its giving up, not a timeout.
	deadline := time.Now().Add(time.Hour)
	older := b.open(context.Background(), "c", deadline)
	younger := b.open(context.Background(), "c", deadline)
	if older.add(50) != nil || younger.add(50) != nil {
		t.Fatal("the share did not take two halves")
	}
	done := make(chan error, 1)
	go func() { done <- older.add(30) }() // waits for room
	// Room comes only when the younger holder closes: if it waited for
	// room, both would wait until their deadlines.
	busy := make(chan error, 1)
	go func() { busy <- younger.add(30) }()
	select {
	case err := <-busy:
		if !errors.Is(err, errBudgetBusy) {
			t.Fatalf("the younger holder: %v, want errBudgetBusy", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the younger holder waits for room the older one waits for too, instead of giving up")
	}
	younger.close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the older holder: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the older holder did not get its bytes once the younger gave up")
	}
	older.close()
	if b.used != 0 || len(b.clients) != 0 || len(b.holders) != 0 {
		t.Fatalf("after both closed: used %d, clients %d, holders %d", b.used, len(b.clients), len(b.holders))
	}
	// A request holding nothing waits for room, until its deadline.
	full := b.open(context.Background(), "c", deadline)
	full.add(100)
	late := b.open(context.Background(), "c", time.Now().Add(50*time.Millisecond))
	if err := late.add(10); !errors.Is(err, errBudgetBusy) {
		t.Fatalf("a new request at a full share: %v", err)
	}
	late.close()
	full.close()
}

// A list the apiserver wrote is weighed whole before its one-pass
// decoding, by a bound (every opening brace an item), and then holds what
// weighing its items one by one holds: the rest is given back at once. A
// list with a bad item, and one whose bound is too large a part of a
// client's share, are weighed item by item, and hold the same.
func TestOnePassKeepsTheItemsWeight(t *testing.T) {
	items := sampleItems(t, 300)
	apiserverList := func(items []json.RawMessage) []byte {
		var b bytes.Buffer
		b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(it)
		}
		b.WriteString("]}")
		return b.Bytes()
	}
	withBad := append(append([]json.RawMessage{}, items[:10]...), json.RawMessage(`{"stage":"ResponseComplete"}`))
	for _, tc := range []struct {
		name      string
		items     []json.RawMessage
		clientMax int64
		took      bool // the list was weighed whole
		onePass   bool // and decoded in one pass
	}{
		{"good list", items, 1 << 30, true, true},
		{"a bad item", withBad, 1 << 30, true, false},
		{"bound too large a part of the share", items, 8 << 20, false, false},
	} {
		var want int64
		for _, it := range tc.items {
			want += itemWeight(len(it))
		}
		b := newBudget(1<<30, tc.clientMax)
		c := b.open(context.Background(), "c", time.Now().Add(time.Hour))
		probe := &probeWeigher{weigher: &weigher{c: c}}
		batch, _, err := ingest.DecodeBatchFunc(apiserverList(tc.items), "w", probe)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.held != want || b.used != want {
			t.Errorf("%s: holds %d (budget %d) after decoding %d records, want %d as item by item", tc.name, c.held, b.used, len(batch.Records), want)
		}
		if probe.took != tc.took || probe.kept != tc.onePass {
			t.Errorf("%s: list weighed whole %v, decoded in one pass %v; want %v, %v", tc.name, probe.took, probe.kept, tc.took, tc.onePass)
		}
		c.close()
		if b.used != 0 || len(b.holders) != 0 {
			t.Errorf("%s: after close, used %d, holders %d", tc.name, b.used, len(b.holders))
		}
	}
}

// probeWeigher is the handler's weigher, telling whether it took a list
// whole and kept it (settled with items).
type probeWeigher struct {
	*weigher
	took, kept bool
}

func (p *probeWeigher) List(maxItems, n int) bool {
	ok := p.weigher.List(maxItems, n)
	p.took = p.took || ok
	return ok
}

func (p *probeWeigher) Settle(items, n int) {
	p.kept = p.kept || items > 0
	p.weigher.Settle(items, n)
}
