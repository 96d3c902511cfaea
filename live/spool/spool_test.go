package spool

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/wal"
)

func entry(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("entry-%04d;", i)), 10) }

func TestAppendPeekAckReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := s.Append(entry(2*i), entry(2*i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if n, b := s.Stats(); n != 10 || b != 10*int64(len(entry(0))+frameHeader) {
		t.Fatalf("stats %d entries %d bytes", n, b)
	}
	idx, data, ok, err := s.Peek()
	if err != nil || !ok || !bytes.Equal(data, entry(0)) {
		t.Fatalf("peek: %d %q %v %v", idx, data, ok, err)
	}
	if err := s.Ack(idx + 2); err != nil { // entries 0..2 are in the store
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart finds exactly the entries not acknowledged to the store.
	s, err = Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.Stats(); n != 7 {
		t.Fatalf("after reopen: %d pending, want 7", n)
	}
	for want := 3; want < 10; want++ {
		idx, data, ok, err := s.Peek()
		if err != nil || !ok {
			t.Fatalf("peek %d: %v %v", want, ok, err)
		}
		if !bytes.Equal(data, entry(want)) {
			t.Fatalf("entry %d: got %q", want, data[:12])
		}
		if err := s.Ack(idx); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok, _ := s.Peek(); ok {
		t.Fatal("drained spool still has an entry")
	}
	// Fully drained, it takes new entries and survives a reopen empty.
	if err := s.Append(entry(10)); err != nil {
		t.Fatal(err)
	}
	idx, _, _, _ = s.Peek()
	if err := s.Ack(idx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, b := s2.Stats(); n != 0 || b != 0 {
		t.Fatalf("drained spool reopened with %d entries, %d bytes", n, b)
	}
}

func TestFullRefusesAndWritesNothing(t *testing.T) {
	s, err := Open(t.TempDir(), 3*int64(len(entry(0))+frameHeader))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Append(entry(0), entry(1)); err != nil {
		t.Fatal(err)
	}
	err = s.Append(entry(2), entry(3))
	var full *FullError
	if !errors.As(err, &full) || full.RetryAfter() <= 0 {
		t.Fatalf("append past the limit: %v", err)
	}
	if n, _ := s.Stats(); n != 2 {
		t.Fatalf("a refused append wrote something: %d pending", n)
	}
	if !s.HasRoom(int64(len(entry(0)))) || s.HasRoom(2*int64(len(entry(0))+frameHeader)) {
		t.Fatal("HasRoom disagrees with the limit")
	}
	idx, _, _, _ := s.Peek()
	if err := s.Ack(idx); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(entry(2), entry(3)); err != nil {
		t.Fatalf("after a drain the spool should take more: %v", err)
	}
}

// A crash in the middle of a write leaves a torn entry at the tail; the
// complete entries before it must come back.
func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Append(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := filepath.Join(dir, "00000000000000000001")
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A length prefix announcing 200 bytes, followed by only 5.
	if _, err := f.Write([]byte{200, 1, 'p', 'a', 'r', 't', 'i'}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err = Open(dir, 1<<20)
	if err != nil {
		t.Fatalf("open after a torn write: %v", err)
	}
	defer s.Close()
	if s.TornBytes != 7 {
		t.Fatalf("cut %d bytes, want 7", s.TornBytes)
	}
	if n, _ := s.Stats(); n != 3 {
		t.Fatalf("%d entries survived, want 3", n)
	}
	if err := s.Append(entry(3)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Stats(); n != 4 {
		t.Fatalf("%d entries after append, want 4", n)
	}
}

func TestOpenRejectsNoLimit(t *testing.T) {
	if _, err := Open(t.TempDir(), 0); err == nil {
		t.Fatal("a spool without a limit opened")
	}
}

// A spool directory an earlier kaudit left (written by the WAL library,
// entries acknowledged by its TruncateFront, several segments) opens with
// exactly its pending entries, and takes new ones after them.
func TestOpensSpoolOfEarlierKaudit(t *testing.T) {
	dir := t.TempDir()
	l, err := wal.Open(dir, &wal.Options{SegmentSize: 1 << 10, LogFormat: wal.Binary, AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if err := l.Write(uint64(i+1), frame(entry(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFront(13); err != nil { // entries 0..11 were stored
		t.Fatal(err)
	}
	l.Close()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Stats(); n != 28 {
		t.Fatalf("%d pending, want 28", n)
	}
	if err := s.Append(entry(40)); err != nil {
		t.Fatal(err)
	}
	first, got, err := s.PeekN(100, 1<<20)
	if err != nil || len(got) != 29 {
		t.Fatalf("PeekN: %d entries, %v", len(got), err)
	}
	for i, data := range got {
		if !bytes.Equal(data, entry(12+i)) {
			t.Fatalf("entry %d: %q", 12+i, data[:10])
		}
	}
	// Acknowledged part-way into a segment, the rest survives a restart.
	if err := s.Ack(first + 9); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	idx, data, ok, err := s.Peek()
	if err != nil || !ok || idx != first+10 || !bytes.Equal(data, entry(22)) {
		t.Fatalf("after restart: %d %q %v %v", idx, data, ok, err)
	}
	if n, _ := s.Stats(); n != 19 {
		t.Fatalf("%d pending after restart, want 19", n)
	}
}

// Acknowledged segments are deleted: a drained spool keeps one segment.
func TestAckDeletesDrainedSegments(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Random bytes: packing leaves them their size.
	big := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(big)
	for i := 0; i < 8; i++ {
		if err := s.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	segs := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "0*"))
		return len(m)
	}
	if n := segs(); n < 3 {
		t.Fatalf("%d segments for 24 MiB, want 3 or more", n)
	}
	first, got, err := s.PeekN(100, 1<<30)
	if err != nil || len(got) != 8 {
		t.Fatalf("PeekN: %d, %v", len(got), err)
	}
	if err := s.Ack(first + 7); err != nil {
		t.Fatal(err)
	}
	if n := segs(); n != 1 {
		t.Fatalf("%d segments after a full drain, want 1", n)
	}
	if err := s.Append(entry(1)); err != nil {
		t.Fatal(err)
	}
	if idx, data, ok, err := s.Peek(); err != nil || !ok || idx != first+8 || !bytes.Equal(data, entry(1)) {
		t.Fatalf("after the drain: %d %q %v %v", idx, data, ok, err)
	}
}

// Successive PeekN calls share one buffer: each returns its own entries,
// small after large and large after small, and the entries of one call
// never overlap.
func TestPeekNReusesItsBuffer(t *testing.T) {
	s, err := Open(t.TempDir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sized := func(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, n) }
	sizes := []int{100, 5000, 10, 1 << 20, 3, 70000, 7, 7, 7}
	for i, n := range sizes {
		if err := s.Append(sized(i, n)); err != nil {
			t.Fatal(err)
		}
	}
	next := 0
	for _, take := range []int{2, 1, 3, 1, 2} {
		first, got, err := s.PeekN(take, 1<<30)
		if err != nil || len(got) != take {
			t.Fatalf("PeekN(%d): %d entries, %v", take, len(got), err)
		}
		for k, data := range got {
			if !bytes.Equal(data, sized(next+k, sizes[next+k])) {
				t.Fatalf("entry %d: %d bytes starting %q", next+k, len(data), data[:min(len(data), 4)])
			}
		}
		if err := s.Ack(first + uint64(take) - 1); err != nil {
			t.Fatal(err)
		}
		next += take
	}
}
