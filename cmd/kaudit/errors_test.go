package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWrongInputsAreErrors runs each wrong input of issue 15: every one
// is an error naming it, exit 2 (1 for a file that cannot be read, and
// for an empty input under --strict), and nothing on stdout.
func TestWrongInputsAreErrors(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notAudit := write("x.json", "{\"kind\": \"ConfigMap\",\n \"data\": {\"a\": \"b\"}}\n")
	empty := write("empty.log", "")
	write("scripts/a.sh", "#!/bin/sh\necho hi\n")
	write("scripts/b.sh", "exit 0\n")
	scripts := filepath.Join(dir, "scripts")
	missing := filepath.Join(dir, "missing.log")

	cases := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"unknown severity", []string{"incidents", "--min-severity", "bogus", sample}, 2, []string{`--min-severity: severity "bogus"`}},
		{"a severity's prefix", []string{"incidents", "--min-severity", "crit", sample}, 2, []string{"did you mean critical?"}},
		{"unknown fail-on", []string{"replay", "--fail-on", "urgent", sample}, 2, []string{"--fail-on"}},
		{"unknown subcommand", []string{"rules", "lst"}, 2, []string{`unknown subcommand "lst"`, "did you mean list"}},
		{"no subcommand", []string{"rules"}, 2, []string{"rules needs a subcommand"}},
		{"unknown command", []string{"replya", sample}, 2, []string{"unknown command"}},
		{"a JSON file that is no audit log", []string{"replay", notAudit}, 2,
			[]string{notAudit + ": 0 audit events in 1 JSON document: not an audit log"}},
		{"the same, to timeline", []string{"timeline", notAudit}, 2, []string{"not an audit log"}},
		{"a directory of shell scripts", []string{"replay", scripts}, 2, []string{scripts + ": 0 audit events in 2 files, not JSON: not an audit log"}},
		{"empty input under --strict", []string{"replay", "--strict", empty}, 1, []string{empty + ": empty: no audit events (--strict)"}},
		{"a missing file", []string{"replay", missing}, 1, []string{missing + ": no such file or directory"}},
		{"a missing file among good ones", []string{"replay", sample, missing}, 1, []string{missing + ": no such file or directory"}},
		{"a missing file to incidents", []string{"incidents", missing}, 1, []string{missing + ": no such file or directory"}},
		{"a service account's short name", []string{"timeline", "--actor", "replicaset-controller", sample}, 2, []string{
			"no requests for actor replicaset-controller; did you mean system:serviceaccount:kube-system:replicaset-controller; the log covers 09:53:17–09:53:53 on 2026-11-22"}},
		{"--since 2h on an old log", []string{"timeline", "--actor", "mallory", "--since", "2h", sample}, 2, []string{
			"no requests for actor mallory, since ", "the filters match requests outside the time window", "the log covers 09:53:17–09:53:53 on 2026-11-22"}},
		{"an incident actor's short name", []string{"incidents", "--actor", "anonymous", sample}, 2, []string{"did you mean system:anonymous"}},
		{"a report of the list", []string{"incidents", "-o", "md", sample}, 2, []string{"exports one incident"}},
		{"an unknown format", []string{"timeline", "-o", "yaml", sample}, 2, []string{`--format (-o) "yaml": want text, wide, json`}},
		{"a bad search", []string{"timeline", "--search", "actor:", sample}, 2, []string{"--search"}},
	}
	for _, c := range cases {
		code, out, stderr := kaudit(t, "", c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\nstderr: %s", c.name, code, c.code, stderr)
		}
		if out != "" {
			t.Errorf("%s: wrote to stdout:\n%s", c.name, out[:min(len(out), 400)])
		}
		for _, want := range c.stderr {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr %q lacks %q", c.name, stderr, want)
			}
		}
		if strings.Contains(c.name, "missing") && strings.Count(stderr, "missing.log") != 1 {
			t.Errorf("%s: the missing file is reported %d times:\n%s", c.name, strings.Count(stderr, "missing.log"), stderr)
		}
		if strings.Contains(stderr, "Usage:") {
			t.Errorf("%s: printed the help:\n%s", c.name, stderr)
		}
	}
}

// TestNearlyWrongInputs are inputs that are not wrong: an empty file is a
// warning, a capitalised severity is read, an actor that never acted is
// an empty answer said on stderr, a stray file in a directory of logs is
// skipped with a warning.
func TestNearlyWrongInputs(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.log")
	os.WriteFile(empty, nil, 0o644)
	code, out, stderr := kaudit(t, "", "replay", empty)
	if code != 0 || !strings.Contains(stderr, "warning: "+empty+": empty: no audit events") || !strings.Contains(out, "INCIDENTS (0)") {
		t.Errorf("empty input: exit %d, stderr %q", code, stderr)
	}
	code, out, stderr = kaudit(t, "", "incidents", "--min-severity", "HIGH", sample)
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "mallory") {
		t.Errorf("--min-severity HIGH: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = kaudit(t, "", "timeline", "--actor", "nobody-at-all", sample)
	if code != 0 || out != "" || !strings.Contains(stderr, "no requests for actor nobody-at-all; the log covers") {
		t.Errorf("an actor that never acted: exit %d, %q, %q", code, out, stderr)
	}
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	data, _ := os.ReadFile(sample)
	os.WriteFile(filepath.Join(logs, "audit.log"), data, 0o644)
	os.WriteFile(filepath.Join(logs, "README"), []byte("rotated by logrotate\n"), 0o644)
	code, out, stderr = kaudit(t, "", "replay", logs)
	if code != 0 || !strings.Contains(stderr, "warning: skipped "+filepath.Join(logs, "README")+": 0 audit events, not JSON") || !strings.Contains(out, "INCIDENTS (2)") {
		t.Errorf("a stray file among logs: exit %d\n%s", code, stderr)
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, filepath.Join(logs, "README")+":1:") {
			t.Errorf("the stray file's lines are reported one by one: %s", line)
		}
	}
	// Paths are relative to the argument: audit.log:1121, not the whole path.
	if !strings.Contains(out, "  audit.log:1121") || strings.Contains(out, logs) {
		t.Errorf("locations are not relative to %s:\n%s", logs, out)
	}
}
