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
