package live

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
)

// The write-ahead path (Config.AckFromSpool). ClickHouse wants few large
// inserts, each a part on disk that merges absorb later, while the
// apiserver sends batches of 400 events and waits for each answer. Writing
// every batch to the store before answering made ClickHouse take an
// insert per 200 ms per table, and kept the answer waiting for it. Here
// the answer waits only for the spool's fsync (shared with the batches
// arriving at the same time), and the flusher hands the store seconds of
// batches at once.

// DefaultFlushInterval is spool.flush_interval when unset: how long an
// acknowledged batch may wait before the flusher writes it, so how stale
// queries may be (plus the write itself).
const DefaultFlushInterval = 2 * time.Second

// DefaultFlushBytes is spool.flush_bytes when unset: a flush starts once
// that much waits, and takes at most that much (about 50,000 events), which
// bounds the flusher's memory: the entries, their rows and the driver's
// blocks came to about three times this much of live heap under load (heap
// profile of cmd/kaudit-load/bench.sh --profile). Larger inserts make
// larger parts, which ClickHouse merges less: going from 32 to 64 MiB cut
// its CPU per event from 21.0 to 15.7 us, and kaudit's from 39.4 to 36.4
// us, for about 120 MiB more resident memory (bench.sh 2m 32 with
// KAUDIT_SPOOL_FLUSH_BYTES set; 128 MiB gave 14.2 us for 350 MiB more).
const DefaultFlushBytes = 64 << 20

// flushMaxEntries bounds the entries of one flush (webhook batches of 400
// events make a 64 MiB flush about 130 entries).
const flushMaxEntries = 4096

// setFlush checks the write-ahead settings.
func (a *Acceptor) setFlush() error {
	a.rows, _ = a.cfg.Store.(store.RowWriter)
	if !a.cfg.AckFromSpool || a.cfg.Store == nil {
		return nil
	}
	if a.cfg.Spool == nil {
		return errors.New("live: acknowledging from the spool needs a spool")
	}
	if a.rows == nil {
		return fmt.Errorf("live: store %T cannot take rendered rows: acknowledge from the store instead", a.cfg.Store)
	}
	a.wal = true
	if a.cfg.FlushInterval <= 0 {
		a.cfg.FlushInterval = DefaultFlushInterval
	}
	if a.cfg.FlushBytes <= 0 {
		a.cfg.FlushBytes = DefaultFlushBytes
	}
	return nil
}

// spoolRows renders the judged batch as rows and appends it to the spool;
// the fsync of its commit round is the acknowledgement. The flusher is
// woken only once a flush is due by size.
func (a *Acceptor) spoolRows(recs []ingest.Record, findings []detect.Finding) error {
	entry, n, err := encodeRows(recs, findings)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	err = a.appendSpoolWith(n, func() error { return a.cfg.Spool.AppendReserved(*entry) })
	releaseEntry(entry) // the spool copied it
	if err != nil {
		return err
	}
	if a.cfg.Spool.Payload() >= a.cfg.FlushBytes {
		a.kick()
	}
	return nil
}

// drainLimits are how many entries and bytes one store write takes from
// the spool.
func (a *Acceptor) drainLimits() (int, int64) {
	if a.wal {
		return flushMaxEntries, a.cfg.FlushBytes
	}
	return drainMaxEntries, drainMaxBytes
}

// flushWait is how long the flusher waits before its next write: zero
// when one is due (FlushBytes wait, or the oldest entry is FlushInterval
// old), else until the oldest entry is due; drainIdle when nothing waits.
// The store-first path drains whatever waits at once.
func (a *Acceptor) flushWait() time.Duration {
	if n, _ := a.cfg.Spool.Stats(); n == 0 {
		return drainIdle
	}
	if !a.wal || a.cfg.Spool.Payload() >= a.cfg.FlushBytes {
		return 0
	}
	oldest, ok := a.cfg.Spool.Oldest()
	if !ok {
		return drainIdle
	}
	return max(a.cfg.FlushInterval-time.Since(oldest), 0)
}

// writeRows stores the rows of spooled entries.
func (a *Acceptor) writeRows(ctx context.Context, rows []store.Row, findings []detect.Finding) error {
	return a.timedWrite(ctx, drainTimeout, len(rows), func(ctx context.Context) error { return a.rows.WriteRows(ctx, rows, findings) })
}

// flushRemaining writes what the spool holds before shutdown, while the
// store takes it and ctx lasts, so that a rolling restart leaves the store
// current; what it cannot write stays in the spool for the next start.
func (a *Acceptor) flushRemaining(ctx context.Context) {
	if !a.wal || a.storeDown.Load() {
		return
	}
	for ctx.Err() == nil {
		if n, _ := a.cfg.Spool.Stats(); n == 0 {
			return
		}
		progressed, err := a.drainOne()
		if err != nil {
			a.log.Warn("flush at shutdown: the spool keeps the rest for the next start", "err", err)
			return
		}
		if !progressed {
			return
		}
	}
}
