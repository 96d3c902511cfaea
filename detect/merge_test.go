package detect

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/ingest/ingesttest"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// sampleEvents returns the events of the real basic-intrusion sample for
// which keep is true, in log order.
func sampleEvents(t testing.TB, keep func(*auditv1.Event) bool) []*auditv1.Event {
	var out []*auditv1.Event
	for _, ev := range ingesttest.Events(t, "../testdata/apiserver-1.36-basic-intrusion.log") {
		if keep(ev) {
			out = append(out, ev)
		}
	}
	return out
}

const builtinRules = `
rules:
- id: webhook
  title: webhook changed
  technique_id: MS-TA9015
  technique: Malicious admission controller
  tactic: Persistence
  severity: high
  match: {verbs: [create, update, patch], resources: [mutatingwebhookconfigurations]}
  condition: 'true'
- id: coredns
  title: coredns changed
  technique_id: MS-TA9035
  technique: CoreDNS poisoning
  tactic: Lateral Movement
  severity: high
  match: {verbs: [patch], resources: [configmaps]}
  condition: 'name == "coredns"'
`

func loadFiles(t *testing.T, files map[string]string) []rulefile.RuleFile {
	t.Helper()
	fsys := fstest.MapFS{}
	for n, s := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(s)}
	}
	rf, err := rulefile.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return rf
}

func ruleIDs(t *testing.T, set *rulefile.RuleSet, evs []*auditv1.Event) map[string]string {
	t.Helper()
	e, err := NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ev := range evs {
		fs, _, err := e.Evaluate(ev, "sample")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			got[f.Rule] = f.Severity
		}
	}
	return got
}

// TestMergeUserFile checks what a user's --rules file can do to the
// built-in library: add exceptions to a rule, override a rule by id, add a
// rule, disable a rule; and that it cannot silently misname one.
func TestMergeUserFile(t *testing.T) {
	evs := sampleEvents(t, func(ev *auditv1.Event) bool {
		return ev.User.Username == "mallory" && ev.ObjectRef != nil &&
			(ev.ObjectRef.Resource == "mutatingwebhookconfigurations" || ev.ObjectRef.Name == "coredns")
	})
	if len(evs) == 0 {
		t.Fatal("the sample has no events of mallory's webhook and CoreDNS patch")
	}
	builtin := loadFiles(t, map[string]string{"persistence.yaml": builtinRules, "persistence_test.yaml": "not: rules", "matrix.yaml": "techniques: []"})

	set, err := rulefile.Merge(builtin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleIDs(t, set, evs); got["webhook"] != "high" || got["coredns"] != "high" {
		t.Fatalf("built-in rules alone: %v, want webhook and coredns high", got)
	}

	user := loadFiles(t, map[string]string{"mine.yaml": `
exceptions:
- rule: webhook
  comment: mallory is our admission-controller team (in this test)
  users: [mallory]
  source_networks: [127.0.0.0/8]
rules:
- id: coredns
  title: coredns changed (ours)
  technique_id: MS-TA9035
  technique: CoreDNS poisoning
  tactic: Lateral Movement
  severity: critical
  match: {verbs: [patch], resources: [configmaps]}
  condition: 'name == "coredns"'
- id: mallory-anything
  title: mallory did something
  technique_id: MS-TA9003
  technique: Kubeconfig file
  tactic: Initial Access
  severity: low
  match: {users: [mallory]}
  condition: 'true'
`})
	set, err = rulefile.Merge(builtin, user)
	if err != nil {
		t.Fatal(err)
	}
	got := ruleIDs(t, set, evs)
	if _, ok := got["webhook"]; ok {
		t.Errorf("the user's exception did not exempt mallory from the webhook rule: %v", got)
	}
	if got["coredns"] != "critical" {
		t.Errorf("the user's rule did not override coredns: %v", got)
	}
	if got["mallory-anything"] != "low" {
		t.Errorf("the user's own rule did not run: %v", got)
	}

	// An exception that does not match (another network) leaves the rule in force.
	other := loadFiles(t, map[string]string{"mine.yaml": `
exceptions:
- rule: webhook
  users: [mallory]
  source_networks: [10.0.0.0/8]
disable: [coredns]
`})
	set, err = rulefile.Merge(builtin, other)
	if err != nil {
		t.Fatal(err)
	}
	got = ruleIDs(t, set, evs)
	if got["webhook"] != "high" {
		t.Errorf("an exception for another network exempted mallory: %v", got)
	}
	if _, ok := got["coredns"]; ok {
		t.Errorf("disabled rule coredns still fired: %v", got)
	}

	for name, bad := range map[string]string{
		"exception for an unknown rule": "exceptions: [{rule: nosuch, users: [x]}]",
		"disable of an unknown rule":    "disable: [nosuch]",
		"unknown field":                 "rules: [{id: x, title: t, technique_id: MS-TA9003, tactic: Initial Access, severity: low, condition: 'true', severty: low}]",
	} {
		fsys := fstest.MapFS{"bad.yaml": &fstest.MapFile{Data: []byte(bad)}}
		rf, err := rulefile.LoadFS(fsys)
		if err == nil {
			_, err = rulefile.Merge(builtin, rf)
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Two built-in rules with one id are an error; a user's rule with that id is an override.
	dup := loadFiles(t, map[string]string{"a.yaml": builtinRules, "b.yaml": builtinRules})
	if _, err := rulefile.Merge(dup, nil); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate built-in ids: %v", err)
	}
}
