// Package spool is kaudit's local write-ahead log: every batch (or, with
// spool.ack_from_spool false, every batch the store cannot take) is
// appended here and fsynced before the apiserver gets its 2xx, concurrent
// appends sharing one write and one fsync (commit.go), and a background
// worker moves it into the store. The files are segments of
// length-prefixed entries (segments.go); this package adds a size limit,
// the bookkeeping of what is still pending, and recovery of a torn tail.
//
// Entries are opaque bytes: what a batch looks like on disk is the business
// of the package that spools it. Each carries a checksum (frame.go) checked
// whenever it is read, and from a few KiB up is packed (compressed) on
// disk, its limit counting packed bytes.
package spool

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// FullError is returned by Append when the entries would take the spool past
// its limit. It carries the time the caller should ask its client to wait:
// the webhook turns it into 429 with Retry-After, which the apiserver honours.
type FullError struct {
	Pending, Max int64
	Wait         time.Duration
}

// Error says how full the spool is.
func (e *FullError) Error() string {
	return fmt.Sprintf("spool full: %d bytes pending, limit %d (spool.max_bytes)", e.Pending, e.Max)
}

// RetryAfter is how long a client should wait before trying again.
func (e *FullError) RetryAfter() time.Duration { return e.Wait }

// retryAfterFull is the wait asked of clients when the spool is full: long
// enough for a drain attempt to make room, short next to the apiserver's
// own 10 s first backoff.
const retryAfterFull = 5 * time.Second

// Spool is a durable FIFO of entries with a byte limit. It is safe for
// concurrent use: appenders (request handlers) and one drainer.
type Spool struct {
	// TornBytes is how many bytes of a torn, never acknowledged tail Open
	// cut off; the caller logs it. Salvaged counts the complete entries
	// found in those bytes (after a damaged length prefix rather than a
	// torn write) and appended again.
	TornBytes int64
	Salvaged  int

	dir string
	max int64

	mu      sync.Mutex
	log     *segments
	sizes   []int64 // sizes of pending entries on disk, oldest first
	plain   []int64 // and of their payloads (what reading them takes)
	added   []int64 // when each pending entry was appended (unix nanoseconds)
	first   uint64  // index of sizes[0]
	pending int64   // sum of sizes
	payload int64   // sum of plain
	peeked  []byte  // the buffer of PeekN's entries, reused
	opened  []byte  // and of their payloads, when packed

	// Group commit (commit.go): appenders queue their entries, and one of
	// them writes and fsyncs every queued entry at once.
	queue      []*commit
	queued     int64 // bytes in queue and being committed, counted against max
	committing bool
	idle       *sync.Cond // signalled when a commit round ends (Close waits)
	rounds     int        // commit rounds so far (each one write and fsync)
}

// Open opens or creates the spool in dir. Entries left by an earlier run
// (acknowledged upstream, not yet in the store) are pending again. A tail
// torn by a crash mid-write (never acknowledged, since fsync had not
// returned) is cut off; TornBytes reports how many bytes were.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("spool %s: limit must be positive, got %d", dir, maxBytes)
	}
	l, err := openSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	saved := l.saved
	l.saved = nil
	s := &Spool{dir: dir, max: maxBytes, log: l, TornBytes: l.torn}
	s.idle = sync.NewCond(&s.mu)
	s.load()
	if len(saved) > 0 {
		// Acknowledged entries after a damaged length prefix: write them
		// again (the store keeps each event once, in any order).
		s.max = max(s.max, s.pending+int64(len(saved))*frameHeader+sumLen(saved))
		if err := s.Append(saved...); err != nil {
			l.close()
			return nil, fmt.Errorf("spool %s: appending %d salvaged entries: %w", dir, len(saved), err)
		}
		s.max, s.Salvaged = maxBytes, len(saved)
	}
	return s, nil
}

// load takes the size of every pending entry from the log's index.
func (s *Spool) load() {
	s.first = s.log.first
	s.sizes, s.plain = s.log.pendingSizes()
	now := time.Now().UnixNano() // an earlier run's entries: their age counts from now
	for i, n := range s.sizes {
		s.added = append(s.added, now)
		s.pending += n
		s.payload += s.plain[i]
	}
}

func sumLen(bs [][]byte) (n int64) {
	for _, b := range bs {
		n += int64(len(b))
	}
	return n
}

// Append writes entries, each framed with its checksum (and packed, from
// packMin bytes), and fsyncs them, all or none. It returns a *FullError,
// writing nothing, when they would pass the limit. Appends from
// concurrent callers are committed together, with one write and one fsync
// (commit.go).
func (s *Spool) Append(entries ...[]byte) error {
	return s.commitFramed(entries, false)
}

// commitFramed frames entries, each packed when its payload is packMin
// bytes or more, and commits them; it keeps no reference to them.
// reserved says that each entry's first Headroom bytes are room for a
// frame (AppendReserved), where one that is not packed is framed in place.
func (s *Spool) commitFramed(entries [][]byte, reserved bool) error {
	var packed []*[]byte
	defer func() {
		for _, p := range packed {
			packedBufs.Put(p)
		}
	}()
	out, plain := make([][]byte, len(entries)), make([]int64, len(entries))
	for i, e := range entries {
		payload := e
		if reserved {
			payload = e[frameHeader:]
		}
		plain[i] = int64(len(payload))
		if len(payload) >= packMin {
			if p, ok := pack(payload); ok {
				packed = append(packed, p)
				out[i] = *p
				continue
			}
		}
		if reserved {
			frameInPlace(e)
			out[i] = e
		} else {
			out[i] = frame(e)
		}
	}
	return s.groupCommit(out, plain)
}

// Headroom is the room AppendReserved wants before each payload: the
// checksum frame is written there instead of copying the payload into a
// framed buffer of its own (an entry is a whole webhook batch, half a
// megabyte).
const Headroom = frameHeader

// AppendReserved is Append for entries whose first Headroom bytes are
// room for the frame: it fills them, and keeps no reference to the entries
// once it returns, so that the caller may reuse them.
func (s *Spool) AppendReserved(entries ...[]byte) error {
	for _, e := range entries {
		if len(e) < frameHeader {
			return fmt.Errorf("spool: entry of %d bytes has no room for its frame", len(e))
		}
	}
	return s.commitFramed(entries, true)
}

// Peek returns the oldest pending entry and its index; ok is false when
// nothing is pending. An entry that fails its checksum is a *CorruptError
// (Ack skips it).
func (s *Spool) Peek() (index uint64, data []byte, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return 0, nil, false, errors.New("spool closed")
	}
	if len(s.sizes) == 0 {
		return 0, nil, false, nil
	}
	data, err = s.log.read(s.first, nil)
	if err != nil {
		return 0, nil, false, fmt.Errorf("spool %s: read %d: %w", s.dir, s.first, err)
	}
	if data, _, err = unframe(s.first, data, nil); err != nil {
		return s.first, nil, true, err
	}
	return s.first, data, true, nil
}

// PeekN returns up to n of the oldest pending entries (at least one when
// any is pending, however large), stopping before maxBytes of payloads
// (Payload) or before an entry that fails its checksum; first is the
// index of the first one. The drainer stores them in one write. When the
// first fails its checksum, the error is a *CorruptError.
//
// The entries share two buffers, which the next PeekN overwrites: the
// drainer is done with them by then, and a fresh buffer for every write
// was an eighth of all kaudit allocated under load.
func (s *Spool) PeekN(n int, maxBytes int64) (first uint64, entries [][]byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return 0, nil, errors.New("spool closed")
	}
	k, total, payload := 0, int64(0), int64(0)
	for ; k < n && k < len(s.sizes); k++ {
		if k > 0 && payload+s.plain[k] > maxBytes {
			break
		}
		total += s.sizes[k]
		payload += s.plain[k]
	}
	// Room for them all at once, so that reading one never moves those
	// read before it; packed ones are opened into a second buffer.
	buf := slices.Grow(s.peeked[:0], int(total))
	opened := slices.Grow(s.opened[:0], int(payload))
	defer func() {
		if int64(cap(buf)) <= 2*maxBytes { // not one huge entry's, for good
			s.peeked = buf[:0]
		}
		if int64(cap(opened)) <= 2*maxBytes {
			s.opened = opened[:0]
		}
	}()
	for i := range k {
		at, index := len(buf), s.first+uint64(i)
		if buf, err = s.log.read(index, buf); err != nil {
			return 0, nil, fmt.Errorf("spool %s: read %d: %w", s.dir, index, err)
		}
		var data []byte
		if data, opened, err = unframe(index, buf[at:], opened); err != nil {
			if i == 0 {
				return s.first, nil, err
			}
			break
		}
		entries = append(entries, data)
	}
	return s.first, entries, nil
}

// Ack removes every entry up to and including index: they are in the store.
func (s *Spool) Ack(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return errors.New("spool closed")
	}
	if index < s.first || index >= s.first+uint64(len(s.sizes)) {
		return fmt.Errorf("spool %s: ack of %d outside pending %d..%d", s.dir, index, s.first, s.first+uint64(len(s.sizes)))
	}
	if err := s.log.truncateFront(index + 1); err != nil {
		return fmt.Errorf("spool %s: truncate: %w", s.dir, err)
	}
	k := int(index - s.first + 1)
	for i, n := range s.sizes[:k] {
		s.pending -= n
		s.payload -= s.plain[i]
	}
	s.sizes = append(s.sizes[:0], s.sizes[k:]...)
	s.plain = append(s.plain[:0], s.plain[k:]...)
	s.added = append(s.added[:0], s.added[k:]...)
	s.first = index + 1
	return nil
}

// Stats returns the number of pending entries and their bytes on disk
// (frames included).
func (s *Spool) Stats() (entries int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sizes), s.pending
}

// Payload returns the bytes of the pending entries' payloads, as they
// were appended: what reading them takes in memory, where Stats counts
// what they take on disk, packed.
func (s *Spool) Payload() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.payload
}

// Oldest returns when the oldest pending entry was appended (by this
// process; at Open for an earlier run's entries); ok is false when nothing
// is pending. Its age is how far the store lags behind what was
// acknowledged.
func (s *Spool) Oldest() (at time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.added) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.added[0]), true
}

// HasRoom reports whether an entry of n bytes (and its frame) fits under
// the limit.
func (s *Spool) HasRoom(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log != nil && s.pending+s.queued+n+frameHeader <= s.max
}

// Max is the spool's byte limit.
func (s *Spool) Max() int64 { return s.max }

// Close closes the log; pending entries stay on disk for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.committing {
		s.idle.Wait() // a commit round in progress finishes first
	}
	if s.log == nil {
		return nil
	}
	err := s.log.close()
	s.log = nil
	if err != nil {
		return fmt.Errorf("spool %s: close: %w", s.dir, err)
	}
	return nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }
