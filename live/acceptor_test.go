package live

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/redact"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// errDown is what a flaky store answers while it is down.
var errDown = errors.New("connection refused")

// openSpool opens a spool in a temporary directory.
func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// flaky is a store that fails while down is set.
type flaky struct {
	store.Store
	down   atomic.Bool
	writes atomic.Int64
}

func (f *flaky) Write(ctx context.Context, evs []ingest.Record, fs []detect.Finding) error {
	if f.down.Load() {
		return errDown
	}
	f.writes.Add(1)
	return f.Store.Write(ctx, evs, fs)
}

func newPipeline(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	set, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.New(redact.NewRandom(), eng, incident.New(0, rules.Tactics()))
}

// batches splits the sample into batches of n records.
func batches(t *testing.T, n int) ([]ingest.Batch, int) {
	evs := webhooktest.Sample(t, "../testdata/apiserver-1.36-basic-intrusion.log")
	var out []ingest.Batch
	for i := 0; i < len(evs); i += n {
		var b ingest.Batch
		for j := i; j < min(i+n, len(evs)); j++ {
			b.Records = append(b.Records, ingest.Record{Event: evs[j], Location: fmt.Sprintf("test#%d", j)})
		}
		out = append(out, b)
	}
	return out, len(evs)
}

func stored(t *testing.T, st store.Store, evs []ingest.Batch) int {
	t.Helper()
	n := 0
	ids := map[string]bool{}
	for _, b := range evs {
		for _, r := range b.Records {
			if ids[string(r.Event.AuditID)] {
				continue
			}
			ids[string(r.Event.AuditID)] = true
			stages, err := st.Event(context.Background(), string(r.Event.AuditID))
			if err != nil {
				continue
			}
			for _, s := range stages {
				if len(s) > 0 {
					n++
				}
			}
		}
	}
	return n
}

func distinctIdentities(bs []ingest.Batch) int {
	seen := map[string]bool{}
	for _, b := range bs {
		for _, r := range b.Records {
			seen[string(r.Event.AuditID)+"/"+string(r.Event.Stage)] = true
		}
	}
	return len(seen)
}

func TestStoreDownSpoolsThenDrains(t *testing.T) {
	mem := memory.New()
	st := &flaky{Store: mem}
	sp, err := spool.Open(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, nil, nil)
	a, err := New(Config{Store: st, Spool: sp, Pipeline: newPipeline(t), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	bs, total := batches(t, 100)
	half := len(bs) / 2
	for _, b := range bs[:half] {
		if err := a.Accept(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	st.down.Store(true)
	var spooled int
	for _, b := range bs[half:] {
		if err := a.Accept(context.Background(), b); err != nil {
			t.Fatalf("accept with the store down: %v", err)
		}
		spooled += len(b.Records)
	}
	if got := testutil.ToFloat64(m.Spooled); int(got) != spooled {
		t.Fatalf("spooled %v events, want %d", got, spooled)
	}
	if a.Ready() != nil {
		t.Fatal("not ready while the spool has room")
	}
	st.down.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := sp.Stats(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("spool not drained after the store came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := stored(t, mem, bs), distinctIdentities(bs); got != want {
		t.Fatalf("stored %d events, want %d (of %d sent)", got, want, total)
	}
	if got := testutil.ToFloat64(m.Drained); int(got) != spooled {
		t.Fatalf("drained %v, want %d", got, spooled)
	}
}

func TestSpoolFullRefusesBeforeDetection(t *testing.T) {
	st := &flaky{Store: memory.New()}
	st.down.Store(true)
	// Spooled batches are packed about tenfold (spool/frame.go): 30 KiB
	// holds a few of the sample's 50-event batches, not all 23.
	sp, err := spool.Open(t.TempDir(), 30<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	p := newPipeline(t)
	a, err := New(Config{Store: st, Spool: sp, Pipeline: p})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	bs, _ := batches(t, 50)
	var full *spool.FullError
	accepted, refused := 0, 0
	for _, b := range bs {
		err := a.Accept(context.Background(), b)
		switch {
		case err == nil:
			accepted += len(b.Records)
		case errors.As(err, &full):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if refused == 0 || accepted == 0 {
		t.Fatalf("accepted %d events, refused %d batches: want both", accepted, refused)
	}
	if a.Ready() == nil {
		t.Fatal("ready with the store down and the spool full")
	}
	// Refused batches after the first refusal were not judged: the
	// pipeline saw only what was accepted plus the batch that hit the limit.
	if ev := p.Stats(0).Events; ev > accepted+50 {
		t.Fatalf("pipeline judged %d events for %d accepted", ev, accepted)
	}
}

func TestSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	st := &flaky{Store: memory.New()}
	st.down.Store(true)
	sp, _ := spool.Open(dir, 64<<20)
	a, _ := New(Config{Store: st, Spool: sp, Pipeline: newPipeline(t)})
	bs, _ := batches(t, 200)
	for _, b := range bs {
		if err := a.Accept(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	a.Close(context.Background())
	sp.Close()

	// A new process on the same spool, with the store up.
	mem := memory.New()
	sp, err := spool.Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	a, _ = New(Config{Store: mem, Spool: sp, Pipeline: newPipeline(t)})
	var once sync.Once
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := sp.Stats(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			once.Do(func() { t.Fatal("spool of the earlier run not drained") })
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.Close(context.Background())
	if got, want := stored(t, mem, bs), distinctIdentities(bs); got != want {
		t.Fatalf("stored %d, want %d", got, want)
	}
}
