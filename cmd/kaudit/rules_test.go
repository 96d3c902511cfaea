package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestRulesTestBuiltin runs `kaudit rules test`: every YAML rule test of
// the built-in library against real apiserver logs must pass.
func TestRulesTestBuiltin(t *testing.T) {
	code, out, errs := runCLI(t, "rules", "test")
	if code != exitOK {
		t.Fatalf("kaudit rules test: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "0 failed") {
		t.Errorf("output does not report the run:\n%s", out)
	}
}

// TestRulesTestUserDir checks a user's directory: its rules override and
// disable built-in ones, its tests run against the merged set, and a failing
// test fails the command with exit 1 and says which expectation failed.
func TestRulesTestUserDir(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile("../../testdata/apiserver-1.36-basic-intrusion.log")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sample.log", string(sample))
	write("ours.yaml", `
disable: [pod-logs-read]
exceptions:
- rule: anonymous-request
  comment: our uptime probe
  user_agents: [curl/]
rules:
- id: coredns-configmap-change
  title: CoreDNS configuration changed (ours, critical)
  technique_id: MS-TA9035
  technique: CoreDNS poisoning
  tactic: Lateral Movement
  attack: [T1557]
  severity: critical
  match: {verbs: [update, patch, delete], resources: [configmaps]}
  condition: 'namespace == "kube-system" && name == "coredns"'
- id: team-a-secret-read
  title: A secret of team-a read by someone outside the team
  technique_id: MS-TA9025
  technique: List K8S secrets
  tactic: Credential Access
  severity: medium
  match: {verbs: [get], resources: [secrets]}
  condition: 'namespace == "team-a" && actor != "alice"'
`)
	write("ours_test.yaml", `
tests:
- name: our override and our rule on the sample
  log: sample.log
  rules: [coredns-configmap-change, team-a-secret-read, anonymous-request]
  expect:
  - {rule: coredns-configmap-change, severity: critical, user: mallory}
  - {rule: team-a-secret-read, user: mallory, name: db-creds}
`)
	code, out, errs := runCLI(t, "rules", "test", "--rules", dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, dir+": 1 tests, 1 passed") {
		t.Errorf("the user's test did not run:\n%s", out)
	}

	write("ours_test.yaml", `
tests:
- name: expects what does not happen
  log: sample.log
  rules: [team-a-secret-read]
  expect:
  - {rule: team-a-secret-read, user: alice}
`)
	code, out, _ = runCLI(t, "rules", "test", "--rules", dir)
	if code != exitInput {
		t.Fatalf("a failing rule test gave exit %d, want %d\n%s", code, exitInput, out)
	}
	for _, want := range []string{"FAIL", "missing finding {rule: team-a-secret-read, user: alice}", "unexpected finding {rule: team-a-secret-read", "mallory"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "rules", "list", "--rules", dir)
	if code != exitOK || !strings.Contains(out, "pod-logs-read (disabled)") || !strings.Contains(out, "team-a-secret-read") {
		t.Errorf("rules list: exit %d\n%s", code, out)
	}
}

// TestRulesCoverage checks that coverage lists every technique of the
// matrix with its rules or the reason the audit log cannot see it.
func TestRulesCoverage(t *testing.T) {
	code, out, errs := runCLI(t, "rules", "coverage")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	for _, want := range []string{
		"MS-TA9018 Privileged container", "privileged-container", "needs Request",
		"MS-TA9028 Access managed identity credentials", "not visible: the instance metadata service",
		"MS-TA9035 CoreDNS poisoning", "coredns-configmap-change", "KA-9101 Impersonation", "KA-9103", "event-dated-ahead",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("coverage lacks %q", want)
		}
	}
	if strings.Contains(out, "NO RULE") {
		t.Errorf("a visible technique has no rule:\n%s", out)
	}
	code, out, _ = runCLI(t, "rules", "coverage", "--format", "json")
	if code != exitOK || strings.Count(out, "\n") != 43 {
		t.Errorf("coverage --format json: exit %d, %d lines, want 43", code, strings.Count(out, "\n"))
	}
	if code, _, _ := runCLI(t, "rules", "list", "--format", "yaml"); code != exitUsage {
		t.Errorf("rules list --format yaml: exit %d, want %d", code, exitUsage)
	}
}
