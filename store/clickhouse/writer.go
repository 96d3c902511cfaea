package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/cenkalti/backoff/v5"
	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
)

// pending is one batch: the rows of every Write since it was opened, sent
// to ClickHouse as one INSERT per table (on one server, the copies of
// events are filled by the server from the events insert: serverCopies).
// ClickHouse wants few large inserts (each makes a part on disk that
// merges must absorb), while the pipeline hands over a few hundred events
// at a time: the writer gathers them.
type pending struct {
	ev    eventCols
	imp   eventCols // the impersonated requests among ev, for events_impersonated (on a cluster)
	src   eventCols // ev once per source address, for events_by_source (on a cluster)
	srcIP []string  // the address of each src row
	fi    findingCols
	first time.Time
	// stored marks the tables whose insert succeeded, so that a retry
	// after another insert failed does not send them again.
	stored [6]bool
	done   chan struct{}
	err    error
}

// writer batches writes and sends them from one goroutine, in order,
// retrying a failed batch with backoff.
type writer struct {
	s *Store

	mu       sync.Mutex
	cur      *pending   // open batch, accepting rows
	queue    []*pending // sealed batches, oldest first
	last     *pending   // newest batch; Flush waits for it
	drained  chan struct{}
	failed   error // first batch that failed for good
	reported bool  // failed was returned by an async Write already
	closing  bool

	// spare holds the column storage of sent batches for the next ones:
	// growing 20 columns of 20,000 rows afresh for every batch cost more
	// CPU than filling them.
	spare []eventCols

	wake chan struct{}
	done chan struct{}
}

// maxSpare bounds the column sets kept for reuse (each holds a batch).
const maxSpare = 4

// takeSpare returns empty column storage, reused when there is some. The
// caller holds mu.
func (w *writer) takeSpare() eventCols {
	if n := len(w.spare); n > 0 {
		c := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return c
	}
	return eventCols{}
}

// recycle keeps a sent batch's column storage for reuse. Nothing reads a
// batch's columns once it is done. The caller holds mu.
func (w *writer) recycle(b *pending) {
	for _, c := range []*eventCols{&b.ev, &b.src} {
		if len(w.spare) < maxSpare && cap(c.event) > 0 {
			c.reset()
			w.spare = append(w.spare, *c)
		}
		*c = eventCols{}
	}
	b.imp, b.srcIP, b.fi = eventCols{}, nil, findingCols{}
}

func newWriter(s *Store) *writer {
	w := &writer{s: s, drained: make(chan struct{}), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// Write stores events and findings. Without Config.Async it returns once
// they are stored in ClickHouse (nil) or once retries are exhausted (the
// error), so its caller acknowledges only what is durable.
func (s *Store) Write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error {
	return s.w.write(ctx, events, findings)
}

func (w *writer) write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error {
	now := time.Now()
	rows, err := convert(events, now)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var fi findingCols
	for i := range findings {
		if err := fi.add(&findings[i], now); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	cfg := &w.s.cfg
	if len(rows) == 0 && fi.len() == 0 {
		return nil
	}
	w.mu.Lock()
	if err := w.waitForRoom(ctx); err != nil {
		w.mu.Unlock()
		return err
	}
	b := w.add(rows, &fi, now)
	var async error
	if cfg.Async && w.failed != nil && !w.reported {
		w.reported = true
		async = w.failed
	}
	w.mu.Unlock()
	if cfg.Async {
		return async
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		// The batch may still land; a caller that retries writes
		// duplicates, which every query collapses.
		return fmt.Errorf("store: waiting for the batch: %w", ctx.Err())
	}
}

// waitForRoom waits, with w.mu held (released while it waits), until the
// queue of sealed batches has room: a store that cannot keep up slows its
// writers down instead of growing memory.
func (w *writer) waitForRoom(ctx context.Context) error {
	for len(w.queue) >= w.s.cfg.MaxQueued && !w.closing {
		ch := w.drained
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			w.mu.Lock()
			return fmt.Errorf("store: waiting for earlier batches: %w", ctx.Err())
		}
		w.mu.Lock()
	}
	if w.closing {
		return errors.New("store: write after close")
	}
	return nil
}

// add appends rows and findings to the batch being filled (starting one
// when there is none) and seals it once it is large enough; w.mu is held.
func (w *writer) add(rows []eventRow, fi *findingCols, now time.Time) *pending {
	if w.cur == nil {
		w.cur = &pending{first: now, done: make(chan struct{}), ev: w.takeSpare(), src: w.takeSpare()}
		w.last = w.cur
		w.notify()
	}
	b := w.cur
	copies := !w.s.serverCopies()
	for i := range rows {
		r := &rows[i]
		b.addRequest(copies, r.e.ImpersonatedUser, r.e.SourceIPs, func(c *eventCols) { c.add(r) })
	}
	appendFindings(&b.fi, fi)
	if b.ev.len() >= w.s.cfg.BatchRows || b.ev.bytes >= w.s.cfg.BatchBytes {
		w.seal()
	}
	return b
}

func appendFindings(dst, src *findingCols) {
	dst.ts = append(dst.ts, src.ts...)
	dst.timeUs = append(dst.timeUs, src.timeUs...)
	dst.auditID = append(dst.auditID, src.auditID...)
	dst.stage = append(dst.stage, src.stage...)
	dst.rule = append(dst.rule, src.rule...)
	dst.severity = append(dst.severity, src.severity...)
	dst.actor = append(dst.actor, src.actor...)
	dst.finding = append(dst.finding, src.finding...)
	dst.version = append(dst.version, src.version...)
}

// seal moves the open batch to the queue. The caller holds mu.
func (w *writer) seal() {
	if w.cur == nil {
		return
	}
	w.queue = append(w.queue, w.cur)
	w.cur = nil
	w.notify()
}

func (w *writer) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// broadcast wakes writers waiting for room in the queue. The caller holds mu.
func (w *writer) broadcast() {
	close(w.drained)
	w.drained = make(chan struct{})
}

// run sends batches in order: sealed ones first, then the open one once it
// is BatchAge old (or at close).
func (w *writer) run() {
	defer close(w.done)
	age := w.s.cfg.BatchAge
	for {
		w.mu.Lock()
		var b *pending
		wait := time.Duration(-1)
		switch {
		case len(w.queue) > 0:
			b = w.queue[0]
			w.queue = w.queue[1:]
			w.broadcast()
		case w.cur != nil:
			if a := time.Since(w.cur.first); w.closing || a >= age {
				b, w.cur = w.cur, nil
			} else {
				wait = age - a
			}
		case w.closing:
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if b == nil {
			if wait < 0 {
				<-w.wake
			} else {
				t := time.NewTimer(wait)
				select {
				case <-w.wake:
				case <-t.C:
				}
				t.Stop()
			}
			continue
		}
		b.err = w.send(b)
		w.mu.Lock()
		if b.err != nil && w.failed == nil {
			w.failed = b.err
		}
		w.recycle(b)
		w.broadcast()
		w.mu.Unlock()
		close(b.done)
	}
}

// send inserts a batch, retrying with exponential backoff (and jitter, so
// that several kaudit processes do not retry in step) for RetryFor.
func (w *writer) send(b *pending) error {
	cfg := &w.s.cfg
	attempts := 0
	_, err := w.s.retry(context.Background(), func() (struct{}, error) {
		attempts++
		return struct{}{}, w.insert(b)
	}, func(err error, next time.Duration) {
		cfg.Logf("store: insert of %d events failed (attempt %d), retrying in %s: %v", b.ev.len(), attempts, next.Round(time.Millisecond), err)
	})
	if err != nil {
		return fmt.Errorf("store: batch of %d events and %d findings not stored after %d attempts over %s: %w",
			b.ev.len(), b.fi.len(), attempts, cfg.RetryFor, err)
	}
	return nil
}

// addRequest appends one request to the batch, with add appending its
// columns to the eventCols given: to ev, and, when kaudit inserts the
// copies of events itself (copies: on a cluster), to imp when it was
// made as someone else and to src once per source address.
func (b *pending) addRequest(copies bool, impersonated string, sourceIPs []string, add func(*eventCols)) {
	add(&b.ev)
	if !copies {
		return
	}
	if impersonated != "" {
		add(&b.imp)
	}
	for _, ip := range sourceIPs {
		add(&b.src)
		b.srcIP = append(b.srcIP, ip)
	}
}

// serverCopies reports whether ClickHouse fills the copies of events
// (events_by_object, event_index, events_by_source, events_impersonated)
// from each insert into events, through the views of migrations 5 and 6:
// on one server it does; on a cluster kaudit inserts them (schema.go says
// why).
func (s *Store) serverCopies() bool { return s.cfg.Cluster == "" }

// insertTimeout bounds one attempt, so that a server that hangs rather
// than refuses is retried too.
const insertTimeout = 2 * time.Minute

func (w *writer) insert(b *pending) error {
	ctx, cancel := context.WithTimeout(context.Background(), insertTimeout)
	defer cancel()
	steps := []struct {
		table, columns string
		cols           func() []any
		rows           int
		copy           bool // a copy of events, which the server fills itself when serverCopies
	}{
		{"events", eventColumns, b.ev.columns, b.ev.len(), false},
		{"events_by_object", narrowColumns, b.ev.narrow, b.ev.len(), true},
		{"event_index", indexColumns, b.ev.index, b.ev.len(), true},
		{"events_by_source", "source_ip, " + narrowColumns, func() []any { return append([]any{b.srcIP}, b.src.narrow()...) }, b.src.len(), true},
		{"events_impersonated", narrowColumns, b.imp.narrow, b.imp.len(), true},
		{"findings", findingColumns, b.fi.columns, b.fi.len(), false},
	}
	serverCopies := w.s.serverCopies()
	// The events insert (the JSON, most of the bytes; on one server the
	// views filling the copies run on its thread) and the others (the
	// findings, and on a cluster the copies) go on two connections at
	// once: ClickHouse works on one INSERT with one thread, so this keeps
	// both of a small server's cores busy.
	run := func(idx ...int) error {
		for _, i := range idx {
			st := steps[i]
			if b.stored[i] {
				continue
			}
			if st.rows > 0 && !(st.copy && serverCopies) {
				if err := w.s.insertColumns(ctx, st.table, st.columns, st.cols()); err != nil {
					return err
				}
			}
			b.stored[i] = true
		}
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- run(0) }()
	err := run(1, 2, 3, 4, 5)
	if eventsErr := <-errc; eventsErr != nil {
		return eventsErr
	}
	return err
}

// insertBlockRows is how many rows go into each block of an INSERT. The
// driver copies every appended string into buffers it grows as it goes;
// sending a batch as blocks of this size (Flush) lets it reuse the same
// buffers, which cut kaudit's CPU per stored event by half (growing and
// page-faulting 30 MB buffers cost more than marshaling the events). The
// server squashes the blocks of one INSERT back into one part
// (min_insert_block_size_rows), so parts stay large.
const insertBlockRows = 2048

// insertColumns sends one INSERT with its columns named (18.16.1 refuses a
// batch insert without a column list).
func (s *Store) insertColumns(ctx context.Context, table, columns string, cols []any) error {
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+columns+")")
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	rows := columnLen(cols[0])
	reserve(batch, cols, rows)
	for lo := 0; lo < rows; lo += insertBlockRows {
		hi := min(lo+insertBlockRows, rows)
		for i, c := range cols {
			if err := appendColumn(batch.Column(i), c, lo, hi); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("insert into %s: column %d: %w", table, i, err)
			}
		}
		if hi < rows {
			if err := batch.Flush(); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("insert into %s: %w", table, err)
			}
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// reserve sizes the batch's string columns for the largest block of the
// insert before any is appended. The driver makes fresh columns for every
// INSERT and grows each one's buffer as strings are appended, copying it
// at every step (by a quarter at a time once large): under load, those
// copies were most of kaudit's memory traffic at insert, five times the
// copying of the strings themselves. One string of the block's size,
// appended then reset, leaves the buffer at its size.
func reserve(batch driver.Batch, cols []any, rows int) {
	bcols := batch.Columns()
	for i, c := range cols {
		n := maxBlockBytes(c, rows)
		if n < 4096 || n > maxReserve || i >= len(bcols) {
			continue
		}
		fill := filler(n)
		var err error
		if _, ok := c.([][]string); ok {
			err = bcols[i].AppendRow([]string{fill})
		} else {
			err = bcols[i].AppendRow(fill)
		}
		if err == nil {
			bcols[i].Reset()
		}
	}
}

// maxReserve bounds what reserve asks for: a block holding a few huge
// events grows its buffer as before.
const maxReserve = 32 << 20

// maxBlockBytes is the most bytes of strings any block of the insert
// holds in column c (0 for a column of numbers).
func maxBlockBytes(c any, rows int) int {
	most := 0
	for lo := 0; lo < rows; lo += insertBlockRows {
		n := 0
		switch v := c.(type) {
		case []string:
			for _, s := range v[lo:min(lo+insertBlockRows, rows)] {
				n += len(s)
			}
		case [][]string:
			for _, r := range v[lo:min(lo+insertBlockRows, rows)] {
				for _, s := range r {
					n += len(s)
				}
			}
		default:
			return 0
		}
		most = max(most, n)
	}
	return most
}

// zeros backs filler: never written, shared by concurrent inserts.
var zeros atomic.Pointer[[]byte]

// filler returns a string of n bytes (at most maxReserve), from one array
// kept for the purpose and grown as needed.
func filler(n int) string {
	z := zeros.Load()
	if z == nil || len(*z) < n {
		b := make([]byte, max(n, 1<<20))
		z = &b
		zeros.Store(z)
	}
	return unsafe.String(unsafe.SliceData(*z), n)
}

// columnLen handles the column types the tables use; sliceColumn all but
// the arrays, which appendColumn appends row by row.
func columnLen(c any) int {
	switch v := c.(type) {
	case []string:
		return len(v)
	case []time.Time:
		return len(v)
	case []int64:
		return len(v)
	case []int32:
		return len(v)
	case []uint32:
		return len(v)
	case []uint64:
		return len(v)
	case [][]string:
		return len(v)
	}
	panic(fmt.Sprintf("clickhouse store: column of type %T", c))
}

// appendColumn appends rows lo..hi of column c to the batch's column. An
// array column is appended row by row: the driver reflects over every row
// of a [][]string, which was a fifth of the insert's CPU.
func appendColumn(col driver.BatchColumn, c any, lo, hi int) error {
	if rows, ok := c.([][]string); ok {
		var arrays stringArrays
		for _, r := range rows[lo:hi] {
			if err := col.AppendRow(arrays.row(r)); err != nil {
				return err
			}
		}
		return nil
	}
	return col.Append(sliceColumn(c, lo, hi))
}

// stringArrays hands the driver the rows of an Array(String) column
// without an allocation per string. Given a []string, the driver boxes
// each string into an interface on its way to the column (an allocation
// each: most of the insert's allocations); given a []*string it boxes
// pointers, which allocate nothing. The pointers are written in place into
// one array, and its slices are boxed once per length, since boxing a
// slice allocates too.
type stringArrays struct {
	ptrs  []*string
	boxed []any // boxed[k] is ptrs[:k]
}

// row returns r as the driver is to append it: valid until the next call.
func (a *stringArrays) row(r []string) any {
	if len(r) > len(a.ptrs) {
		a.ptrs = make([]*string, max(len(r), 2*len(a.ptrs), 8))
		a.boxed = a.boxed[:0]
	}
	for len(a.boxed) <= len(r) {
		a.boxed = append(a.boxed, a.ptrs[:len(a.boxed)])
	}
	for i := range r {
		a.ptrs[i] = &r[i]
	}
	return a.boxed[len(r)]
}

func sliceColumn(c any, lo, hi int) any {
	switch v := c.(type) {
	case []string:
		return v[lo:hi]
	case []time.Time:
		return v[lo:hi]
	case []int64:
		return v[lo:hi]
	case []int32:
		return v[lo:hi]
	case []uint32:
		return v[lo:hi]
	case []uint64:
		return v[lo:hi]
	}
	panic(fmt.Sprintf("clickhouse store: column of type %T", c))
}

// flush seals the open batch and waits until every batch so far was sent.
func (w *writer) flush(ctx context.Context) error {
	w.mu.Lock()
	w.seal()
	target := w.last
	w.mu.Unlock()
	if target != nil {
		select {
		case <-target.done:
		case <-ctx.Done():
			return fmt.Errorf("store: flush: %w", ctx.Err())
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// close sends what is buffered and stops the writer.
func (w *writer) close() error {
	w.mu.Lock()
	w.closing = true
	w.broadcast()
	w.notify()
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// WriteIncidents stores incidents, replacing earlier versions by id. It is
// synchronous (incidents are few) and retried like event batches.
func (s *Store) WriteIncidents(ctx context.Context, incs []incident.Incident) error {
	if len(incs) == 0 {
		return nil
	}
	var c incidentCols
	now := time.Now()
	for i := range incs {
		if err := c.add(&incs[i], now); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	attempts := 0
	_, err := s.retry(ctx, func() (struct{}, error) {
		attempts++
		return struct{}{}, s.insertColumns(ctx, "incidents", incidentColumns, c.columns())
	}, func(err error, next time.Duration) {
		s.cfg.Logf("store: insert of %d incidents failed (attempt %d), retrying in %s: %v", len(incs), attempts, next.Round(time.Millisecond), err)
	})
	if err != nil {
		return fmt.Errorf("store: %d incidents not stored after %d attempts: %w", len(incs), attempts, err)
	}
	return nil
}

// retry runs op until it succeeds, ctx ends or RetryFor has passed, backing
// off exponentially from RetryMin to RetryMax with jitter; notify hears of
// each failure that will be retried.
func (s *Store) retry(ctx context.Context, op backoff.Operation[struct{}], notify backoff.Notify) (struct{}, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier = s.cfg.RetryMin, s.cfg.RetryMax, 2
	return backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(s.cfg.RetryFor), backoff.WithNotify(notify))
}
