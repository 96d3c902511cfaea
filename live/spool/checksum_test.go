package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/wal"
)

// openOldLog opens dir with the WAL library and the options kaudit's spool
// used before it kept its own segment files.
func openOldLog(dir string) (*wal.Log, error) {
	return wal.Open(dir, &wal.Options{SegmentSize: 8 << 20, LogFormat: wal.Binary, SegmentCacheSize: 1, AllowEmpty: true, DirPerms: 0o700, FilePerms: 0o600})
}

// rewriteSegment has change alter the bytes of the spool's first segment
// file in place, as damage on disk would.
func rewriteSegment(t *testing.T, dir string, change func(b []byte)) {
	t.Helper()
	seg := filepath.Join(dir, "00000000000000000001")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	change(b)
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// editSegment changes the first occurrence of old to new (same length) in
// the spool's first segment file, as a flipped bit or an edit on disk would.
func editSegment(t *testing.T, dir string, old, new []byte) {
	t.Helper()
	rewriteSegment(t, dir, func(b []byte) {
		i := bytes.Index(b, old)
		if i < 0 {
			t.Fatalf("%q not in the segment", old)
		}
		copy(b[i:], new)
	})
}

// frameAt is where entry k's frame (of the given magic) starts in b, the
// bytes of a segment whose entries all have that kind of frame.
func frameAt(t *testing.T, b, magic []byte, k int) int {
	t.Helper()
	i := -1
	for range k + 1 {
		j := bytes.Index(b[i+1:], magic)
		if j < 0 {
			t.Fatalf("no frame %d of %q in the segment", k, magic)
		}
		i += j + 1
	}
	return i
}

func fill(t *testing.T, dir string, n int) {
	t.Helper()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Append(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A flipped byte, or an edit of the same length, in an entry on disk fails
// its checksum when read: the entry is reported as corrupt (never returned
// as it reads now), and the entries around it are read as written.
func TestChecksumCatchesChangedEntries(t *testing.T) {
	for name, edit := range map[string][2][]byte{
		"flipped byte":     {[]byte("entry-0002;"), []byte("entry-0\x822;")},
		"same-length edit": {[]byte("entry-0002;"), []byte("entry-9999;")},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, 5)
			editSegment(t, dir, edit[0], edit[1])
			s, err := Open(dir, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			first, got, err := s.PeekN(10, 1<<20)
			if err != nil || len(got) != 2 || !bytes.Equal(got[1], entry(1)) {
				t.Fatalf("PeekN before the damaged entry: %d entries, %v", len(got), err)
			}
			if err := s.Ack(first + 1); err != nil {
				t.Fatal(err)
			}
			idx, data, ok, err := s.Peek()
			var corrupt *CorruptError
			if !ok || !errors.As(err, &corrupt) || corrupt.Index != idx || data != nil || !bytes.Contains(corrupt.Data, edit[1]) {
				t.Fatalf("the damaged entry: ok %v, data %q, err %v", ok, data, err)
			}
			if _, _, err := s.PeekN(10, 1<<20); !errors.As(err, &corrupt) {
				t.Fatalf("PeekN at the damaged entry: %v", err)
			}
			if err := s.Ack(idx); err != nil {
				t.Fatal(err)
			}
			for want := 3; want < 5; want++ {
				idx, data, ok, err := s.Peek()
				if err != nil || !ok || !bytes.Equal(data, entry(want)) {
					t.Fatalf("entry %d after the damaged one: %q %v", want, data, err)
				}
				s.Ack(idx)
			}
		})
	}
}

// Entries written before frames existed (JSON, as kaudit spooled batches)
// are read as they are, from a directory written by github.com/tidwall/wal
// as kaudit wrote its spool then.
func TestEntriesWithoutFrameAreRead(t *testing.T) {
	dir := t.TempDir()
	l, err := openOldLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(`{"v":1,"events":[],"findings":[]}`)
	if err := l.Write(1, old); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(2, []byte("garbage, neither framed nor JSON")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	idx, data, ok, err := s.Peek()
	if err != nil || !ok || !bytes.Equal(data, old) {
		t.Fatalf("an entry of an earlier kaudit: %q %v", data, err)
	}
	s.Ack(idx)
	var corrupt *CorruptError
	if _, _, _, err := s.Peek(); !errors.As(err, &corrupt) {
		t.Fatalf("an unframed entry that is not JSON: %v, want a CorruptError", err)
	}
}

// A damaged WAL length prefix in the middle of the tail segment makes the
// WAL refuse the log; the repair cuts there, but finds the complete,
// verified entries after it (the one whose prefix was hit included) and
// spools them again: before, every acknowledged entry after the damaged
// byte was cut as a torn tail.
func TestDamagedLengthPrefixLosesNothing(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 6)
	rewriteSegment(t, dir, func(b []byte) {
		b[frameAt(t, b, frameMagic, 2)-1] = 0xff // entry 2's WAL length prefix: now a continued varint
	})
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatalf("open with a damaged length prefix: %v", err)
	}
	defer s.Close()
	if s.TornBytes == 0 || s.Salvaged != 4 {
		t.Fatalf("cut %d bytes, salvaged %d entries; want 4 salvaged (entries 2 to 5)", s.TornBytes, s.Salvaged)
	}
	var got []string
	for {
		idx, data, ok, err := s.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(data[:10]))
		s.Ack(idx)
	}
	want := []string{"entry-0000", "entry-0001", "entry-0002", "entry-0003", "entry-0004", "entry-0005"}
	if len(got) != len(want) {
		t.Fatalf("after the repair: %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after the repair: %v, want %v", got, want)
		}
	}
}
