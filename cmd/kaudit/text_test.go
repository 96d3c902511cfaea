package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var samples = []string{
	"../../testdata/apiserver-1.36-basic-intrusion.log",
	"../../testdata/apiserver-1.36-access.log",
	"../../testdata/apiserver-1.36-workloads.log",
}

// checkWidth fails when a line of text output is wider than 120 runes.
func checkWidth(t *testing.T, what, out string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > textWidth {
			t.Errorf("%s line %d is %d wide:\n%s", what, i+1, n, line)
			return
		}
	}
}

// incidentIDs reads the incident ids of a sample.
func incidentIDs(t *testing.T, path string) []string {
	t.Helper()
	_, out, _ := kaudit(t, "", "incidents", "-o", "json", path)
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var inc struct{ ID string }
		if err := json.Unmarshal([]byte(l), &inc); err != nil {
			t.Fatalf("incident JSON: %v: %s", err, l)
		}
		ids = append(ids, inc.ID)
	}
	return ids
}

// TestTextFitsAndAligns: in the text format every command's lines fit 120
// columns on every sample; incidents lists one line per incident, under
// its header.
func TestTextFitsAndAligns(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	for _, s := range samples {
		name := filepath.Base(s)
		ids := incidentIDs(t, s)
		for _, args := range [][]string{
			{"replay", s}, {"incidents", s}, {"incidents", s, ids[0]}, {"timeline", s}, {"timeline", "--search", "-system:*", s},
		} {
			code, out, stderr := kaudit(t, "", args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
			checkWidth(t, name+" "+args[0], out)
		}
		code, out, _ := kaudit(t, "", "incidents", s)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if code != 0 || len(lines) != len(ids)+1 || !strings.HasPrefix(lines[0], "ID ") {
			t.Fatalf("%s: incidents is not one line per incident:\n%s", name, out)
		}
		// Columns align: every line's SEVERITY starts where the header's does.
		col := strings.Index(lines[0], "SEVERITY")
		for _, l := range lines[1:] {
			if !regexp.MustCompile(`^(INFO|LOW|MEDIUM|HIGH|CRITICAL)\b`).MatchString(l[col:]) {
				t.Errorf("%s: misaligned row:\n%s\n%s", name, lines[0], l)
			}
		}
	}
	code, wide, _ := kaudit(t, "", "timeline", "-o", "wide", "--source-ip", "198.51.100.23", samples[1])
	if code != 0 || !strings.Contains(wide, "198.51.100.23 via 127.0.0.1") || strings.Contains(wide, "…") {
		t.Errorf("wide cuts something or lacks the sources:\n%s", wide)
	}
}

// TestIncidentDescribe: kaudit incidents PATH ID describes one incident,
// kubectl style, with its tactics in the order they occurred, the
// identities' links, the findings (line numbers of the one file read), the
// CoreDNS change and the timeline marked with findings.
func TestIncidentDescribe(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	_, out, _ := kaudit(t, "", "incidents", "--actor", "mallory", "-o", "json", sample)
	var inc struct{ ID string }
	json.Unmarshal([]byte(out), &inc)
	code, out, stderr := kaudit(t, "", "incidents", sample, inc.ID)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"Name:         " + inc.ID, "Severity:     CRITICAL",
		"Tactics:      Discovery > Credential Access > Privilege Escalation > Persistence > Lateral Movement",
		"binding     admin granted cluster-admin to mallory via clusterrolebindings/mallory-admin",
		"Findings (12):", "LINE", "1121",
		"data.Corefile changed:", "+ 203.0.113.53", "- /etc/resolv.conf",
		"Timeline (10 requests of its actors):", "HIGH coredns-configmap-change",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "../../testdata") {
		t.Errorf("describe repeats the path on every row:\n%s", out)
	}
}

// TestIncidentExport writes mallory's incident as Markdown, HTML and JSON
// from the CLI: each holds the timeline, findings, identities and evidence
// (the file, relative to the argument, with its line, and the audit id).
func TestIncidentExport(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	ids := incidentIDs(t, sample)
	var id string
	for _, x := range ids {
		if _, out, _ := kaudit(t, "", "incidents", sample, x); strings.Contains(out, "mallory") {
			id = x
		}
	}
	for _, format := range []string{"md", "html", "json"} {
		code, out, stderr := kaudit(t, "", "incidents", sample, id, "-o", format)
		if code != 0 {
			t.Fatalf("-o %s: exit %d: %s", format, code, stderr)
		}
		for _, want := range []string{id, "apiserver-1.36-basic-intrusion.log:1121", "1245ddec-efc3-4673-b857-4becdd1d279b", "cluster-admin", "attacker.example.com"} {
			if !strings.Contains(out, want) {
				t.Errorf("-o %s lacks %q", format, want)
			}
		}
		// JSON keeps locations as read, as replay's JSON does; reports for
		// people name them relative to the argument.
		if format != "json" && strings.Contains(out, "../../testdata") {
			t.Errorf("-o %s: evidence paths are not relative to the argument", format)
		}
	}
	// The same bytes from a second run: a report is evidence.
	_, a, _ := kaudit(t, "", "incidents", sample, id, "-o", "md")
	_, b, _ := kaudit(t, "", "incidents", sample, id, "-o", "md")
	if a != b {
		t.Error("two exports of one incident differ")
	}
}

// TestFormatShorthand: -o is --format's shorthand in every command that
// has one, and --format still works.
func TestFormatShorthand(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	for _, args := range [][]string{
		{"replay", sample}, {"timeline", sample}, {"incidents", sample}, {"rules", "list"}, {"rules", "coverage"},
	} {
		for _, flag := range []string{"-o", "--format"} {
			code, out, stderr := kaudit(t, "", append(append([]string{}, args...), flag, "json")...)
			if code != 0 || !strings.HasPrefix(out, "{") {
				t.Errorf("%v %s json: exit %d %s", args, flag, code, stderr)
			}
		}
		if code, _, stderr := kaudit(t, "", append(append([]string{}, args...), "-o", "wide")...); code != 0 {
			t.Errorf("%v -o wide: exit %d %s", args, code, stderr)
		}
	}
}

// TestFieldTextEscapes: a stored field cannot drive the terminal.
func TestFieldTextEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"mallory":                 "mallory",
		"evil\x1b[2J\x1b]0;x\x07": `evil\x1b[2J\x1b]0;x\x07`,
		"a\nb\tc":                 `a\nb\tc`,
		"admin\u202egnp.exe":      `admin\u202egnp.exe`,
		"\xff":                    `\xff`,
		"c1\u009b":                `c1\u009b`,
		"ünïcode ✓":               "ünïcode ✓",
	} {
		if got := fieldText(in); got != want {
			t.Errorf("fieldText(%q) = %q, want %q", in, got, want)
		}
	}
	// Through a command: a user name with escapes prints escaped.
	dir := t.TempDir()
	data, _ := os.ReadFile(sample)
	line := strings.SplitN(string(data), "\n", 2)[0]
	line = strings.Replace(line, `"username":"`, `"username":"\u001b[31mred`, 1)
	p := filepath.Join(dir, "esc.log")
	os.WriteFile(p, []byte(line+"\n"), 0o644)
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	_, out, _ := kaudit(t, "", "timeline", p)
	if strings.Contains(out, "\x1b") || !strings.Contains(out, `\x1b[31mred`) {
		t.Errorf("escape sequence reached the terminal:\n%q", out)
	}
}

// TestScreen: colour only on a terminal and never with NO_COLOR; the pager
// only for a terminal, off with KAUDIT_PAGER= or cat; show pipes long
// text through it.
func TestScreen(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if s := screenOf(&bytes.Buffer{}, env()); s.tty || s.color || s.pager != "" {
		t.Errorf("a buffer is a terminal: %+v", s)
	}
	if s := terminalScreen(env("TERM", "xterm")); !s.color || s.pager != "less -FRX" {
		t.Errorf("terminal: %+v", s)
	}
	if s := terminalScreen(env("TERM", "xterm", "NO_COLOR", "1")); s.color {
		t.Error("NO_COLOR ignored")
	}
	if s := terminalScreen(env("TERM", "dumb")); s.color {
		t.Error("colour on a dumb terminal")
	}
	if s := terminalScreen(env("PAGER", "more", "KAUDIT_PAGER", "")); s.pager != "" {
		t.Errorf("KAUDIT_PAGER= keeps a pager: %q", s.pager)
	}
	if s := terminalScreen(env("PAGER", "cat")); s.pager != "" {
		t.Errorf("PAGER=cat keeps a pager: %q", s.pager)
	}
	if got := (palette{on: true}).paint(styleHigh, "HIGH"); got != "\x1b[1;31mHIGH\x1b[0m" {
		t.Errorf("paint: %q", got)
	}
	if got := (palette{}).paint(styleHigh, "HIGH"); got != "HIGH" {
		t.Errorf("paint off: %q", got)
	}

	// show: long text goes through the pager, short text straight out.
	dir := t.TempDir()
	paged := filepath.Join(dir, "paged")
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, screen: screen{tty: true, height: 3, pager: "tee " + paged}}
	if err := a.show([]byte("1\n2\n3\n4\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(paged); string(got) != "1\n2\n3\n4\n" || out.String() != "1\n2\n3\n4\n" {
		t.Errorf("paged %q, shown %q", got, out.String())
	}
	os.Remove(paged)
	out.Reset()
	a.show([]byte("1\n"))
	if _, err := os.Stat(paged); err == nil || out.String() != "1\n" {
		t.Errorf("short text went through the pager")
	}
	// A pager that is not installed: the text as it is.
	out.Reset()
	a.screen.pager = "no-such-pager-kaudit"
	if err := a.show([]byte("1\n2\n3\n4\n")); err != nil || out.String() != "1\n2\n3\n4\n" {
		t.Errorf("missing pager: %v %q", err, out.String())
	}
}

// TestIncidentCSV: -o csv writes the incident's timeline, one row per
// request with the findings it drew, readable by a CSV reader, and no cell
// a spreadsheet would run as a formula.
func TestIncidentCSV(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	var id string
	for _, x := range incidentIDs(t, sample) {
		if _, out, _ := kaudit(t, "", "incidents", sample, x); strings.Contains(out, "mallory") {
			id = x
		}
	}
	code, out, stderr := kaudit(t, "", "incidents", sample, id, "-o", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v", err)
	}
	if len(rows) < 3 || rows[0][0] != "time" || rows[0][2] != "rules" {
		t.Fatalf("rows %v", rows[:min(len(rows), 2)])
	}
	found := false
	for _, r := range rows[1:] {
		if len(r) != len(rows[0]) {
			t.Fatalf("row of %d cells under %d columns: %v", len(r), len(rows[0]), r)
		}
		for _, c := range r {
			if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("cell %q would run as a formula", c)
			}
		}
		found = found || r[4] == "mallory" && strings.Contains(r[2], "coredns-configmap-change") && r[19] == "apiserver-1.36-basic-intrusion.log:1121"
	}
	if !found {
		t.Errorf("no row for mallory's CoreDNS patch with its finding and location:\n%s", out)
	}
	if code, _, _ := kaudit(t, "", "incidents", sample, "-o", "csv"); code != exitUsage {
		t.Errorf("-o csv without an incident id: exit %d, want %d", code, exitUsage)
	}
}
