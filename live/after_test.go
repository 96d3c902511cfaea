package live

import (
	"time"

	"context"
	"errors"
	"testing"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// failingSink fails its first write, then records what it gets.
type failingSink struct {
	calls    int
	events   int
	findings int
}

func (s *failingSink) Write(_ context.Context, evs []ingest.Record, fs []detect.Finding) error {
	s.calls++
	if s.calls == 1 {
		return errors.New("facts topic unreachable")
	}
	s.events += len(evs)
	s.findings += len(fs)
	return nil
}

// A batch the After sink could not take is refused although it is stored:
// the source sends it again (what After missed is not missed for good),
// and the store keeps each event once.
func TestAfterErrorRefusesTheBatch(t *testing.T) {
	mem := memory.New()
	sp, err := spool.Open(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	after := &failingSink{}
	a, err := New(Config{Store: mem, Spool: sp, Pipeline: newPipeline(t), After: after})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	bs, _ := batches(t, 2000) // the whole sample in one batch
	if err := a.Accept(context.Background(), bs[0]); err == nil {
		t.Fatal("Accept returned nil although the After sink failed")
	}
	if err := a.Accept(context.Background(), bs[0]); err != nil {
		t.Fatalf("the batch sent again: %v", err)
	}
	if after.events != len(bs[0].Records) || after.findings == 0 {
		t.Fatalf("After got %d events and %d findings, want %d events and the findings", after.events, after.findings, len(bs[0].Records))
	}
	if got, want := stored(t, mem, bs), distinctIdentities(bs); got != want {
		t.Fatalf("stored %d events, want %d", got, want)
	}
}

// fixedSource is an IncidentSource holding one incident.
type fixedSource struct {
	inc            incident.Incident
	synced, pruned int
}

func (s *fixedSource) Sync(context.Context) error       { s.synced++; return nil }
func (s *fixedSource) Seen() (findings, events int)     { return 1, 1 }
func (s *fixedSource) Prune(incident.Limits, time.Time) { s.pruned++ }
func (s *fixedSource) Incidents() []incident.Incident   { return []incident.Incident{s.inc} }

// With a Source, the Publisher stores the source's incidents, not the
// pipeline's, syncing the source first, and rebuilds only when the source
// took something new.
func TestPublisherBuildsFromSource(t *testing.T) {
	mem := memory.New()
	src := &fixedSource{inc: incident.Incident{Type: "incident", ID: "inc-from-source", Severity: "high",
		Start: "2026-11-22T09:53:40Z", End: "2026-11-22T09:53:45Z", Actors: []string{"mallory", "admin"}, FindingCount: 1}}
	pub := &Publisher{Pipeline: newPipeline(t), Source: src, Store: mem, Limits: DefaultLimits}
	pub.Publish(context.Background())
	pub.Publish(context.Background())
	got, err := mem.Incidents(context.Background(), store.IncidentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "inc-from-source" {
		t.Fatalf("stored incidents %+v, want the source's", got)
	}
	if src.synced != 2 || src.pruned != 1 {
		t.Fatalf("source synced %d and pruned %d times, want 2 and 1 (nothing new the second time)", src.synced, src.pruned)
	}
}
