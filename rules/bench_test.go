package rules

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/ingest/ingesttest"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/redact"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// sample decodes and redacts the basic-intrusion sample once.
func sample(tb testing.TB) []*auditv1.Event {
	r := redact.NewRandom()
	evs := ingesttest.Events(tb, "../testdata/apiserver-1.36-basic-intrusion.log")
	for _, ev := range evs {
		r.Redact(ev)
	}
	return evs
}

// padded returns the library with n extra rules that no event of the
// sample can match: indexed ones name a resource of their own, as a real
// rule names its resources; unindexed ones match everything and test the
// resource in their condition, as a rule without a match would.
func padded(tb testing.TB, n int, indexed bool) *rulefile.RuleSet {
	tb.Helper()
	set, err := Load("")
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < n; i++ {
		r := &rulefile.Rule{
			ID: fmt.Sprintf("padding-%d", i), Title: "padding", TechniqueID: "MS-TA9008", Technique: "New container",
			Tactic: "Execution", Severity: "low", Level: rulefile.LevelMetadata,
			Condition: fmt.Sprintf(`resource == "padding%d" && any(containers(object), {get(#, "securityContext.privileged") == true})`, i),
		}
		if indexed {
			r.Match = rulefile.Match{Verbs: []string{"create", "update", "patch"}, Resources: []string{fmt.Sprintf("padding%d", i)}}
		}
		set.Rules = append(set.Rules, r)
	}
	return set
}

func runAll(tb testing.TB, set *rulefile.RuleSet, evs []*auditv1.Event) int {
	e, err := detect.NewEngine(set)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		fs, _, err := e.Evaluate(ev, "bench")
		if err != nil {
			tb.Fatal(err)
		}
		n += len(fs)
	}
	return n
}

// BenchmarkDetectLibrary is detection with the whole built-in library on
// the sample's events (decoded and redacted beforehand).
func BenchmarkDetectLibrary(b *testing.B) {
	evs := sample(b)
	benchEngines(b, padded(b, 0, true), evs)
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// benchEngines evaluates the events with a fresh engine per iteration (so
// sequence state starts empty each time, as in one replay), compiling it
// outside the timer: the benchmark measures detection, not compilation.
func benchEngines(b *testing.B, set *rulefile.RuleSet, evs []*auditv1.Event) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, err := detect.NewEngine(set)
		if err != nil {
			b.Fatal(err)
		}
		// Compiling thousands of padding rules allocates a great deal; collect
		// it now so its garbage is not marked on the timer.
		runtime.GC()
		b.StartTimer()
		for _, ev := range evs {
			if _, _, err := e.Evaluate(ev, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(evs)*b.N), "ns/event")
}

// BenchmarkDetectPadded shows the index at work: the library padded with N
// rules that no event matches costs the same per event however large N is
// when the rules name their resources (indexed), and grows with N when they
// do not (unindexed, for comparison).
func BenchmarkDetectPadded(b *testing.B) {
	evs := sample(b)
	for _, indexed := range []bool{true, false} {
		for _, n := range []int{0, 100, 1000, 5000} {
			if !indexed && n > 1000 {
				continue
			}
			name := fmt.Sprintf("indexed/N=%d", n)
			if !indexed {
				name = fmt.Sprintf("unindexed/N=%d", n)
			}
			set := padded(b, n, indexed)
			b.Run(name, func(b *testing.B) { benchEngines(b, set, evs) })
		}
	}
}

// TestIndexIgnoresPadding is the benchmark's claim as a test without
// timing: padding the library with rules for other resources changes
// neither the findings nor the number of rules any event is handed to.
func TestIndexIgnoresPadding(t *testing.T) {
	evs := sample(t)
	base, err := detect.NewEngine(padded(t, 0, true))
	if err != nil {
		t.Fatal(err)
	}
	big, err := detect.NewEngine(padded(t, 1000, true))
	if err != nil {
		t.Fatal(err)
	}
	maxCands := 0
	for _, ev := range evs {
		a, b := base.Candidates(ev), big.Candidates(ev)
		if a != b {
			t.Fatalf("event %s (%s %s): %d candidate rules, %d with 1000 padding rules", ev.AuditID, ev.Verb, ev.RequestURI, a, b)
		}
		if a > maxCands {
			maxCands = a
		}
	}
	if base.Rules() < 50 {
		t.Errorf("the library has %d rules", base.Rules())
	}
	t.Logf("%d rules; at most %d candidates for any event of the sample", base.Rules(), maxCands)
	if got, want := runAll(t, padded(t, 1000, true), evs), runAll(t, padded(t, 0, true), evs); got != want {
		t.Errorf("padding changed the findings: %d, want %d", got, want)
	}
}
