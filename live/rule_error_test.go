package live

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/redact"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/rules/ruletest"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// A rule failing at run time is counted and logged, naming the rule; the
// batch is stored all the same, with the other rules' findings.
func TestRuleRuntimeErrorCountedAndLogged(t *testing.T) {
	set, err := ruletest.WithFailingRule(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, nil, nil)
	mem := memory.New()
	a, err := New(Config{Pipeline: pipeline.New(redact.NewRandom(), eng, incident.New(0, rules.Tactics())), Store: mem, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	bs, _ := batches(t, 2000)
	var binding ingest.Record
	for _, r := range bs[0].Records {
		if r.Event.ObjectRef != nil && r.Event.ObjectRef.Name == "mallory-admin" && r.Event.Verb == "create" {
			binding = r
		}
	}
	for _, obj := range []*[]byte{&binding.Event.RequestObject.Raw, &binding.Event.ResponseObject.Raw} {
		*obj = []byte(strings.Replace(string(*obj), `"name":"mallory"`, `"name":12345`, 1))
	}
	if err := a.Accept(context.Background(), ingest.Batch{Records: []ingest.Record{binding}}); err != nil {
		t.Fatalf("a batch with a failing rule was refused: %v", err)
	}
	if got := testutil.ToFloat64(m.DetectErrors); got != 1 {
		t.Fatalf("kaudit_detect_errors_total %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "detection error") || !strings.Contains(logs.String(), "subject-name-prefix") {
		t.Fatalf("the error is not logged with the rule:\n%s", logs.String())
	}
	if tl, _ := mem.Timeline(context.Background(), store.Query{AuditID: string(binding.Event.AuditID)}); len(tl) != 1 {
		t.Fatal("the event was not stored")
	}
	if got := testutil.ToFloat64(m.Findings.WithLabelValues("cluster-admin-binding")); got != 1 {
		t.Fatalf("cluster-admin-binding findings %v, want 1", got)
	}
}
