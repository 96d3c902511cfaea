package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/redact"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/rules"
)

// recorder is a sink that keeps what it is given, to check what the
// pipeline hands to stores.
type recorder struct {
	events   []ingest.Record
	findings []detect.Finding
	fail     error
}

func (r *recorder) Write(_ context.Context, evs []ingest.Record, fs []detect.Finding) error {
	if r.fail != nil {
		return r.fail
	}
	r.events = append(r.events, evs...)
	r.findings = append(r.findings, fs...)
	return nil
}

func newPipeline(t *testing.T, sinks ...pipeline.Sink) *pipeline.Pipeline {
	t.Helper()
	set, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := detect.NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := redact.New([]byte("k"))
	return pipeline.New(r, e, incident.New(0), sinks...)
}

func readFile(t *testing.T, path string) ingest.Batch {
	t.Helper()
	var all ingest.Batch
	err := (&ingest.FileReader{}).ReadPath(context.Background(), path, func(b ingest.Batch) error {
		all.Records = append(all.Records, b.Records...)
		all.Bad = append(all.Bad, b.Bad...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func TestSinksGetEveryEventRedacted(t *testing.T) {
	rec := &recorder{}
	p := newPipeline(t, rec)
	b := readFile(t, "../testdata/secrets-requestresponse.log")
	b.Bad = append(b.Bad, ingest.BadInput{Location: "x:1", Reason: "test"})
	if _, err := p.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 8 {
		t.Fatalf("sink got %d events, want all 8", len(rec.events))
	}
	for _, r := range rec.events {
		out, _ := json.Marshal(r.Event)
		if strings.Contains(string(out), "hunter2") || !r.Redacted {
			t.Errorf("the sink saw an unredacted event: %s", out)
		}
	}
	st := p.Stats(0)
	if st.Events != 8 || st.BadLines != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSampleThroughPipeline(t *testing.T) {
	rec := &recorder{}
	p := newPipeline(t, rec)
	fs, err := p.Process(context.Background(), readFile(t, "../testdata/apiserver-1.36-basic-intrusion.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 || len(rec.findings) != len(fs) || len(rec.events) != 1129 {
		t.Errorf("%d findings (%d to the sink), %d events", len(fs), len(rec.findings), len(rec.events))
	}
	if len(p.Incidents()) == 0 {
		t.Error("no incident")
	}
	if st := p.Stats(1); st.Findings != len(fs) || st.ByRule["admission-webhook-change"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSinkErrorIsReturned(t *testing.T) {
	boom := errors.New("store down")
	p := newPipeline(t, &recorder{fail: boom})
	_, err := p.Process(context.Background(), readFile(t, "../testdata/secrets-requestresponse.log"))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the sink's error", err)
	}
}

func TestRedeliveryCountsOnceButReachesSinksAgain(t *testing.T) {
	rec := &recorder{}
	p := newPipeline(t, rec)
	b := readFile(t, "../testdata/apiserver-1.36-basic-intrusion.log")
	first, err := p.Process(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	incidents := p.Incidents()
	// The same batch again, as a webhook retry or a Kafka redelivery brings it.
	again, err := p.Process(context.Background(), readFile(t, "../testdata/apiserver-1.36-basic-intrusion.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(again) == 0 || len(rec.findings) != len(first)+len(again) {
		t.Errorf("the redelivered batch gave the sink %d findings (first %d): a lost first write would lose them", len(again), len(first))
	}
	if st := p.Stats(0); st.Findings != len(first) {
		t.Errorf("stats count %d findings after redelivery, want %d", st.Findings, len(first))
	}
	if n := len(p.Findings()); n != len(first) {
		t.Errorf("%d findings kept, want %d", n, len(first))
	}
	after := p.Incidents()
	if len(after) != len(incidents) {
		t.Fatalf("%d incidents after redelivery, want %d", len(after), len(incidents))
	}
	for i := range after {
		if after[i].FindingCount != incidents[i].FindingCount || len(after[i].Touched) != len(incidents[i].Touched) || after[i].Touched[0].Count != incidents[i].Touched[0].Count {
			t.Errorf("incident %s changed with redelivery", after[i].ID)
		}
	}
}
