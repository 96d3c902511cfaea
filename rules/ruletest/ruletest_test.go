package ruletest

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kaudit/kaudit/detect/rulefile"
)

const rulesYAML = `
rules:
- id: anon
  title: anonymous request
  technique_id: MS-TA9005
  technique: Exposed sensitive interfaces
  tactic: Initial Access
  severity: high
  denied_severity: low
  condition: 'user == "system:anonymous"'
- id: never
  title: never fires
  technique_id: MS-TA9005
  technique: Exposed sensitive interfaces
  tactic: Initial Access
  severity: high
  match: {resources: [nothing]}
  condition: 'true'
`

// anonymousLines returns the sample's anonymous requests, as the apiserver
// wrote them.
func anonymousLines(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../../testdata/apiserver-1.36-basic-intrusion.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	var b strings.Builder
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"username":"system:anonymous"`) {
			b.WriteString(sc.Text() + "\n")
		}
	}
	if b.Len() == 0 {
		t.Fatal("no anonymous events in the sample")
	}
	return b.String()
}

func runTests(t *testing.T, tests string) []Result {
	t.Helper()
	fsys := fstest.MapFS{"r.yaml": {Data: []byte(rulesYAML)}, "r_test.yaml": {Data: []byte(tests)}}
	rf, err := rulefile.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	set, err := rulefile.Merge(rf, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewRunner(set).RunFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

func TestRunnerPassAndFail(t *testing.T) {
	events := indent(anonymousLines(t))
	res := runTests(t, `
tests:
- name: exact
  rules: [anon, never]
  events: |
`+events+`
  expect:
  - {rule: anon, severity: low, verb: list, resource: secrets, code: 403}
  - {rule: anon, severity: low, resource: configmaps, namespace: kube-system, message: "anonymous"}
- name: wrong severity
  events: |
`+events+`
  expect:
  - {rule: anon, severity: high, resource: secrets}
- name: unknown rule
  rules: [nosuch]
  events: |
`+events+`
- name: no scope
  events: |
`+events+`
- name: silent
  rules: [never]
  events: |
`+events+`
`)
	if len(res) != 5 {
		t.Fatalf("%d results, want 5", len(res))
	}
	if !res[0].OK() {
		t.Errorf("exact: %v", res[0].Failures)
	}
	f := strings.Join(res[1].Failures, "\n")
	if res[1].OK() || !strings.Contains(f, "missing finding {rule: anon, severity: high, resource: secrets}") || strings.Count(f, "unexpected finding") != 2 {
		t.Errorf("wrong severity: %v", res[1].Failures)
	}
	if res[2].OK() || !strings.Contains(res[2].Failures[0], `unknown rule "nosuch"`) {
		t.Errorf("unknown rule: %v", res[2].Failures)
	}
	if res[3].OK() {
		t.Error("a test without rules or expectations passed")
	}
	if !res[4].OK() {
		t.Errorf("silent: %v", res[4].Failures)
	}
	fire, silent := Untested(&rulefile.RuleSet{Rules: []*rulefile.Rule{{ID: "anon"}, {ID: "never"}}}, res)
	if len(fire) != 1 || fire[0] != "never" || len(silent) != 1 || silent[0] != "anon" {
		t.Errorf("Untested: fire %v silent %v", fire, silent)
	}
}

func TestRunnerRejectsBadFixtures(t *testing.T) {
	res := runTests(t, `
tests:
- name: not an audit event
  rules: [anon]
  events: |
    {"kind":"Pod","apiVersion":"v1"}
- name: missing log
  rules: [anon]
  log: nosuch.log
`)
	for _, r := range res {
		if r.OK() {
			t.Errorf("%s: passed", r.Name)
		}
	}
}
