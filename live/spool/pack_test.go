package spool

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"testing"
)

// rowsLike is a payload of n bytes that compresses as spooled batches do
// (repeated field names, varying values), and differs with i.
func rowsLike(i, n int) []byte {
	var b bytes.Buffer
	for k := 0; b.Len() < n; k++ {
		fmt.Fprintf(&b, `{"auditID":"%08x-%d","verb":"get","user":{"username":"system:serviceaccount:ns-%d:sa"}},`, k, i, k%7)
	}
	return b.Bytes()[:n]
}

// fillPacked writes n entries of rowsLike(i, size), packed, to a new spool
// in dir.
func fillPacked(t *testing.T, dir string, n, size int) {
	t.Helper()
	s, err := Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Append(rowsLike(i, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Entries from packMin bytes up are packed on disk and read back as
// written, by Peek and PeekN, before and after a reopen; smaller ones and
// ones that do not compress are read back as written too. Stats counts
// bytes on disk, Payload the payloads: the flusher's memory.
func TestPackedEntriesReadAsWritten(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 200<<10)
	rand.New(rand.NewSource(3)).Read(random)
	want := [][]byte{rowsLike(0, 600<<10), entry(1), rowsLike(2, packMin), rowsLike(3, packMin-1), random, rowsLike(5, 1<<20)}
	var payload int64
	for i, e := range want {
		payload += int64(len(e))
		if i%2 == 0 {
			err = s.Append(e)
		} else {
			reserved := append(make([]byte, Headroom), e...)
			err = s.AppendReserved(reserved)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Spool) {
		t.Helper()
		n, disk := s.Stats()
		if n != len(want) || s.Payload() != payload || disk > payload/3 {
			t.Fatalf("%d entries, %d bytes on disk, payload %d; want %d entries, payload %d, packed to a third or less", n, disk, s.Payload(), len(want), payload)
		}
		first, got, err := s.PeekN(100, 1<<30)
		if err != nil || len(got) != len(want) {
			t.Fatalf("PeekN: %d entries, %v", len(got), err)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("entry %d (%d bytes) read back as %d other bytes", i, len(want[i]), len(got[i]))
			}
		}
		if idx, data, ok, err := s.Peek(); err != nil || !ok || idx != first || !bytes.Equal(data, want[0]) {
			t.Fatalf("Peek: %d, %d bytes, %v, %v", idx, len(data), ok, err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, 64<<20); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)

	// PeekN's limit is on payloads: the first four entries' are 608
	// KiB, with the fifth's 808 KiB; on disk all six are under 700 KiB.
	first, got, err := s.PeekN(100, 700<<10)
	if err != nil || len(got) != 4 {
		t.Fatalf("PeekN within 700 KiB of payloads: %d entries, %v; want 4", len(got), err)
	}
	if err := s.Ack(first + 1); err != nil {
		t.Fatal(err)
	}
	if s.Payload() != payload-int64(len(want[0])+len(want[1])) {
		t.Fatalf("payload %d after acknowledging two entries", s.Payload())
	}
}

// A packed entry damaged on disk is caught by its checksum before it is
// decompressed, whatever was hit: its compressed bytes, or the payload
// length its frame claims (which Open reads before any checksum, and must
// not turn into an allocation of gigabytes).
func TestDamagedPackedEntryIsCaught(t *testing.T) {
	for name, at := range map[string]int{"compressed bytes": 100, "payload length": frameHeader} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fillPacked(t, dir, 3, 64<<10)
			rewriteSegment(t, dir, func(b []byte) {
				second := frameAt(t, b, packedMagic, 1)
				b[second+at] = ^b[second+at]
				if at == frameHeader {
					b[second+at] = 0xff // a payload of gigabytes
				}
			})
			s, err := Open(dir, 64<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n, disk := s.Stats(); s.Payload() > 2*(64<<10)+disk { // the two good entries, and the damaged one as on disk
				t.Fatalf("the damaged entry's payload counts as %d bytes (%d entries, %d on disk)", s.Payload(), n, disk)
			}
			first, got, err := s.PeekN(10, 1<<30)
			if err != nil || len(got) != 1 || !bytes.Equal(got[0], rowsLike(0, 64<<10)) {
				t.Fatalf("PeekN before the damaged entry: %d entries, %v", len(got), err)
			}
			s.Ack(first)
			var corrupt *CorruptError
			if _, data, ok, err := s.Peek(); !ok || data != nil || !errors.As(err, &corrupt) || corrupt.Index != first+1 {
				t.Fatalf("the damaged entry: ok %v, %d bytes, %v", ok, len(data), err)
			}
			s.Ack(first + 1)
			if _, data, ok, err := s.Peek(); err != nil || !ok || !bytes.Equal(data, rowsLike(2, 64<<10)) {
				t.Fatalf("the entry after the damaged one: %d bytes, %v", len(data), err)
			}
		})
	}
}

// Packed entries after a damaged WAL length prefix are salvaged, as
// framed ones are (TestDamagedLengthPrefixLosesNothing), and read back as
// written.
func TestPackedEntriesAreSalvaged(t *testing.T) {
	dir := t.TempDir()
	fillPacked(t, dir, 5, 32<<10)
	rewriteSegment(t, dir, func(b []byte) {
		b[frameAt(t, b, packedMagic, 2)-1] = 0xff // entry 2's WAL length prefix: now a continued varint
	})
	s, err := Open(dir, 64<<20)
	if err != nil {
		t.Fatalf("open with a damaged length prefix: %v", err)
	}
	defer s.Close()
	if s.Salvaged != 3 {
		t.Fatalf("salvaged %d entries, want 3 (entries 2 to 4)", s.Salvaged)
	}
	_, got, err := s.PeekN(10, 1<<30)
	if err != nil || len(got) != 5 {
		t.Fatalf("after the repair: %d entries, %v", len(got), err)
	}
	for k := range got {
		if !bytes.Equal(got[k], rowsLike(k, 32<<10)) {
			t.Fatalf("entry %d read back otherwise after the repair", k)
		}
	}
}
