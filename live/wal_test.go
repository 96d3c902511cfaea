package live

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// rowStore is the in-memory store taking rows, failing while down is set,
// and counting its writes of each kind.
type rowStore struct {
	*memory.Store
	down            atomic.Bool
	writes, rowsets atomic.Int64
	rows            atomic.Int64
}

func (r *rowStore) Write(ctx context.Context, evs []ingest.Record, fs []detect.Finding) error {
	if r.down.Load() {
		return errDown
	}
	r.writes.Add(1)
	return r.Store.Write(ctx, evs, fs)
}

func (r *rowStore) WriteRows(ctx context.Context, rows []store.Row, fs []detect.Finding) error {
	if r.down.Load() {
		return errDown
	}
	r.rowsets.Add(1)
	r.rows.Add(int64(len(rows)))
	return r.Store.WriteRows(ctx, rows, fs)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Batches are acknowledged from the spool, without a store write each; the
// flusher writes them in few large writes once the interval passed, and
// the store then holds what replay's Write would have stored.
func TestAckFromSpoolWritesLargeFlushes(t *testing.T) {
	st := &rowStore{Store: memory.New()}
	sp := openSpool(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, nil, nil)
	a, err := New(Config{Store: st, Spool: sp, Pipeline: newPipeline(t), Metrics: m, AckFromSpool: true, FlushInterval: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bs, _ := batches(t, 50)
	var wg sync.WaitGroup
	for _, b := range bs { // concurrently, as the apiserver sends them
		wg.Add(1)
		go func(b ingest.Batch) {
			defer wg.Done()
			if err := a.Accept(context.Background(), b); err != nil {
				t.Error(err)
			}
		}(b)
	}
	wg.Wait()
	if st.rowsets.Load() != 0 || st.writes.Load() != 0 {
		t.Fatalf("store written before the flush interval: %d row writes, %d writes", st.rowsets.Load(), st.writes.Load())
	}
	if n, _ := sp.Stats(); n != len(bs) {
		t.Fatalf("spool holds %d entries, want the %d acknowledged batches", n, len(bs))
	}
	waitFor(t, "flushed", func() bool { n, _ := sp.Stats(); return n == 0 })
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.rowsets.Load() > 3 || st.writes.Load() != 0 {
		t.Fatalf("%d row writes (want a few large ones), %d record writes", st.rowsets.Load(), st.writes.Load())
	}
	if got, want := stored(t, st.Store, bs), distinctIdentities(bs); got != want {
		t.Fatalf("stored %d events, want %d", got, want)
	}
	if got := testutil.ToFloat64(m.Spooled); int(got) != int(st.rows.Load()) {
		t.Fatalf("spooled %v events, flushed %d", got, st.rows.Load())
	}
	assertSameAsWrite(t, st.Store, bs)
}

// assertSameAsWrite checks that what the write-ahead path stored is what
// Write stores for the same judged records: the same JSON, the same
// timeline.
func assertSameAsWrite(t *testing.T, got *memory.Store, bs []ingest.Batch) {
	t.Helper()
	want := memory.New()
	for _, b := range bs {
		if err := want.Write(context.Background(), b.Records, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	gt, _ := got.Timeline(ctx, store.Query{})
	wt, _ := want.Timeline(ctx, store.Query{})
	if len(gt) != len(wt) || len(gt) == 0 {
		t.Fatalf("timeline of %d entries, want %d", len(gt), len(wt))
	}
	for i := range wt {
		g, w := gt[i], wt[i]
		if g.AuditID != w.AuditID || g.Time != w.Time || g.User != w.User || g.Resource != w.Resource || g.Code != w.Code ||
			g.Decision != w.Decision || g.Location != w.Location || len(g.SourceIPs) != len(w.SourceIPs) || g.Actor != w.Actor {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
		gj, _ := got.Event(ctx, g.AuditID)
		wj, _ := want.Event(ctx, w.AuditID)
		if len(gj) != len(wj) || string(gj[0]) != string(wj[0]) {
			t.Fatalf("event %s: JSON differs", g.AuditID)
		}
	}
}

// With the store down, batches are still acknowledged from the spool; the
// flusher retries and stores each once when the store is back, and the
// lag the metrics show goes back to 0.
func TestAckFromSpoolRidesOutStoreOutage(t *testing.T) {
	st := &rowStore{Store: memory.New()}
	st.down.Store(true)
	sp := openSpool(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, nil, nil)
	a, err := New(Config{Store: st, Spool: sp, Pipeline: newPipeline(t), Metrics: m, AckFromSpool: true, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	bs, _ := batches(t, 100)
	for _, b := range bs {
		if err := a.Accept(context.Background(), b); err != nil {
			t.Fatalf("accept with the store down: %v", err)
		}
	}
	waitFor(t, "a failed flush", func() bool { return testutil.ToFloat64(m.StoreErrors) > 0 })
	if lag := gauge(t, reg, "kaudit_store_lag_seconds"); lag <= 0 {
		t.Fatalf("kaudit_store_lag_seconds %v with the store down and batches pending", lag)
	}
	if up := gauge(t, reg, "kaudit_store_up"); up != 0 {
		t.Fatalf("kaudit_store_up %v while flushes fail", up)
	}
	st.down.Store(false)
	waitFor(t, "flushed after the outage", func() bool { n, _ := sp.Stats(); return n == 0 })
	if got, want := stored(t, st.Store, bs), distinctIdentities(bs); got != want {
		t.Fatalf("stored %d events, want %d", got, want)
	}
	if lag := gauge(t, reg, "kaudit_store_lag_seconds"); lag != 0 {
		t.Fatalf("kaudit_store_lag_seconds %v with the spool empty", lag)
	}
}

func gauge(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A full spool refuses with a *spool.FullError (429 upstream) whether or
// not the store is up: on this path the spool is where every batch goes.
func TestAckFromSpoolFullRefuses(t *testing.T) {
	st := &rowStore{Store: memory.New()}
	sp, err := spool.Open(t.TempDir(), 200<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	a, err := New(Config{Store: st, Spool: sp, Pipeline: newPipeline(t), AckFromSpool: true, FlushInterval: time.Hour, FlushBytes: 150 << 10})
	if err != nil {
		t.Fatal(err)
	}
	st.down.Store(true) // nothing leaves the spool
	bs, _ := batches(t, 50)
	var full *spool.FullError
	refused := 0
	for _, b := range bs {
		if err := a.Accept(context.Background(), b); errors.As(err, &full) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused == 0 || a.Ready() == nil {
		t.Fatalf("%d batches refused, ready %v: want refusals and not ready", refused, a.Ready())
	}
	if _, b := sp.Stats(); b > sp.Max() {
		t.Fatalf("spool holds %d bytes, over its limit %d", b, sp.Max())
	}
	st.down.Store(false)
	waitFor(t, "room again", func() bool { return a.Ready() == nil })
	if err := a.Accept(context.Background(), bs[0]); err != nil {
		t.Fatalf("accept once the flusher made room: %v", err)
	}
	a.Close(context.Background())
}

// What the spool held when the process stopped is written by the next one;
// Close itself writes what it can first.
func TestAckFromSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	st := &rowStore{Store: memory.New()}
	sp, _ := spool.Open(dir, 64<<20)
	a, _ := New(Config{Store: st, Spool: sp, Pipeline: newPipeline(t), AckFromSpool: true, FlushInterval: time.Hour})
	bs, _ := batches(t, 200)
	for _, b := range bs {
		if err := a.Accept(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	st.down.Store(true) // the shutdown flush fails: the spool keeps it all
	a.Close(context.Background())
	sp.Close()
	if st.rowsets.Load() != 0 {
		t.Fatal("written before the flush interval")
	}

	st2 := &rowStore{Store: memory.New()}
	sp, err := spool.Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	a, _ = New(Config{Store: st2, Spool: sp, Pipeline: newPipeline(t), AckFromSpool: true, FlushInterval: time.Hour})
	if err := a.Close(context.Background()); err != nil { // the shutdown flush writes the earlier run's entries
		t.Fatal(err)
	}
	if n, _ := sp.Stats(); n != 0 {
		t.Fatalf("%d entries left after the shutdown flush", n)
	}
	if got, want := stored(t, st2.Store, bs), distinctIdentities(bs); got != want {
		t.Fatalf("stored %d, want %d", got, want)
	}
}

// A store that cannot take rows cannot acknowledge from the spool.
func TestAckFromSpoolNeedsRowWriter(t *testing.T) {
	_, err := New(Config{Store: &flaky{Store: memory.New()}, Spool: openSpool(t), Pipeline: newPipeline(t), AckFromSpool: true})
	if err == nil {
		t.Fatal("a store without WriteRows was accepted")
	}
}
