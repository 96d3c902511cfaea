package pipeline_test

import (
	"context"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/redact"
	"github.com/kaudit/kaudit/rules"
)

func newPipeline(t *testing.T) *pipeline.Pipeline {
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
	return pipeline.New(r, e, incident.New(0, rules.Tactics()))
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

func TestJudgeRedactsEveryEvent(t *testing.T) {
	p := newPipeline(t)
	b := readFile(t, "../testdata/secrets-requestresponse.log")
	b.Bad = append(b.Bad, ingest.BadInput{Location: "x:1", Reason: "test"})
	if _, err := p.Judge(b); err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 8 {
		t.Fatalf("%d events, want all 8", len(b.Records))
	}
	for _, r := range b.Records {
		out, _ := json.Marshal(r.Event)
		if strings.Contains(string(out), "hunter2") || !r.Redacted {
			t.Errorf("a judged event is not redacted: %s", out)
		}
	}
	st := p.Stats(0)
	if st.Events != 8 || st.BadLines != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSampleThroughPipeline(t *testing.T) {
	p := newPipeline(t)
	b := readFile(t, "../testdata/apiserver-1.36-basic-intrusion.log")
	fs, err := p.Judge(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 || len(b.Records) != 1129 {
		t.Errorf("%d findings, %d events", len(fs), len(b.Records))
	}
	if len(p.Incidents()) == 0 {
		t.Error("no incident")
	}
	if st := p.Stats(1); st.Findings != len(fs) || st.ByRule["admission-webhook-change"] != 1 {
		t.Errorf("stats %+v", st)
	}
	if f, e := p.Seen(); f != len(fs) || e != 1129 {
		t.Errorf("Seen() = %d findings, %d events", f, e)
	}
}

func TestRedeliveryCountsOnceButIsJudgedAgain(t *testing.T) {
	p := newPipeline(t)
	first, err := p.Judge(readFile(t, "../testdata/apiserver-1.36-basic-intrusion.log"))
	if err != nil {
		t.Fatal(err)
	}
	incidents := p.Incidents()
	// The same batch again, as a webhook retry or a Kafka redelivery brings it.
	again, err := p.Judge(readFile(t, "../testdata/apiserver-1.36-basic-intrusion.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Sequence rules (first seen, bursts) do not fire twice on the same
	// events; the rest do, so that a caller whose first write was lost
	// writes them again.
	if len(again) == 0 {
		t.Errorf("the redelivered batch gave no findings (first %d): a lost first write would lose them", len(first))
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
