package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// Stored fields carrying terminal escape sequences, line breaks or
// bidirectional controls print as visible escapes in every text output:
// timeline, incidents, replay, and the bad lines reported on stderr.
func TestTextOutputEscapesControlCharacters(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var out []string
	for _, l := range lines {
		if strings.Contains(l, `"username":"mallory"`) {
			l = strings.Replace(l, `"username":"mallory"`, `"username":"mallory\u001b]0;owned\u0007\u001b[2J\r\nforged line \u202etxt.exe"`, 1)
			l = strings.Replace(l, `"userAgent":"`, `"userAgent":"\u001b[31mred\u001b[0m `, 1)
		}
		out = append(out, l)
	}
	out = append(out, "{\"broken\u001b[2J")
	path := filepath.Join(t.TempDir(), "escapes.log")
	writeFile(t, path, strings.Join(out, "\n")+"\n")
	t.Setenv("KAUDIT_REDACT_KEY", "test")

	check := func(what, s string) {
		t.Helper()
		for _, r := range s {
			if r != '\n' && (unicode.IsControl(r) || r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069') {
				t.Fatalf("%s prints %U raw:\n%q", what, r, s[:min(len(s), 3000)])
			}
		}
		if !strings.Contains(s, `mallory\x1b]0;owned\x07\x1b[2J\r\nforged line \u202etxt.exe`) {
			t.Fatalf("%s does not show the name escaped:\n%s", what, s[:min(len(s), 3000)])
		}
	}
	code, stdout, stderr := kaudit(t, "", "replay", path)
	if code != exitOK {
		t.Fatalf("replay: exit %d %s", code, stderr)
	}
	check("replay", stdout)
	if strings.Contains(stderr, "\x1b") {
		t.Fatalf("a bad line's reason prints an escape raw on stderr: %q", stderr)
	}
	code, stdout, _ = kaudit(t, "", "timeline", "-o", "wide", "--actor", "mallory\x1b]0;owned\a\x1b[2J\r\nforged line \u202etxt.exe", path)
	if code != exitOK || stdout == "" {
		t.Fatalf("timeline: exit %d", code)
	}
	check("timeline", stdout)
	code, stdout, _ = kaudit(t, "", "incidents", "-o", "wide", path)
	if code != exitOK {
		t.Fatalf("incidents: exit %d", code)
	}
	check("incidents", stdout)
	if !strings.Contains(stdout, `\x1b[31mred\x1b[0m kubectl`) {
		t.Fatalf("incidents do not show the client's escapes:\n%s", stdout)
	}
}

func TestFieldTextLeavesPlainTextAlone(t *testing.T) {
	for in, want := range map[string]string{
		"system:serviceaccount:kube-system:coredns":        "system:serviceaccount:kube-system:coredns",
		"kubectl/v1.36.3 (linux/amd64) kubernetes/4cb5f07": "kubectl/v1.36.3 (linux/amd64) kubernetes/4cb5f07",
		"élan 😀 名前":                                        "élan 😀 名前",
		"a\tb":                                             `a\tb`,
		"bad\xffutf8":                                      `bad\xffutf8`,
		"\u200fhidden":                                     `\u200fhidden`,
		"del\x7f":                                          `del\x7f`,
		"c1\u009b31m":                                      `c1\u009b31m`,
	} {
		if got := fieldText(in); got != want {
			t.Errorf("fieldText(%q) = %q, want %q", in, got, want)
		}
	}
}
