package live

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/live/spool"
)

// drainIdle is how often an idle drainer looks at the spool even without
// being woken (a wake-up can be missed at shutdown races).
const drainIdle = 2 * time.Second

// drainBackoff paces the drainer's retries while the store is away: the
// first comes quickly (a store restart takes seconds), later ones no more
// often than every 10 s.
func drainBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier = 500*time.Millisecond, 10*time.Second, 2
	return b
}

// drainLoop moves spooled entries into the store, oldest first, and removes
// them from the spool only after the store took them. A crash between the
// two writes them again on restart; the store collapses the duplicates
// ((auditID, stage) is an event's identity). On the write-ahead path it is
// the flusher, and waits until a flush is due (flushWait).
func (a *Acceptor) drainLoop() {
	defer close(a.drained)
	retry := drainBackoff()
	for {
		if wait := a.flushWait(); wait > 0 {
			if !a.pause(wait) {
				return
			}
			continue
		}
		progressed, err := a.drainOne()
		switch {
		case err != nil:
			wait := retry.NextBackOff()
			a.log.Warn("spool drain: store not taking writes yet", "err", err, "retry_in", wait)
			if !a.sleep(wait) {
				return
			}
		case progressed:
			retry.Reset()
			select {
			case <-a.stop:
				return
			default:
			}
		}
	}
}

// pause waits for d, a wake-up or the stop; false means stop.
func (a *Acceptor) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.stop:
		return false
	case <-a.wake:
	case <-t.C:
	}
	return true
}

func (a *Acceptor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.stop:
		return false
	case <-t.C:
		return true
	}
}

// drainTimeout bounds one drain write. Nobody waits on it, so it is long:
// a store that is slow rather than down (a backlog of inserts) is waited
// for instead of being written the same rows again and again.
const drainTimeout = 2 * time.Minute

// Entries moved per store write: a webhook batch is a few hundred events,
// and ClickHouse wants fewer, larger inserts.
const (
	drainMaxEntries = 64
	drainMaxBytes   = 32 << 20
)

// setAside writes a spool entry that cannot be stored to a file of its own
// in the spool's directory (kind-INDEX.entry), logs it and acknowledges it.
func (a *Acceptor) setAside(idx uint64, data []byte, kind string, why error) error {
	path := filepath.Join(a.cfg.Spool.Dir(), fmt.Sprintf("%s-%d.entry", kind, idx))
	if werr := os.WriteFile(path, data, 0o600); werr != nil {
		return fmt.Errorf("spool entry %d %s (%v) and not set aside: %w", idx, kind, why, werr)
	}
	a.log.Error("spool entry "+kind+": set aside, not stored", "index", idx, "path", path, "err", why)
	return a.cfg.Spool.Ack(idx)
}

// drainOne stores the oldest spooled entries in one write. progressed is
// false when the spool is empty.
func (a *Acceptor) drainOne() (progressed bool, err error) {
	first, entries, err := a.cfg.Spool.PeekN(a.drainLimits())
	var corrupt *spool.CorruptError
	if errors.As(err, &corrupt) {
		// Changed on disk since it was written: never store it as it
		// reads now. Keep it aside for a person, count it, and go on.
		a.m.SpoolCorrupt.Inc()
		return true, a.setAside(corrupt.Index, corrupt.Data, "corrupt", corrupt)
	}
	if err != nil || len(entries) == 0 {
		return false, err
	}
	var n, events int // entries decoded and stored together, their events
	if isRowEntry(entries[0]) && a.rows != nil {
		n, events, err = a.drainRows(first, entries)
	} else {
		n, events, err = a.drainRecords(first, entries)
	}
	if err != nil || n == 0 {
		return n == 0 && err == nil, err
	}
	if err := a.cfg.Spool.Ack(first + uint64(n) - 1); err != nil {
		return false, err
	}
	a.spoolFull.Store(false)
	if a.storeDown.Swap(false) {
		a.log.Info("store is back: writing batches to it again, draining the spool")
	}
	a.m.Drained.Add(float64(events))
	if left, _ := a.cfg.Spool.Stats(); left == 0 && !a.wal {
		a.log.Info("spool drained")
	}
	return true, nil
}

// drainRecords stores the leading JSON entries (codec.go) in one Write.
// n is 0 when the first was set aside.
func (a *Acceptor) drainRecords(first uint64, entries [][]byte) (n, events int, err error) {
	var recs []ingest.Record
	var findings []detect.Finding
	for i, data := range entries {
		if isRowEntry(data) && i > 0 {
			break
		}
		r, f, err := decodeEntry(data)
		if err != nil {
			if i > 0 {
				break // store the readable ones before it first
			}
			// An entry this binary cannot read would block the spool for
			// good: keep it aside for a person, and go on.
			return 0, 0, a.setAside(first, data, "unreadable", err)
		}
		recs = append(recs, r...)
		findings = append(findings, f...)
		n++
	}
	if err := a.storeWrite(context.Background(), drainTimeout, recs, findings); err != nil {
		a.storeDown.Store(true)
		return 0, 0, err
	}
	return n, len(recs), nil
}

// drainRows stores the leading row entries (rowcodec.go) in one WriteRows.
func (a *Acceptor) drainRows(first uint64, entries [][]byte) (n, events int, err error) {
	rows := a.rowBuf[:0]
	defer func() {
		clear(rows) // their strings would keep the spool's read buffer alive
		a.rowBuf = rows[:0]
	}()
	var findings []detect.Finding
	for i, data := range entries {
		if !isRowEntry(data) {
			break
		}
		before := len(rows)
		var f []detect.Finding
		rows, f, err = decodeRows(data, rows)
		if err != nil {
			rows = rows[:before]
			if i > 0 {
				break
			}
			return 0, 0, a.setAside(first, data, "unreadable", err)
		}
		findings = append(findings, f...)
		n++
	}
	if err := a.writeRows(context.Background(), rows, findings); err != nil {
		a.storeDown.Store(true)
		return 0, 0, err
	}
	return n, len(rows), nil
}
