package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestTemplatesKeepRequestsWholeAndStampTime: every stage of a request is
// in the body that holds its first, and a send stamps one fresh audit ID
// prefix and the current time into valid JSON.
func TestTemplatesKeepRequestsWholeAndStampTime(t *testing.T) {
	tmpls, err := templates("../../testdata/apiserver-1.36-basic-intrusion.log", 50)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	stages := 0
	for n, tm := range tmpls {
		body := append([]byte(nil), tm.body...)
		stamp(body, tm.offsets, uint64(n+1))
		stampTime(body, tm.times, now)
		var list struct {
			Items []struct {
				AuditID                  string    `json:"auditID"`
				Stage                    string    `json:"stage"`
				RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
				StageTimestamp           time.Time `json:"stageTimestamp"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatalf("template %d after stamping: %v", n, err)
		}
		if len(list.Items) != tm.events || tm.events < 50 {
			t.Fatalf("template %d: %d items, events %d; want at least the batch of 50", n, len(list.Items), tm.events)
		}
		for _, it := range list.Items {
			if !it.RequestReceivedTimestamp.Equal(now) || !it.StageTimestamp.Equal(now) {
				t.Fatalf("template %d: %s %s stamped %s / %s; want %s", n, it.AuditID, it.Stage, it.RequestReceivedTimestamp, it.StageTimestamp, now)
			}
		}
		// The sample's requests with two stages (ResponseStarted, then
		// ResponseComplete) keep both here, and every request started
		// completes.
		seen := map[string]int{}
		open := map[string]bool{}
		for _, it := range list.Items {
			seen[it.AuditID]++
			switch it.Stage {
			case "ResponseStarted":
				open[it.AuditID] = true
			case "ResponseComplete":
				delete(open, it.AuditID)
			}
		}
		if len(open) > 0 {
			t.Fatalf("template %d: %d requests started and never completed", n, len(open))
		}
		for _, c := range seen {
			if c > 1 {
				stages++
			}
		}
	}
	if stages == 0 {
		t.Fatal("no request with two stages in one body; the sample has some")
	}
	// A request's stages never straddle two bodies: its ID appears in one.
	first := map[string]int{}
	for n, tm := range tmpls[:len(tmpls)/4] {
		var list struct {
			Items []struct {
				AuditID string `json:"auditID"`
			} `json:"items"`
		}
		if err := json.Unmarshal(tm.body, &list); err != nil {
			t.Fatal(err)
		}
		for _, it := range list.Items {
			if f, ok := first[it.AuditID]; ok && f != n {
				t.Fatalf("request %s in bodies %d and %d", it.AuditID, f, n)
			}
			first[it.AuditID] = n
		}
	}
}

// The command in /proc/PID/stat may hold spaces and parentheses: fields are
// counted from its last closing parenthesis.
func TestParseStatCountsFieldsAfterTheCommand(t *testing.T) {
	stat := "4242 (clickhouse) server) S 1 4242 4242 0 -1 4194560 123456 0 7 0 250 130 0 0 20 0 40 0 1000 2000000 3000 18446744073709551615\n"
	got := parseStat(stat)
	if got.minorFaults != 123456 {
		t.Errorf("minor faults = %d, want 123456", got.minorFaults)
	}
	if want := 3800 * time.Millisecond; got.cpu != want { // (250+130) ticks of 10 ms
		t.Errorf("cpu = %s, want %s", got.cpu, want)
	}
	if got := parseStat("4242 (short"); got != (usage{}) {
		t.Errorf("a truncated line gave %+v, want zero", got)
	}
}
