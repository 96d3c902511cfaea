package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An event dated ahead of this machine's clock by more than
// ingest.max_clock_skew shows in replay output as a finding like any other;
// the key takes a duration and names itself when it cannot be read.
func TestReplayFlagsEventsDatedAhead(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	i := strings.Index(first, `"requestReceivedTimestamp":"`) + len(`"requestReceivedTimestamp":"`)
	skewed := first[:i] + "9999-12-31T23:59:59.000000Z" + first[i+len("2026-11-22T09:53:36.000000Z"):]
	skewed = strings.Replace(skewed, `"auditID":"`, `"auditID":"dated-ahead-`, 1)
	path := filepath.Join(t.TempDir(), "skewed.log")
	writeFile(t, path, string(data)+skewed+"\n")
	t.Setenv("KAUDIT_REDACT_KEY", "test")

	code, out, stderr := kaudit(t, "", "replay", "--format", "json", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"rule":"event-dated-ahead"`) || !strings.Contains(out, `"time":"9999-12-31T23:59:59.000000Z"`) {
		t.Fatalf("no event-dated-ahead finding at the event's own time in replay's JSON:\n%s", out[:min(len(out), 2000)])
	}
	if strings.Count(out, `"rule":"event-dated-ahead"`) != 1 {
		t.Fatalf("want exactly one event-dated-ahead finding (the sample is dated in the past)")
	}
	code, out, _ = kaudit(t, "", "replay", path)
	if code != exitOK || !strings.Contains(out, "event-dated-ahead") {
		t.Fatalf("text output lacks the finding (exit %d)", code)
	}
	// Allowing ten thousand years of skew, the event is not flagged.
	t.Setenv("KAUDIT_INGEST_MAX_CLOCK_SKEW", "87600000h")
	if _, out, _ = kaudit(t, "", "replay", "--format", "json", path); strings.Contains(out, "event-dated-ahead") {
		t.Fatal("flagged although ingest.max_clock_skew allows it")
	}
	t.Setenv("KAUDIT_INGEST_MAX_CLOCK_SKEW", "-1m")
	if code, _, stderr := kaudit(t, "", "replay", path); code != exitUsage || !strings.Contains(stderr, "ingest.max_clock_skew") {
		t.Fatalf("a negative skew: exit %d %q, want a usage error naming ingest.max_clock_skew", code, stderr)
	}
}
