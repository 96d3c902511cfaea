package spool

import (
	"errors"
	"fmt"
	"time"
)

// Group commit: when every webhook batch is acknowledged from the spool,
// an fsync per batch would bound the ingest rate by the disk's fsync
// latency and spend a write system call per request. Instead, appenders
// queue their entries; the first to find no commit running becomes the
// leader, takes the whole queue, writes it as one batch and fsyncs once,
// then wakes every appender of the round. Appenders that queued while it
// wrote wait, and one of them leads the next round. No appender returns
// before its own entries are fsynced, and a round is all or none.

// commit is one Append waiting for the fsync of its round.
type commit struct {
	entries [][]byte
	plain   []int64 // the size of each entry's payload
	bytes   int64
	done    bool
	err     error
}

// groupCommit appends framed entries, whose payloads are plain bytes
// each, through a commit round. The room check counts what is queued, so
// that concurrent appends never take the spool past its limit together.
func (s *Spool) groupCommit(entries [][]byte, plain []int64) error {
	n := sumLen(entries)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return errors.New("spool closed")
	}
	if s.pending+s.queued+n > s.max {
		return &FullError{Pending: s.pending + s.queued, Max: s.max, Wait: retryAfterFull}
	}
	c := &commit{entries: entries, plain: plain, bytes: n}
	s.queue = append(s.queue, c)
	s.queued += n
	for !c.done && s.committing {
		s.idle.Wait()
	}
	if !c.done {
		s.lead()
	}
	return c.err
}

// lead runs one commit round over everything queued; s.mu is held, and
// released while the log is written.
func (s *Spool) lead() {
	round := s.queue
	s.queue = nil
	s.committing = true
	s.rounds++
	var err error
	if s.log == nil {
		err = errors.New("spool closed")
	} else {
		log := s.log
		s.mu.Unlock()
		err = writeRound(log, round)
		s.mu.Lock()
	}
	now := time.Now().UnixNano()
	for _, c := range round {
		s.queued -= c.bytes
		c.done, c.err = true, err
		if err != nil {
			continue
		}
		for i, e := range c.entries {
			s.sizes = append(s.sizes, int64(len(e)))
			s.plain = append(s.plain, c.plain[i])
			s.payload += c.plain[i]
			s.added = append(s.added, now)
		}
		s.pending += c.bytes
	}
	s.committing = false
	s.idle.Broadcast()
}

// writeRound writes a round's entries, in order, with one write and one
// fsync. Indexes stay valid while s.mu is released: Ack moves the front
// only, and only the leader appends.
func writeRound(l *segments, round []*commit) error {
	var entries [][]byte
	var plain []int64
	for _, c := range round {
		entries = append(entries, c.entries...)
		plain = append(plain, c.plain...)
	}
	if err := l.append(entries, plain); err != nil {
		return fmt.Errorf("spool: write: %w", err)
	}
	return nil
}
