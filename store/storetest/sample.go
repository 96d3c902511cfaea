// Package storetest is the conformance suite every store.Store passes (the
// in-memory store and ClickHouse run the same tests), and the helpers it
// needs: the sample log decoded line by line, and expectations computed
// from it independently of any store.
package storetest

import (
	"context"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/kaudit/kaudit/ingest/ingesttest"
	"github.com/kaudit/kaudit/store"

	json "github.com/goccy/go-json"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/redact"
	"github.com/kaudit/kaudit/rules"
)

// SampleName is the real apiserver log the suite replays.
const SampleName = "apiserver-1.36-basic-intrusion.log"

// SamplePath is the sample's path, found from this source file so that any
// package's test can use it.
func SamplePath(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("storetest: cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", SampleName)
}

// LoadSample decodes the sample with a plain loop (no FileReader, no
// pipeline), for expectations that do not share code with what they test.
func LoadSample(tb testing.TB) []ingest.Record {
	tb.Helper()
	path := SamplePath(tb)
	evs := ingesttest.Events(tb, path)
	recs := make([]ingest.Record, len(evs))
	for i, ev := range evs {
		recs[i] = ingest.Record{Event: ev, Location: filepath.Base(path) + ":" + strconv.Itoa(i+1)}
	}
	return recs
}

// Expected is what a timeline entry must say about a request, computed
// straight from the decoded events.
type Expected struct {
	Time      time.Time
	AuditID   string
	Stage     string
	User      string
	Imperson  string
	Verb      string
	Resource  string
	Namespace string
	Name      string
	Code      int
	SourceIPs []string
	// For searches: the rest of what a term can match.
	Subresource string
	UserAgent   string
	RequestURI  string
}

// ExpectedRequests reduces records to one Expected per request, choosing
// the stage the issue names: ResponseComplete or Panic, else
// ResponseStarted, else the last stage seen. Returned in time order, then
// audit id.
func ExpectedRequests(recs []ingest.Record) []Expected {
	chosen := map[string]*ingest.Record{}
	var order []string
	for i := range recs {
		rec := &recs[i]
		id := string(rec.Event.AuditID)
		cur, seen := chosen[id]
		if !seen {
			order = append(order, id)
			chosen[id] = rec
			continue
		}
		stage := string(rec.Event.Stage)
		curStage := string(cur.Event.Stage)
		final := func(s string) bool { return s == "ResponseComplete" || s == "Panic" }
		switch {
		case final(curStage):
			// keep the completed stage
		case final(stage):
			chosen[id] = rec
		case curStage == "ResponseStarted":
		case stage == "ResponseStarted":
			chosen[id] = rec
		default:
			chosen[id] = rec // the last stage seen
		}
	}
	out := make([]Expected, 0, len(order))
	for _, id := range order {
		ev := chosen[id].Event
		x := Expected{
			Time: ev.RequestReceivedTimestamp.Time.UTC(), AuditID: id, Stage: string(ev.Stage),
			User: ev.User.Username, Verb: ev.Verb, SourceIPs: ev.SourceIPs,
			UserAgent: ev.UserAgent, RequestURI: ev.RequestURI,
		}
		if ev.ImpersonatedUser != nil {
			x.Imperson = ev.ImpersonatedUser.Username
		}
		if ev.ObjectRef != nil {
			x.Resource, x.Namespace, x.Name = ev.ObjectRef.Resource, ev.ObjectRef.Namespace, ev.ObjectRef.Name
			x.Subresource = ev.ObjectRef.Subresource
		}
		if ev.ResponseStatus != nil {
			x.Code = int(ev.ResponseStatus.Code)
		}
		out = append(out, x)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].AuditID < out[j].AuditID
	})
	return out
}

// Filter keeps the expectations keep accepts.
func Filter(xs []Expected, keep func(*Expected) bool) []Expected {
	var out []Expected
	for i := range xs {
		if keep(&xs[i]) {
			out = append(out, xs[i])
		}
	}
	return out
}

// RunPipeline runs records through redaction, the built-in rules and
// correlation, writing each judged batch of batchSize to w (when not nil),
// and returns the pipeline (for its findings and incidents).
func RunPipeline(tb testing.TB, recs []ingest.Record, batchSize int, w store.Writer) *pipeline.Pipeline {
	tb.Helper()
	set, err := rules.Load("")
	if err != nil {
		tb.Fatalf("rules: %v", err)
	}
	eng, err := detect.NewEngine(set)
	if err != nil {
		tb.Fatalf("engine: %v", err)
	}
	r, err := redact.New([]byte("storetest-key"))
	if err != nil {
		tb.Fatalf("redactor: %v", err)
	}
	p := pipeline.New(r, eng, incident.New(incident.DefaultGap, rules.Tactics()))
	for lo := 0; lo < len(recs); lo += batchSize {
		b := ingest.Batch{Records: recs[lo:min(lo+batchSize, len(recs))]}
		findings, err := p.Judge(b)
		if err != nil {
			tb.Fatalf("pipeline: %v", err)
		}
		if w == nil {
			continue
		}
		if err := w.Write(context.Background(), b.Records, findings); err != nil {
			tb.Fatalf("store: %v", err)
		}
	}
	return p
}

// Copy returns a deep copy of rec's event under a new audit id, received
// at the given time (stage timestamps move with it).
func Copy(tb testing.TB, rec ingest.Record, auditID string, at time.Time) ingest.Record {
	tb.Helper()
	raw, err := json.Marshal(rec.Event)
	if err != nil {
		tb.Fatal(err)
	}
	ev, err := ingest.DecodeEvent(raw)
	if err != nil {
		tb.Fatal(err)
	}
	shift := at.Sub(ev.RequestReceivedTimestamp.Time)
	ev.AuditID = types.UID(auditID)
	ev.RequestReceivedTimestamp.Time = at
	ev.StageTimestamp.Time = ev.StageTimestamp.Time.Add(shift)
	return ingest.Record{Event: ev, Location: rec.Location}
}
