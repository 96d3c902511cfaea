package spool

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Concurrent appends are committed in shared rounds, each entry once, in
// an order consistent with every appender's own order, and all survive a
// reopen.
func TestGroupCommitConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	const appenders, each = 16, 50
	var wg sync.WaitGroup
	for g := 0; g < appenders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := s.Append([]byte(fmt.Sprintf("g%02d-%03d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if s.rounds >= appenders*each {
		t.Fatalf("%d commit rounds for %d appends: none shared an fsync", s.rounds, appenders*each)
	}
	t.Logf("%d appends in %d commit rounds", appenders*each, s.rounds)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, entries, err := s.PeekN(appenders*each+1, 1<<30)
	if err != nil || len(entries) != appenders*each {
		t.Fatalf("after reopen: %d entries from %d (%v), want %d", len(entries), first, err, appenders*each)
	}
	next := map[string]int{}
	for _, e := range entries {
		var g, i int
		if _, err := fmt.Sscanf(string(e), "g%02d-%03d", &g, &i); err != nil {
			t.Fatalf("entry %q: %v", e, err)
		}
		key := fmt.Sprint(g)
		if i != next[key] {
			t.Fatalf("appender %d: entry %d after %d", g, i, next[key]-1)
		}
		next[key]++
	}
}

// Concurrent appends never take the spool past its limit together: the
// room check counts entries queued for a round.
func TestGroupCommitKeepsTheLimit(t *testing.T) {
	entry := bytes.Repeat([]byte("x"), 1000)
	limit := int64(20 * (len(entry) + frameHeader))
	s, err := Open(t.TempDir(), limit)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Append(entry)
			mu.Lock()
			defer mu.Unlock()
			var fe *FullError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &fe):
				full++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n, b := s.Stats()
	if ok != 20 || full != 44 || n != 20 || b != limit {
		t.Fatalf("%d appended, %d refused, spool %d entries %d bytes; want 20 of 64 taken, exactly at the limit %d", ok, full, n, b, limit)
	}
}

// Oldest is when the oldest pending entry was appended: the store's lag.
func TestOldestFollowsAck(t *testing.T) {
	s, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.Oldest(); ok {
		t.Fatal("an empty spool has an oldest entry")
	}
	t0 := time.Now()
	_ = s.Append([]byte("a"))
	time.Sleep(20 * time.Millisecond)
	t1 := time.Now()
	_ = s.Append([]byte("b"))
	if at, ok := s.Oldest(); !ok || at.Before(t0) || !at.Before(t1) {
		t.Fatalf("oldest %v (%v), want between %v and %v", at, ok, t0, t1)
	}
	idx, _, _, _ := s.Peek()
	_ = s.Ack(idx)
	if at, ok := s.Oldest(); !ok || at.Before(t1) {
		t.Fatalf("after the first is acknowledged: oldest %v, want the second's (after %v)", at, t1)
	}
}
