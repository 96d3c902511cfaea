package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/ingest/ingesttest"
	"github.com/kaudit/kaudit/redact"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// library compiles the built-in rules (read from their folder: the rules
// package imports this one).
func library(t *testing.T) *Engine {
	t.Helper()
	files, err := rulefile.LoadFS(os.DirFS("../rules"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rulefile.Merge(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fixtureEvents are every event of the fixtures, redacted, in order.
func fixtureEvents(t *testing.T) []*auditv1.Event {
	t.Helper()
	paths, err := filepath.Glob("../testdata/*.log")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	r := redact.NewRandom()
	var evs []*auditv1.Event
	for _, p := range paths {
		for _, ev := range ingesttest.Events(t, p) {
			r.Redact(ev)
			evs = append(evs, ev)
		}
	}
	return evs
}

// evaluator judges events with e, as sameFindings compares it.
func evaluator(e *Engine) func(*auditv1.Event) ([]Finding, error) {
	return func(ev *auditv1.Event) ([]Finding, error) {
		fs, _, err := e.Evaluate(ev, "fixture")
		return fs, err
	}
}

// sameFindings judges every event with got and with want, each named for
// the failure, and fails at the first event whose findings (in order) or
// whose failing differ; it returns every finding got gave, for the test
// to count what it exercised.
func sameFindings(t *testing.T, evs []*auditv1.Event, gotName string, got func(*auditv1.Event) ([]Finding, error),
	wantName string, want func(*auditv1.Event) ([]Finding, error)) []Finding {
	t.Helper()
	var all []Finding
	for _, ev := range evs {
		g, gerr := got(ev)
		w, werr := want(ev)
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(g, w) {
			t.Fatalf("event %s: %s %v (%v), %s %v (%v)", ev.AuditID, gotName, g, gerr, wantName, w, werr)
		}
		all = append(all, g...)
	}
	return all
}

// Bodies parsed beforehand change nothing: every fixture event gives the
// same findings, in the same order, whether Parse parsed its bodies in
// advance or Evaluate on demand; and Parse does parse the bodies of the
// requests rules read (else it would only cost).
func TestParsedAheadChangesNoFinding(t *testing.T) {
	evs := fixtureEvents(t)
	ahead, onDemand := library(t), library(t)
	parsed := 0
	parseAhead := func(ev *auditv1.Event) ([]Finding, error) {
		p := ahead.Parse(ev)
		if p != nil {
			parsed++
		}
		fs, _, err := ahead.EvaluateParsed(ev, p, "fixture")
		return fs, err
	}
	findings := len(sameFindings(t, evs, "parsed ahead", parseAhead, "on demand", evaluator(onDemand)))
	if parsed == 0 || findings == 0 {
		t.Fatalf("%d events parsed ahead, %d findings: the test judges nothing", parsed, findings)
	}
	t.Logf("%d of %d events parsed ahead, %d findings", parsed, len(evs), findings)
}

// Parse leaves alone the stages detection does not judge, the events
// without bodies, and the requests no body-reading rule matches (reads of
// secrets: rules judge who listed them, not what came back).
func TestParseOnlyWhatRulesRead(t *testing.T) {
	e := library(t)
	skipped := 0
	for _, ev := range fixtureEvents(t) {
		if e.Parse(ev) == nil {
			if ev.ResponseObject != nil && ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets" && ev.Verb == "list" {
				skipped++
			}
			continue
		}
		if !Judgeable(ev) || ev.RequestObject == nil && ev.ResponseObject == nil {
			t.Fatalf("event %s (stage %s) parsed: its stage is not judged, or it has no body", ev.AuditID, ev.Stage)
		}
	}
	if skipped == 0 {
		t.Fatal("no list of secrets with its response was left unparsed: the fixtures changed, or Parse parses everything")
	}
}

// Resource names come from clients: Parse's memory of which requests rules
// read the bodies of stays bounded however many names it sees.
func TestParseMemoryIsBounded(t *testing.T) {
	e := library(t)
	var ev *auditv1.Event
	for _, x := range fixtureEvents(t) {
		if x.RequestObject != nil {
			ev = x
			break
		}
	}
	if ev == nil {
		t.Fatal("no fixture event with a body")
	}
	for i := 0; i < 3*maxCacheKeys; i++ {
		probe := *ev
		probe.Stage = auditv1.StageResponseComplete
		probe.ObjectRef = &auditv1.ObjectReference{Resource: fmt.Sprintf("made-up-%d", i)}
		e.Parse(&probe)
	}
	if n := len(e.bodies.reads); n == 0 || n > maxCacheKeys {
		t.Fatalf("%d verbs and resources remembered, want 1..%d", n, maxCacheKeys)
	}
}

// A request body is parsed only when a rule names it or the response
// cannot stand for the object: every fixture event gives the findings it
// gives when every rule names the request (as every body was parsed
// before), whether its bodies are parsed ahead or on demand; and the test
// sees requests left unparsed.
func TestRequestParsedOnlyWhenNamedChangesNoFinding(t *testing.T) {
	evs := fixtureEvents(t)
	lazy, lazyAhead, eager := library(t), library(t), library(t)
	for _, c := range eager.rules {
		c.request = true
	}
	named := 0
	for _, c := range lazy.rules {
		if c.request {
			named++
		}
	}
	skipped := 0
	ahead := func(ev *auditv1.Event) ([]Finding, error) {
		p := lazyAhead.Parse(ev)
		if p != nil && !p.hasRequest && ev.RequestObject != nil {
			skipped++
		}
		fs, _, err := lazyAhead.EvaluateParsed(ev, p, "fixture")
		return fs, err
	}
	n := len(sameFindings(t, evs, "request when named", evaluator(lazy), "request always", evaluator(eager)))
	sameFindings(t, evs, "request when named, parsed ahead", ahead, "request always", evaluator(library(t)))
	if named == 0 || named == len(lazy.rules) || skipped == 0 || n == 0 {
		t.Fatalf("%d of %d rules name the request, %d requests left unparsed, %d findings: the test judges nothing", named, len(lazy.rules), skipped, n)
	}
	t.Logf("%d of %d rules name the request; %d requests left unparsed ahead; %d findings", named, len(lazy.rules), skipped, n)
}

// namesRequest reads identifiers, not words.
func TestNamesRequest(t *testing.T) {
	for src, want := range map[string]bool{
		`get(request, "spec.expirationSeconds") > 0`:          true,
		`request != nil && verb == "create"`:                  true,
		`len(patch) > 0`:                                      true,
		`$env.request != nil`:                                 true,
		`request_uri contains "/exec" && object != nil`:       false,
		`"a request was made: " + verb`:                       false,
		`get(object, "spec.request") != nil && change != nil`: false,
		`resource == "certificatesigningrequests"`:            false,
		`this is not an expression (`:                         true,
	} {
		if got := namesRequest([]string{"", src}); got != want {
			t.Errorf("namesRequest(%q) = %v, want %v", src, got, want)
		}
	}
}
