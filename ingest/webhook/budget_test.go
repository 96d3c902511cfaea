package webhook

import (
	"context"
	"errors"
	"testing"
	"time"
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
