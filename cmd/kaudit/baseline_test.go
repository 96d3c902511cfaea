package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

const (
	operatorsSetup   = "../../testdata/apiserver-1.36-operators-setup.log"
	operatorsHistory = "../../testdata/apiserver-1.36-operators-history.log"
	operatorsScored  = "../../testdata/apiserver-1.36-operators.log"
)

// A replay judged against the operators' history gives the same bytes
// every time, whether the history comes as logs or as a snapshot built
// from them, and keeps every routine finding (at info, saying why)
// rather than dropping it.
func TestReplayWithBaselineIsDeterministic(t *testing.T) {
	t.Setenv("KAUDIT_REDACT_KEY", "test")
	history := operatorsSetup + "," + operatorsHistory
	code, fromLogs, stderr := kaudit(t, "", "replay", "-o", "json", "--baseline", history, operatorsScored)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, again, _ := kaudit(t, "", "replay", "-o", "json", "--baseline", history, "--workers", "1", operatorsScored)
	if again != fromLogs {
		t.Error("two replays with the same baseline gave different bytes")
	}
	snap := filepath.Join(t.TempDir(), "ops.baseline")
	if code, _, stderr := kaudit(t, "", "baseline", "build", "-o", snap, operatorsSetup, operatorsHistory); code != 0 {
		t.Fatalf("baseline build: exit %d: %s", code, stderr)
	}
	_, fromSnap, _ := kaudit(t, "", "replay", "-o", "json", "--baseline", snap, operatorsScored)
	if fromSnap != fromLogs {
		t.Error("the snapshot judged differently from the logs it was built from")
	}
	routine, kept := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(fromLogs), "\n") {
		var f struct {
			Type, Severity, Rule string
			Routine              bool   `json:"routine"`
			Reason               string `json:"severity_reason"`
		}
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatal(err)
		}
		if f.Type != "finding" {
			continue
		}
		kept++
		if f.Severity != "info" && f.Severity != "low" {
			t.Errorf("operators' routine judged with their history: %s at %s", f.Rule, f.Severity)
		}
		if f.Routine {
			routine++
			if !strings.Contains(f.Reason, "seen") {
				t.Errorf("routine finding of %s does not say what the baseline saw: %q", f.Rule, f.Reason)
			}
		}
	}
	if routine == 0 || kept == 0 {
		t.Errorf("%d findings, %d of them routine: the baseline kept nothing at info", kept, routine)
	}
}
