package rules

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/rules/ruletest"
)

// TestRuleTests runs the YAML rule tests beside the rules (what `kaudit
// rules test` runs) and checks that every rule has a test that makes it fire
// and one in which it must stay silent.
func TestRuleTests(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	results, err := ruletest.NewRunner(set).RunFS(FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no rule tests found")
	}
	for _, r := range results {
		if !r.OK() {
			t.Errorf("%s: %s:\n    %s", r.File, r.Name, strings.Join(r.Failures, "\n    "))
		}
	}
	fire, silent := ruletest.Untested(set, results)
	if len(fire) > 0 {
		t.Errorf("rules without a test that makes them fire: %v", fire)
	}
	if len(silent) > 0 {
		t.Errorf("rules without a test in which they must stay silent: %v", silent)
	}
}

// TestMatrixCoverage checks the library against the technique table: every
// technique the audit log can see has a rule, every rule names a technique
// of the table with one of its tactics and its ATT&CK ids.
func TestMatrixCoverage(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	matrix, err := Matrix()
	if err != nil {
		t.Fatal(err)
	}
	// threat-matrix.md's table: MS-TA9001 to MS-TA9041 without MS-TA9032
	// (the matrix retired it), and kaudit's three beyond the matrix.
	if n := len(matrix); n != 40+3 {
		t.Errorf("matrix.yaml holds %d techniques, want the matrix's 40 and kaudit's 3", n)
	}
	byID := map[string]Technique{}
	for _, tc := range matrix {
		if _, dup := byID[tc.ID]; dup {
			t.Errorf("technique %s listed twice", tc.ID)
		}
		byID[tc.ID] = tc
		switch tc.Seen {
		case "yes", "partly":
			if tc.Evidence == "" || tc.Level == "" {
				t.Errorf("%s is visible but says no evidence or level", tc.ID)
			}
		case "no":
			if tc.Why == "" {
				t.Errorf("%s is not visible but does not say why", tc.ID)
			}
		default:
			t.Errorf("%s: seen %q is not yes, partly or no", tc.ID, tc.Seen)
		}
	}
	cov, extra := Coverage(set, matrix)
	for _, c := range cov {
		if c.Visible() && len(c.Rules) == 0 {
			t.Errorf("technique %s %s is visible but no rule covers it", c.ID, c.Name)
		}
	}
	for _, r := range extra {
		t.Errorf("rule %s names a technique outside matrix.yaml", r.ID)
	}
	for _, r := range set.Rules {
		tc, ok := byID[r.TechniqueID]
		if !ok {
			continue
		}
		if r.Technique != tc.Name {
			t.Errorf("rule %s: technique %q, the matrix calls %s %q", r.ID, r.Technique, tc.ID, tc.Name)
		}
		if !slices.Contains(tc.Tactics, r.Tactic) && !tacticOfAnother(r) {
			t.Errorf("rule %s: tactic %q is not one of %s's %v", r.ID, r.Tactic, tc.ID, tc.Tactics)
		}
		if len(tc.Attack) > 0 && len(r.Attack) == 0 {
			t.Errorf("rule %s: no ATT&CK id, %s maps to %v", r.ID, tc.ID, tc.Attack)
		}
		for _, a := range r.Attack {
			if !slices.Contains(tc.Attack, a) {
				t.Errorf("rule %s: ATT&CK %s is not one of %s's %v", r.ID, a, tc.ID, tc.Attack)
			}
		}
		m := r.Match
		if m.Resources == nil && len(m.Users)+len(m.Verbs)+len(m.NotUsers)+len(m.Groups) == 0 && !m.Impersonated && !m.ExternalSource {
			t.Logf("rule %s runs its condition on every event (its match narrows nothing)", r.ID)
		}
	}
}

// tacticOfAnother allows a rule to report a technique under the tactic of
// what the evidence shows when the matrix lists the technique elsewhere:
// a command run through the kubelet API is execution, found while the
// technique is filed under discovery.
func tacticOfAnother(r *rulefile.Rule) bool {
	return r.ID == "kubelet-api-exec"
}

// TestEscalationPathsCovered checks the escalation table of matrix.yaml:
// every path of Kubernetes' RBAC good practices has a rule, and every rule
// it names exists.
func TestEscalationPathsCovered(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	paths, err := Escalation()
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 10 {
		t.Fatalf("%d escalation paths, want the good-practices list (escalate/bind, impersonate, CSRs, tokens, token Secrets, nodes/proxy, workloads, ephemeral containers, hostPath volumes, namespace labels, webhooks)", len(paths))
	}
	known := map[string]bool{}
	for _, r := range set.Rules {
		known[r.ID] = true
	}
	for _, p := range paths {
		if len(p.Rules) == 0 {
			t.Errorf("escalation path %q has no rule", p.Path)
		}
		for _, id := range p.Rules {
			if !known[id] {
				t.Errorf("escalation path %q names rule %s, which does not exist", p.Path, id)
			}
		}
	}
}

// clientCompare finds what an expression compares client(user_agent) with.
var clientCompare = regexp.MustCompile(`client\(user_agent\)\s*(?:==|!=|in)\s*(\[[^\]]*\]|"[^"]*")`)

// TestClientNamesAreLowercase guards the comparisons with client(): it
// returns the user agent's product token in lower case, so "Helm" would
// never match and a grade written for Helm would silently never apply.
func TestClientNamesAreLowercase(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range set.Rules {
		srcs := []string{r.Condition, r.Fallback}
		for _, g := range r.Grades {
			srcs = append(srcs, g.When)
		}
		for _, src := range srcs {
			for _, m := range clientCompare.FindAllStringSubmatch(src, -1) {
				if m[1] != strings.ToLower(m[1]) {
					t.Errorf("rule %s compares client(user_agent) with %s: client() is lower case", r.ID, m[1])
				}
			}
		}
	}
}
