package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = "../../testdata/apiserver-1.36-basic-intrusion.log"

// kaudit runs the CLI in-process and returns its exit code and output.
func kaudit(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestReplayJSONShapeAndDeterminism(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	code, out1, stderr := kaudit(t, "", "replay", "--format", "json", sample)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, out2, _ := kaudit(t, "", "replay", "--format", "json", "--workers", "1", sample)
	if out1 != out2 {
		t.Error("two runs on the same input gave different bytes")
	}
	lines := strings.Split(strings.TrimSpace(out1), "\n")
	findingKeys := strings.Fields("type rule title severity technique_id technique tactic audit_id stage time user groups impersonated_user source_ips user_agent verb request_uri api_group resource subresource namespace name code message location")
	incidentKeys := strings.Fields("type id severity start end actors source_ips user_agents tactics techniques finding_count findings touched summary")
	summaryKeys := strings.Fields("type events bad_lines findings incidents by_rule inputs")
	seen := map[string]int{}
	order := ""
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		typ, _ := m["type"].(string)
		seen[typ]++
		if !strings.HasSuffix(order, typ[:1]) {
			order += typ[:1]
		}
		want := map[string][]string{"finding": findingKeys, "incident": incidentKeys, "summary": summaryKeys}[typ]
		if want == nil {
			t.Fatalf("line %d has type %q", i+1, typ)
		}
		for _, k := range want {
			if _, ok := m[k]; !ok {
				t.Errorf("%s on line %d lacks %q", typ, i+1, k)
			}
		}
		if typ == "finding" {
			if !strings.HasPrefix(m["location"].(string), sample+":") {
				t.Errorf("finding location %v", m["location"])
			}
			if tm := m["time"].(string); len(tm) != len("2026-11-22T09:53:45.151023Z") {
				t.Errorf("time %q is not RFC 3339 with microseconds", tm)
			}
		}
		if typ == "incident" {
			tech := m["techniques"].([]any)[0].(map[string]any)
			for _, k := range []string{"id", "name", "tactic", "first_seen"} {
				if _, ok := tech[k]; !ok {
					t.Errorf("technique lacks %q", k)
				}
			}
		}
		if typ == "summary" {
			if m["events"].(float64) != 1129 || m["bad_lines"].(float64) != 0 || m["inputs"].(float64) != 1 {
				t.Errorf("summary %v", m)
			}
		}
	}
	if order != "fis" || seen["summary"] != 1 || seen["finding"] == 0 || seen["incident"] == 0 {
		t.Errorf("output order %q (finding, incident, summary), counts %v", order, seen)
	}
}

func TestReplayTextNarrative(t *testing.T) {
	code, out, _ := kaudit(t, "", "replay", sample)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	iInc, iFind, iSum := strings.Index(out, "INCIDENTS"), strings.Index(out, "FINDINGS"), strings.Index(out, "SUMMARY")
	if iInc < 0 || iFind < iInc || iSum < iFind {
		t.Fatalf("text sections out of order:\n%s", out)
	}
	// The story is wrapped to fit 120 columns: read it with its lines joined.
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "cluster-admin had been granted to mallory by admin") {
		t.Errorf("no narrative in:\n%s", out)
	}
}

func TestReplayExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.log")
	data, _ := os.ReadFile(sample)
	first := strings.SplitN(string(data), "\n", 2)[0]
	os.WriteFile(bad, []byte(first+"\nnot json\n"+first+"\n"), 0o644)

	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"bad lines still exit 0", []string{"replay", bad}, 0, bad + ":2: malformed JSON"},
		{"strict stops at the first bad line", []string{"replay", "--strict", bad}, 1, bad + ":2:"},
		{"missing input", []string{"replay", filepath.Join(dir, "missing.log")}, 1, "missing.log"},
		{"missing input among good ones", []string{"replay", sample, filepath.Join(dir, "missing.log")}, 1, "missing.log"},
		{"no path", []string{"replay"}, 2, "PATH"},
		{"unknown flag", []string{"replay", "--bogus", sample}, 2, "bogus"},
		{"bad format", []string{"replay", "--format", "xml", sample}, 2, "--format"},
		{"bad severity", []string{"replay", "--fail-on", "urgent", sample}, 2, "--fail-on"},
		{"fail-on high finds high", []string{"replay", "--fail-on", "high", sample}, 3, ""},
		{"fail-on critical finds the webhook calling outside", []string{"replay", "--fail-on", "critical", sample}, 3, ""},
		{"fail-on critical finds none in ordinary life", []string{"replay", "--fail-on", "critical", "../../testdata/apiserver-1.36-benign.log"}, 0, ""},
	}
	for _, c := range cases {
		code, _, stderr := kaudit(t, "", c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d (stderr %s)", c.name, code, c.code, stderr)
		}
		if c.stderr != "" && !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s: stderr %q lacks %q", c.name, stderr, c.stderr)
		}
	}
}

func TestReplayStdinAndBadLinesCounted(t *testing.T) {
	data, _ := os.ReadFile(sample)
	input := string(data) + "{broken\n"
	code, out, stderr := kaudit(t, input, "replay", "--format", "json", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "stdin:1130: malformed JSON") {
		t.Errorf("stderr %q", stderr)
	}
	if !strings.Contains(out, `"events":1129,"bad_lines":1`) {
		t.Errorf("summary does not count the bad line: %s", out[strings.LastIndex(out, "{"):])
	}
}

func TestReplayOutputHoldsNoSecret(t *testing.T) {
	secrets := []string{"LASTAPPLIED-hunter2", "STRINGDATA-hunter2", "DATA-hunter2", "LISTITEM-hunter2", "PATCH-hunter2",
		"JSONPATCH-hunter2", "TOKENREQUEST-payload", "TOKENREVIEW-abcdef", "ENVVAR-hunter2", "CONFIGMAP-apikey"}
	for _, format := range []string{"json", "text"} {
		code, out, stderr := kaudit(t, "", "replay", "--format", format, "../../testdata/secrets-requestresponse.log", sample)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, s := range secrets {
			for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
				if strings.Contains(out, form) || strings.Contains(stderr, form) {
					t.Errorf("%s output holds the secret %q", format, form)
				}
			}
		}
	}
}

func TestReplayUserRulesDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "site.yaml"), []byte("disable: [cluster-admin-binding]\n"), 0o644)
	_, out, _ := kaudit(t, "", "replay", "--format", "json", "--rules", dir, sample)
	if strings.Contains(out, `"rule":"cluster-admin-binding"`) {
		t.Error("a rule disabled in --rules still fired")
	}
	os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("rules:\n- id: b\n  title: b\n  technique_id: x\n  tactic: y\n  severity: low\n  condition: 'verb =='\n"), 0o644)
	code, _, stderr := kaudit(t, "", "replay", "--rules", dir, sample)
	if code != 2 || !strings.Contains(stderr, "broken.yaml") || !strings.Contains(stderr, "rule b") {
		t.Errorf("a broken user rule: exit %d, stderr %q", code, stderr)
	}
}
