// Package ruletest runs rule tests written as YAML beside the rules, the way
// `promtool test rules` does for Prometheus: given these audit events (a real
// apiserver log, or events inline), expect exactly these findings from these
// rules. `kaudit rules test` and the rules package's Go tests run them.
//
// A test file (NAME_test.yaml) holds:
//
//	tests:
//	- name: privileged DaemonSet created by mallory
//	  log: testdata/apiserver-1.36-workloads.log.gz   # relative to the test file
//	  rules: [privileged-container]                    # the rules under test ("*": all)
//	  expect:                                          # exactly these findings of those rules
//	  - {rule: privileged-container, verb: create, resource: daemonsets, name: priv-daemonset, severity: high}
//
// Every non-empty field of an expectation must equal the finding's (message
// is a substring). Each expectation takes one finding; findings of the rules
// under test that no expectation takes fail the test, so a test with rules and
// no expect asserts that those rules stay silent on its events.
package ruletest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/redact"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// File is one YAML file of rule tests.
type File struct {
	Tests []Test `json:"tests"`
}

// Test is one case: events in, expected findings out.
type Test struct {
	Name string `json:"name"`
	// Log is a file of audit events (JSON lines as the apiserver writes
	// them, gzip or not), relative to the test file.
	Log string `json:"log,omitempty"`
	// Events are audit events inline, one JSON object a line; they follow
	// the log's events when both are given.
	Events string `json:"events,omitempty"`
	// Rules are the ids under test; "*" means every rule. Empty means the
	// rules named in Expect.
	Rules []string `json:"rules,omitempty"`
	// Expect lists the findings the rules under test must produce, no more.
	Expect []Expect `json:"expect,omitempty"`
}

// Expect describes one finding; empty fields match anything.
type Expect struct {
	Rule        string `json:"rule"`
	Severity    string `json:"severity,omitempty"`
	AuditID     string `json:"audit_id,omitempty"`
	User        string `json:"user,omitempty"`
	Verb        string `json:"verb,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	Code        int    `json:"code,omitempty"`
	// Message must be contained in the finding's message.
	Message string `json:"message,omitempty"`
}

// Result is the outcome of one test.
type Result struct {
	File     string
	Name     string
	Failures []string
	// Rules are the rule ids the test put under test, and Fired those it
	// expected to fire (for the check that every rule is tested both ways).
	Rules []string
	Fired []string
}

// OK reports whether the test passed.
func (r Result) OK() bool { return len(r.Failures) == 0 }

// IsTestFile reports whether name holds rule tests.
func IsTestFile(name string) bool { return rulefile.IsTestFile(name) }

// Runner runs test files against one rule set. Each log is evaluated once
// by the whole set (as replay would) and every test on it filters the
// findings it needs; inline events get an engine of their own.
type Runner struct {
	set      *rulefile.RuleSet
	redactor *redact.Redactor
	known    map[string]bool
	cache    map[string][]detect.Finding
	history  detect.History
}

// NewRunner prepares a runner for set.
func NewRunner(set *rulefile.RuleSet) *Runner {
	known := map[string]bool{}
	for _, r := range set.Rules {
		known[r.ID] = true
	}
	return &Runner{set: set, redactor: redact.NewRandom(), known: known, cache: map[string][]detect.Finding{}}
}

// SetHistory judges every later log against a baseline, as replay
// --baseline does.
func (r *Runner) SetHistory(h detect.History) {
	r.history = h
	r.cache = map[string][]detect.Finding{}
}

// TestFiles lists the rule-test files of fsys in name order.
func TestFiles(fsys fs.FS) ([]string, error) {
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && IsTestFile(p) {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

// RunFS runs every test file of fsys.
func (r *Runner) RunFS(fsys fs.FS) ([]Result, error) {
	names, err := TestFiles(fsys)
	if err != nil {
		return nil, fmt.Errorf("find rule tests: %w", err)
	}
	var out []Result
	for _, n := range names {
		res, err := r.RunFile(fsys, n)
		if err != nil {
			return out, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// RunFile runs the tests of one file. An error means the file itself is
// unusable (unreadable, not YAML of tests); failing tests are Results.
func (r *Runner) RunFile(fsys fs.FS, name string) ([]Result, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("rule tests %s: %w", name, err)
	}
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("rule tests %s: %w", name, err)
	}
	if len(f.Tests) == 0 {
		return nil, fmt.Errorf("rule tests %s: no tests", name)
	}
	out := make([]Result, 0, len(f.Tests))
	for i, t := range f.Tests {
		res := Result{File: name, Name: t.Name}
		if res.Name == "" {
			res.Name = fmt.Sprintf("test %d", i+1)
		}
		res.Failures = r.run(fsys, path.Dir(name), t, &res)
		out = append(out, res)
	}
	return out, nil
}

func (r *Runner) run(fsys fs.FS, dir string, t Test, res *Result) []string {
	scope, fails := r.scope(t)
	if len(fails) > 0 {
		return fails
	}
	for id := range scope {
		res.Rules = append(res.Rules, id)
	}
	sort.Strings(res.Rules)
	for _, e := range t.Expect {
		res.Fired = append(res.Fired, e.Rule)
	}
	if t.Log == "" && strings.TrimSpace(t.Events) == "" {
		return []string{"the test has neither log nor events"}
	}
	var findings []detect.Finding
	if t.Events == "" {
		fs, err := r.logFindings(fsys, path.Join(dir, t.Log))
		if err != nil {
			return []string{err.Error()}
		}
		findings = fs
	} else {
		var evs []*auditv1.Event
		if t.Log != "" {
			var err error
			if evs, err = r.readLog(fsys, path.Join(dir, t.Log)); err != nil {
				return []string{err.Error()}
			}
		}
		more, err := r.decode(strings.NewReader(t.Events), "events")
		if err != nil {
			return []string{err.Error()}
		}
		findings, err = r.evaluate(append(evs, more...), "events")
		if err != nil {
			return []string{err.Error()}
		}
	}
	var got []detect.Finding
	for _, f := range findings {
		if scope["*"] || scope[f.Rule] {
			got = append(got, f)
		}
	}
	return compare(t.Expect, got)
}

// scope returns the rules under test, checking that each exists.
func (r *Runner) scope(t Test) (map[string]bool, []string) {
	ids := t.Rules
	if len(ids) == 0 {
		for _, e := range t.Expect {
			ids = append(ids, e.Rule)
		}
	}
	if len(ids) == 0 {
		return nil, []string{"the test names no rules and expects nothing"}
	}
	scope := map[string]bool{}
	var fails []string
	for _, id := range ids {
		if id != "*" && !r.known[id] {
			fails = append(fails, fmt.Sprintf("unknown rule %q", id))
		}
		scope[id] = true
	}
	for _, e := range t.Expect {
		if !r.known[e.Rule] {
			fails = append(fails, fmt.Sprintf("expectation for unknown rule %q", e.Rule))
		} else if !scope["*"] && !scope[e.Rule] {
			fails = append(fails, fmt.Sprintf("expectation for rule %q, which the test's rules leave out", e.Rule))
		}
	}
	return scope, fails
}

// compare takes one finding per expectation and reports what is missing and
// what is left over.
func compare(want []Expect, got []detect.Finding) []string {
	used := make([]bool, len(got))
	var fails []string
	// The most specific expectations take their findings first, so that a
	// loose one ({rule, user}) cannot take the finding a precise one names.
	order := make([]Expect, len(want))
	copy(order, want)
	sort.SliceStable(order, func(i, j int) bool { return order[i].specificity() > order[j].specificity() })
	for _, e := range order {
		found := false
		for i := range got {
			if !used[i] && e.matches(&got[i]) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			fails = append(fails, "missing finding "+e.String())
		}
	}
	for i := range got {
		if !used[i] {
			f := &got[i]
			fails = append(fails, fmt.Sprintf("unexpected finding {rule: %s, severity: %s, user: %s, verb: %s, resource: %s, subresource: %s, namespace: %s, name: %s, code: %d, audit_id: %s} %q",
				f.Rule, f.Severity, f.User, f.Verb, f.Resource, f.Subresource, f.Namespace, f.Name, f.Code, f.AuditID, f.Message))
		}
	}
	return fails
}

func (e Expect) matches(f *detect.Finding) bool {
	eq := func(want, have string) bool { return want == "" || want == have }
	return e.Rule == f.Rule && eq(e.Severity, f.Severity) && eq(e.AuditID, f.AuditID) && eq(e.User, f.User) &&
		eq(e.Verb, f.Verb) && eq(e.Resource, f.Resource) && eq(e.Subresource, f.Subresource) &&
		eq(e.Namespace, f.Namespace) && eq(e.Name, f.Name) && (e.Code == 0 || e.Code == f.Code) &&
		strings.Contains(f.Message, e.Message)
}

// specificity counts the fields an expectation pins down.
func (e Expect) specificity() int {
	n := 0
	for _, v := range []string{e.Severity, e.AuditID, e.User, e.Verb, e.Resource, e.Subresource, e.Namespace, e.Name, e.Message} {
		if v != "" {
			n++
		}
	}
	if e.Code != 0 {
		n++
	}
	return n
}

// String shows an expectation as it is written.
func (e Expect) String() string {
	parts := []string{"rule: " + e.Rule}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+": "+v)
		}
	}
	add("severity", e.Severity)
	add("audit_id", e.AuditID)
	add("user", e.User)
	add("verb", e.Verb)
	add("resource", e.Resource)
	add("subresource", e.Subresource)
	add("namespace", e.Namespace)
	add("name", e.Name)
	if e.Code != 0 {
		add("code", fmt.Sprint(e.Code))
	}
	add("message", fmt.Sprintf("%q", e.Message))
	if e.Message == "" {
		parts = parts[:len(parts)-1]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// LogFindings returns the findings of the whole rule set on a log of fsys,
// evaluated in order as replay would; the result is cached.
func (r *Runner) LogFindings(fsys fs.FS, name string) ([]detect.Finding, error) {
	return r.logFindings(fsys, name)
}

// logFindings evaluates a log once with the whole rule set and caches the
// findings for every test on that log.
func (r *Runner) logFindings(fsys fs.FS, name string) ([]detect.Finding, error) {
	if fs, ok := r.cache[name]; ok {
		return fs, nil
	}
	evs, err := r.readLog(fsys, name)
	if err != nil {
		return nil, err
	}
	fs, err := r.evaluate(evs, name)
	if err != nil {
		return nil, err
	}
	r.cache[name] = fs
	return fs, nil
}

// evaluate runs events through a fresh engine in order, as replay does.
func (r *Runner) evaluate(evs []*auditv1.Event, where string) ([]detect.Finding, error) {
	eng, err := detect.NewEngine(r.set)
	if err != nil {
		return nil, err
	}
	if r.history != nil {
		eng.SetHistory(r.history)
	}
	var out []detect.Finding
	for i, ev := range evs {
		fs, _, err := eng.Evaluate(ev, fmt.Sprintf("%s#%d", where, i+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// readLog reads and redacts a log of JSON lines, gzip or not.
func (r *Runner) readLog(fsys fs.FS, name string) ([]*auditv1.Event, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var rd io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", name, err)
		}
		defer zr.Close()
		rd = zr
	}
	return r.decode(rd, name)
}

// decode reads JSON lines of audit events; a bad line fails the test, since
// a fixture must be exactly what the apiserver writes.
func (r *Runner) decode(rd io.Reader, name string) ([]*auditv1.Event, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var out []*auditv1.Event
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		ev, err := ingest.DecodeEvent(b)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		r.redactor.Redact(ev)
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Untested returns the enabled rules of set that no result expects to fire
// (fire) and those no result holds under test without expecting them
// (silent): every rule needs a test of each kind.
func Untested(set *rulefile.RuleSet, results []Result) (fire, silent []string) {
	fired, quiet := map[string]bool{}, map[string]bool{}
	for _, res := range results {
		exp := map[string]bool{}
		for _, id := range res.Fired {
			fired[id], exp[id] = true, true
		}
		for _, id := range res.Rules {
			if id == "*" {
				for _, r := range set.Rules {
					if !exp[r.ID] {
						quiet[r.ID] = true
					}
				}
				continue
			}
			if !exp[id] {
				quiet[id] = true
			}
		}
	}
	for _, r := range set.Rules {
		if r.Disabled {
			continue
		}
		if !fired[r.ID] {
			fire = append(fire, r.ID)
		}
		if !quiet[r.ID] {
			silent = append(silent, r.ID)
		}
	}
	return fire, silent
}
