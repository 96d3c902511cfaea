package investigate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
)

func malloryIncident(t *testing.T, st store.Store) string {
	t.Helper()
	incs, err := st.Incidents(context.Background(), store.IncidentQuery{Actor: "mallory"})
	if err != nil || len(incs) != 1 {
		t.Fatalf("mallory's incident: %v, %v", incs, err)
	}
	return incs[0].ID
}

// TestReportFormats exports mallory's incident in every format, through
// the API as the page's export links do: each holds the timeline, the
// findings with their evidence, the identities and the CoreDNS diff.
func TestReportFormats(t *testing.T) {
	st := loadSample(t)
	srv := newTestServer(t, st, Options{})
	id := malloryIncident(t, st)
	for _, c := range []struct{ format, ctype string }{
		{"md", "text/markdown; charset=utf-8"}, {"html", "text/html; charset=utf-8"}, {"json", "application/json; charset=utf-8"},
	} {
		res := get(t, srv, "GET", "/api/v1/incidents/"+id+"/report?format="+c.format, analystToken, nil)
		body := readBody(t, res)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != c.ctype {
			t.Fatalf("%s: %d %q\n%s", c.format, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="`+id+"."+c.format+`"` {
			t.Errorf("%s: disposition %q", c.format, cd)
		}
		for _, want := range []string{
			id, "mallory", "admin", "cluster-admin",
			"apiserver-1.36-basic-intrusion.log:1121",  // evidence: file:line
			sampleCoreDNSPatch,                         // and audit id
			"attacker.example.com", "/etc/resolv.conf", // the Corefile's before and after
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s report lacks %q", c.format, want)
			}
		}
		if c.format != "json" {
			for _, want := range []string{"Timeline (10 requests of its actors)", "Identities and why they are joined", "Findings (12)", "(peer)"} {
				if !strings.Contains(body, want) {
					t.Errorf("%s report lacks %q", c.format, want)
				}
			}
		}
		if c.format == "html" && (strings.Contains(body, "<script") || strings.Contains(body, "src=") || strings.Contains(body, "href=")) {
			t.Errorf("the HTML report loads or links something")
		}
		if c.format == "json" {
			var rep struct {
				store.IncidentDetail
				Changes []EventDiff `json:"changes"`
			}
			if err := json.Unmarshal([]byte(body), &rep); err != nil || rep.Incident.ID != id || len(rep.Timeline) != 10 || len(rep.Changes) != 1 {
				t.Errorf("json report: %v, %d requests, %d changes", err, len(rep.Timeline), len(rep.Changes))
			}
		}
	}
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/api/v1/incidents/" + id + "/report?format=pdf", 400},
		{"/api/v1/incidents/" + id + "/report?as=md", 400},
		{"/api/v1/incidents/inc-000000000000/report", 404},
	} {
		if res := get(t, srv, "GET", c.path, analystToken, nil); res.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.path, res.StatusCode, c.status)
		}
	}
	if res := get(t, srv, "GET", "/api/v1/incidents/"+id+"/report", "", nil); res.StatusCode != 401 {
		t.Errorf("report without credentials: %d", res.StatusCode)
	}
}

// TestReportEscapesTheLog writes a report of an incident whose names hold
// Markdown and HTML: none of it may become markup.
func TestReportEscapesTheLog(t *testing.T) {
	hostile := "<img src=x onerror=alert(1)> [link](http://evil) | `code` *bold*\n# heading\x1b[31m"
	rep := &Report{IncidentDetail: store.IncidentDetail{Incident: incident.Incident{
		ID: "inc-1", Severity: "high", Actors: []string{hostile}, Summary: hostile, UserAgents: []string{hostile},
		Links: []incident.Link{{Kind: "binding", From: hostile, To: "mallory", Object: hostile}},
	}}}
	var md, html strings.Builder
	if err := WriteReport(&md, rep, ReportMarkdown); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(&html, rep, ReportHTML); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<img", "[link]", "\n# heading", "\x1b", "| `code`"} {
		if strings.Contains(md.String(), bad) {
			t.Errorf("markdown holds %q", bad)
		}
	}
	for _, bad := range []string{"<img", "\x1b"} {
		if strings.Contains(html.String(), bad) {
			t.Errorf("html holds %q", bad)
		}
	}
	if err := WriteReport(&md, rep, "pdf"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestSourceAddrsAndTactics(t *testing.T) {
	got := SourceAddrs([]string{"203.0.113.5", "127.0.0.1"}, []string{"127.0.0.1"}, []string{"198.51.100.7", "203.0.113.5", "10.0.0.1"})
	want := []SourceAddr{{"203.0.113.5", false, true}, {"127.0.0.1", true, false}, {"198.51.100.7", false, true}, {"10.0.0.1", true, false}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("address %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := SourcesText([]string{"203.0.113.5", "127.0.0.1"}); s != "203.0.113.5 (X-Forwarded-For) via 127.0.0.1 (peer)" {
		t.Errorf("sources text %q", s)
	}
	inc := &incident.Incident{
		Tactics: []string{"Persistence", "Privilege Escalation", "Discovery", "Impact"},
		Techniques: []incident.Technique{
			{ID: "MS-TA9015", Tactic: "Persistence", FirstSeen: "2026-11-22T09:53:45.339789Z"},
			{ID: "MS-TA9019", Tactic: "Privilege Escalation", FirstSeen: "2026-11-22T09:53:43.056978Z"},
			{ID: "MS-TA9029", Tactic: "Discovery", FirstSeen: "2026-11-22T09:53:40.908806Z"},
		},
	}
	var order []string
	for _, s := range TacticsByFirstSeen(inc) {
		order = append(order, s.Tactic)
	}
	if strings.Join(order, ",") != "Discovery,Privilege Escalation,Persistence,Impact" {
		t.Errorf("tactics by first occurrence: %v", order)
	}
}
