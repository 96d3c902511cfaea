package spool

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// segments is the spool's files: a FIFO of numbered entries in segment
// files named by the index of their first entry (20 digits), each entry a
// uvarint length then its bytes. That is the binary format of
// github.com/tidwall/wal, which kaudit used before, so a spool directory
// left by an earlier kaudit opens unchanged.
//
// It replaced the library because of what the library did in memory on
// the webhook path: it kept the tail segment in a slice grown by append
// (every batch copied several times over as the slice grew to the segment
// size), copied each entry into a batch first, read a whole segment file
// to read one entry, and rewrote the rest of a segment on every
// acknowledgement. That was 40% of the bytes kaudit allocated under load.
// Here an append is one reused buffer, one write and one fsync; a read is
// one pread of the entry; an acknowledgement deletes the segments it
// empties and records the first pending index in a small file ("first").
//
// Crash safety: an append returns only after fsync, and a torn tail (the
// crash hit a write) is cut at open (repair.go). A lost "first" file
// only makes acknowledged entries pending again, which the store keeps
// once.
type segments struct {
	dir string
	// torn is how many bytes of a torn tail opening cut off, and saved
	// the complete entries found in them (repair.go).
	torn  int64
	saved [][]byte

	mu    sync.Mutex
	segs  []*segment // oldest first; the last is the tail, open for writing
	first uint64     // index of the first pending entry
	next  uint64     // index the next appended entry gets
	buf   []byte     // write buffer, reused (only the committing leader writes)
}

// segment is one file and where its entries are.
type segment struct {
	index uint64   // of its first entry
	path  string   // its file
	offs  []int64  // where each entry's bytes start
	lens  []uint32 // and their length
	plain []int64  // and the size of its payload (payloadSize)
	size  int64    // bytes in the file
	f     *os.File // open for reads (the tail: for writes too)
}

// segmentSize is when a segment is full and the next append starts a new
// one: small enough that an acknowledgement frees disk soon.
const segmentSize = 8 << 20

const firstFile = "first"

func segmentName(index uint64) string { return fmt.Sprintf("%020d", index) }

// openSegments opens or creates the log in dir. A torn tail is cut off
// (cutTail, repair.go), and reported in torn and saved.
func openSegments(dir string) (*segments, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l := &segments{dir: dir}
	if err := l.load(); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// load finds the segment files, indexes their entries and opens the tail.
func (l *segments) load() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var start string // a segment the old library was rewriting at a crash
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || len(name) < 20 {
			continue
		}
		idx, err := strconv.ParseUint(name[:20], 10, 64)
		if err != nil || idx == 0 {
			continue
		}
		switch {
		case len(name) == 20:
			l.segs = append(l.segs, &segment{index: idx, path: filepath.Join(l.dir, name)})
		case name[20:] == ".START":
			start = name
		case name[20:] == ".END":
			return fmt.Errorf("segment %s: a truncation of the tail was under way (kaudit never does one): remove it by hand", name)
		}
	}
	slices.SortFunc(l.segs, func(a, b *segment) int { return cmp.Compare(a.index, b.index) })
	if start != "" {
		// tidwall/wal's TruncateFront wrote the rest of the first
		// segment to START, then deleted what came before: finish it.
		idx, _ := strconv.ParseUint(start[:20], 10, 64)
		kept := l.segs[:0]
		for _, s := range l.segs {
			if s.index <= idx {
				if err := os.Remove(s.path); err != nil {
					return err
				}
				continue
			}
			kept = append(kept, s)
		}
		final := filepath.Join(l.dir, start[:20])
		if err := os.Rename(filepath.Join(l.dir, start), final); err != nil {
			return err
		}
		l.segs = append([]*segment{{index: idx, path: final}}, kept...)
	}
	if len(l.segs) == 0 {
		l.first, l.next = 1, 1
		return l.create(1)
	}
	for i, s := range l.segs {
		data, err := s.scan()
		if err != nil {
			return err
		}
		if good := s.size; good < int64(len(data)) {
			if i < len(l.segs)-1 {
				return fmt.Errorf("segment %s: entry at byte %d is cut short or its length is damaged", s.path, good)
			}
			if l.saved, err = cutTail(s.path, data, good); err != nil {
				return fmt.Errorf("repair %s: %w", s.path, err)
			}
			l.torn = int64(len(data)) - good
		}
		if i > 0 && l.segs[i-1].index+uint64(len(l.segs[i-1].offs)) != s.index {
			return fmt.Errorf("segment %s does not follow the one before it", s.path)
		}
	}
	tail := l.segs[len(l.segs)-1]
	l.next = tail.index + uint64(len(tail.offs))
	l.first = l.segs[0].index
	if b, err := os.ReadFile(filepath.Join(l.dir, firstFile)); err == nil {
		if f, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && f > l.first && f <= l.next {
			l.first = f
		}
	}
	if err := l.dropAcked(); err != nil {
		return err
	}
	f, err := os.OpenFile(tail.path, os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	tail.f = f
	return nil
}

// scan reads where the entries of s are, up to the end of the file or to
// an entry cut short or whose length is damaged: size is where that is.
// It returns the file's bytes, for a torn tail to be cut (load).
func (s *segment) scan() ([]byte, error) {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, err
	}
	pos := 0
	for pos < len(data) {
		size, n := binary.Uvarint(data[pos:])
		if n <= 0 || uint64(len(data)-pos-n) < size {
			break
		}
		s.offs = append(s.offs, int64(pos+n))
		s.lens = append(s.lens, uint32(size))
		s.plain = append(s.plain, payloadSize(data[pos+n:pos+n+int(size)]))
		pos += n + int(size)
	}
	s.size = int64(pos)
	return data, nil
}

// create starts a new tail segment whose first entry is index, and makes
// its name durable.
func (l *segments) create(index uint64) error {
	path := filepath.Join(l.dir, segmentName(index))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600) // redacted, but still the cluster's activity
	if err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	l.segs = append(l.segs, &segment{index: index, path: path, f: f})
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// append writes entries, whose payloads are plain bytes each, as the
// indexes next, next+1…, fsyncs them and only then makes them readable.
// Only one append runs at a time (the group commit's leader); reads and
// acknowledgements go on meanwhile.
func (l *segments) append(entries [][]byte, plain []int64) error {
	l.mu.Lock()
	tail := l.segs[len(l.segs)-1]
	if tail.size >= segmentSize {
		if err := l.create(l.next); err != nil {
			l.mu.Unlock()
			return err
		}
		tail = l.segs[len(l.segs)-1]
	}
	l.mu.Unlock()

	buf := l.buf[:0]
	offs := make([]int64, 0, len(entries))
	for _, e := range entries {
		buf = binary.AppendUvarint(buf, uint64(len(e)))
		offs = append(offs, tail.size+int64(len(buf)))
		buf = append(buf, e...)
	}
	l.buf = buf
	if cap(l.buf) > 4*segmentSize {
		l.buf = nil // one huge round: do not keep its buffer
	}
	if _, err := tail.f.WriteAt(buf, tail.size); err != nil {
		// Cut what part of it was written: the next append starts
		// where this one did.
		_ = tail.f.Truncate(tail.size)
		return err
	}
	if err := tail.f.Sync(); err != nil {
		_ = tail.f.Truncate(tail.size)
		return err
	}
	l.mu.Lock()
	tail.offs = append(tail.offs, offs...)
	for i, e := range entries {
		tail.lens = append(tail.lens, uint32(len(e)))
		tail.plain = append(tail.plain, plain[i])
	}
	tail.size += int64(len(buf))
	l.next += uint64(len(entries))
	l.mu.Unlock()
	return nil
}

// read appends a copy of the entry at index to buf.
func (l *segments) read(index uint64, buf []byte) ([]byte, error) {
	l.mu.Lock()
	if index < l.first || index >= l.next {
		l.mu.Unlock()
		return nil, fmt.Errorf("entry %d is not pending (%d..%d)", index, l.first, l.next)
	}
	i, _ := slices.BinarySearchFunc(l.segs, index, func(s *segment, x uint64) int {
		return cmp.Compare(s.index+uint64(len(s.offs)), x+1)
	})
	s := l.segs[i]
	k := index - s.index
	off, n := s.offs[k], s.lens[k]
	f, err := s.file()
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	at := len(buf)
	buf = slices.Grow(buf, int(n))[:at+int(n)]
	if _, err := f.ReadAt(buf[at:], off); err != nil {
		return nil, fmt.Errorf("%s at byte %d: %w", s.path, off, err)
	}
	return buf, nil
}

// file opens the segment for reads once; l.mu is held.
func (s *segment) file() (*os.File, error) {
	if s.f == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return nil, err
		}
		s.f = f
	}
	return s.f, nil
}

// truncateFront makes index the first pending entry: the segments holding
// only entries before it are deleted, and the index is recorded.
func (l *segments) truncateFront(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index < l.first || index > l.next {
		return fmt.Errorf("truncate to %d outside %d..%d", index, l.first, l.next)
	}
	l.first = index
	tmp := filepath.Join(l.dir, firstFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(index, 10)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, firstFile)); err != nil {
		return err
	}
	return l.dropAcked()
}

// dropAcked deletes the segments before the tail whose entries are all
// acknowledged; l.mu is held (or the log not yet shared).
func (l *segments) dropAcked() error {
	for len(l.segs) > 1 && l.segs[1].index <= l.first {
		s := l.segs[0]
		if s.f != nil {
			s.f.Close()
		}
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			return err
		}
		l.segs = l.segs[1:]
	}
	return nil
}

// pendingSizes returns the size of every pending entry on disk, and of
// its payload, oldest first.
func (l *segments) pendingSizes() (sizes, plain []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		for k, n := range s.lens {
			if s.index+uint64(k) >= l.first {
				sizes = append(sizes, int64(n))
				plain = append(plain, s.plain[k])
			}
		}
	}
	return sizes, plain
}

func (l *segments) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, s := range l.segs {
		if s.f != nil {
			errs = append(errs, s.f.Close())
			s.f = nil
		}
	}
	l.segs = nil
	return errors.Join(errs...)
}
