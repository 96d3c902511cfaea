package investigate

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/store"
)

const analystToken = "analyst-token-for-tests-0123456789"

func newTestServer(t *testing.T, st store.Store, opts Options) *httptest.Server {
	t.Helper()
	toks, err := auth.NewTokens(analystToken)
	if err != nil {
		t.Fatal(err)
	}
	return newServerWith(t, st, toks, opts)
}

// newServerWith serves st to the analysts of toks.
func newServerWith(t *testing.T, st store.Reader, toks *auth.Tokens, opts Options) *httptest.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := httptest.NewServer(NewHandler(st, toks, opts))
	t.Cleanup(srv.Close)
	return srv
}

// get sends a request with the analyst's bearer token (token "" for none)
// and decodes a JSON answer into out when out is not nil.
func get(t *testing.T, srv *httptest.Server, method, path, token string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %d, body is not JSON: %v\n%s", method, path, res.StatusCode, err, body)
		}
	}
	res.Body = io.NopCloser(strings.NewReader(string(body)))
	return res
}

func TestIncidentsListMostSevereFirst(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	var list IncidentList
	res := get(t, srv, "GET", "/api/v1/incidents", analystToken, &list)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if len(list.Incidents) != 2 {
		t.Fatalf("want the sample's 2 incidents, got %d", len(list.Incidents))
	}
	for i := 1; i < len(list.Incidents); i++ {
		a, b := list.Incidents[i-1], list.Incidents[i]
		if rulefile.SeverityRank(a.Severity) < rulefile.SeverityRank(b.Severity) ||
			(a.Severity == b.Severity && a.StartTime.After(b.StartTime) && a.Start > b.Start) {
			t.Fatalf("incidents out of order: %s %s before %s %s", a.Severity, a.Start, b.Severity, b.Start)
		}
	}
	if first := list.Incidents[0]; !slices.Contains(first.Actors, "mallory") {
		t.Fatalf("the sample's worst incident is mallory's, got %v", first.Actors)
	}
	for _, sev := range []string{"info", "low", "medium", "high", "critical"} {
		want := 0
		for _, inc := range list.Incidents {
			if rulefile.SeverityRank(inc.Severity) >= rulefile.SeverityRank(sev) {
				want++
			}
		}
		var got IncidentList
		get(t, srv, "GET", "/api/v1/incidents?min_severity="+sev, analystToken, &got)
		if got.Incidents == nil || len(got.Incidents) != want {
			t.Fatalf("min_severity=%s: want %d incidents, got %v", sev, want, got.Incidents)
		}
	}
}

func TestIncidentDetail(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	var list IncidentList
	get(t, srv, "GET", "/api/v1/incidents?actor=mallory", analystToken, &list)
	if len(list.Incidents) != 1 {
		t.Fatalf("actor=mallory: want 1 incident, got %d", len(list.Incidents))
	}
	var d store.IncidentDetail
	res := get(t, srv, "GET", "/api/v1/incidents/"+list.Incidents[0].ID, analystToken, &d)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	var rulesSeen []string
	for _, f := range d.Findings {
		rulesSeen = append(rulesSeen, f.Rule)
	}
	want := []string{"cluster-admin-binding", "admission-webhook-change", "coredns-configmap-change"}
	if !inOrder(rulesSeen, want) {
		t.Fatalf("findings %v do not hold %v in that order", rulesSeen, want)
	}
	inTimeline := map[string]bool{}
	for _, e := range d.Timeline {
		inTimeline[e.AuditID] = true
	}
	for _, f := range d.Findings {
		if !inTimeline[f.AuditID] {
			t.Fatalf("finding %s on %s is not on the incident's timeline", f.Rule, f.AuditID)
		}
	}
	if len(d.Incident.Links) == 0 || d.Incident.Links[0].Kind != "binding" {
		t.Fatalf("want the binding link admin -> mallory, got %+v", d.Incident.Links)
	}

	var e apiError
	res = get(t, srv, "GET", "/api/v1/incidents/inc-nosuch", analystToken, &e)
	if res.StatusCode != 404 || e.Status != 404 || !strings.Contains(e.Error, "inc-nosuch") {
		t.Fatalf("unknown incident: %d %+v", res.StatusCode, e)
	}
}

func TestTimelineFiltersAndPaging(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	var all TimelinePage
	get(t, srv, "GET", "/api/v1/timeline?actor=mallory&limit=1000", analystToken, &all)
	if len(all.Entries) == 0 || all.More {
		t.Fatalf("mallory's timeline: %d entries, more=%v", len(all.Entries), all.More)
	}
	for _, e := range all.Entries {
		if e.User != "mallory" && e.ImpersonatedUser != "mallory" {
			t.Fatalf("actor=mallory returned %s", e.User)
		}
	}
	// Paging by two gives the same entries in the same order.
	var paged []store.Entry
	for off := 0; ; {
		var p TimelinePage
		get(t, srv, "GET", "/api/v1/timeline?actor=mallory&limit=2&offset="+strconv.Itoa(off), analystToken, &p)
		paged = append(paged, p.Entries...)
		if !p.More {
			break
		}
		if p.NextOffset != off+2 {
			t.Fatalf("next_offset %d after offset %d", p.NextOffset, off)
		}
		off = p.NextOffset
	}
	if len(paged) != len(all.Entries) {
		t.Fatalf("paged %d entries, unpaged %d", len(paged), len(all.Entries))
	}
	for i := range paged {
		if paged[i].AuditID != all.Entries[i].AuditID {
			t.Fatalf("entry %d differs when paged", i)
		}
	}

	var obj TimelinePage
	get(t, srv, "GET", "/api/v1/timeline?resource=configmaps&namespace=kube-system&name=coredns&verb=patch", analystToken, &obj)
	if len(obj.Entries) != 1 || obj.Entries[0].User != "mallory" {
		t.Fatalf("coredns patch: %+v", obj.Entries)
	}
	var window TimelinePage
	get(t, srv, "GET", "/api/v1/timeline?since=2026-11-22T09:53:43Z&until=2026-11-22T09:53:44Z&actor=admin", analystToken, &window)
	if len(window.Entries) == 0 {
		t.Fatal("since/until window around the binding returned nothing")
	}
	var future TimelinePage
	get(t, srv, "GET", "/api/v1/timeline?since=1h", analystToken, &future)
	if future.Entries == nil || len(future.Entries) != 0 {
		t.Fatalf("since=1h before the test's clock: want [], got %d", len(future.Entries))
	}
}

func TestTimelineBadParameters(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	for q, name := range map[string]string{
		"limit=0":              "limit",
		"limit=abc":            "limit",
		"limit=100000":         "limit",
		"offset=-1":            "offset",
		"since=yesterday":      "since",
		"until=-2h":            "until",
		"actr=mallory":         "actr",
		"actor=a&actor=b":      "actor",
		"since=2h&until=3h":    "until",
		"verb=get&min_sev=low": "min_sev",
	} {
		var e apiError
		res := get(t, srv, "GET", "/api/v1/timeline?"+q, analystToken, &e)
		if res.StatusCode != 400 || !strings.Contains(e.Error, name) {
			t.Errorf("%s: want 400 naming %s, got %d %q", q, name, res.StatusCode, e.Error)
		}
	}
	var e apiError
	if res := get(t, srv, "GET", "/api/v1/incidents?min_severity=severe", analystToken, &e); res.StatusCode != 400 {
		t.Errorf("min_severity=severe: %d", res.StatusCode)
	}
}

func TestEventStages(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	var p TimelinePage
	get(t, srv, "GET", "/api/v1/timeline?resource=clusterrolebindings&name=mallory-admin", analystToken, &p)
	if len(p.Entries) != 1 {
		t.Fatalf("want the binding's request, got %d", len(p.Entries))
	}
	id := p.Entries[0].AuditID
	var ev EventStages
	res := get(t, srv, "GET", "/api/v1/events/"+id, analystToken, &ev)
	if res.StatusCode != 200 || ev.AuditID != id || len(ev.Stages) == 0 {
		t.Fatalf("event %s: %d, %d stages", id, res.StatusCode, len(ev.Stages))
	}
	var stage struct {
		AuditID string `json:"auditID"`
		Stage   string `json:"stage"`
	}
	if err := json.Unmarshal(ev.Stages[len(ev.Stages)-1], &stage); err != nil || stage.AuditID != id || stage.Stage != "ResponseComplete" {
		t.Fatalf("last stage: %+v %v", stage, err)
	}
	var e apiError
	if res := get(t, srv, "GET", "/api/v1/events/nosuch", analystToken, &e); res.StatusCode != 404 {
		t.Fatalf("unknown event: %d", res.StatusCode)
	}
}

func TestReadOnly(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, path := range []string{"/api/v1/incidents", "/api/v1/timeline", "/api/v1/events/x", "/", "/assets/app.js"} {
			var e apiError
			res := get(t, srv, m, path, analystToken, &e)
			if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: want 405 with Allow, got %d %q", m, path, res.StatusCode, res.Header.Get("Allow"))
			}
		}
	}
	if res := get(t, srv, "HEAD", "/api/v1/incidents", analystToken, nil); res.StatusCode != 200 {
		t.Errorf("HEAD: %d", res.StatusCode)
	}
	var e apiError
	if res := get(t, srv, "GET", "/api/v2/nothing", analystToken, &e); res.StatusCode != 404 {
		t.Errorf("unknown API path: %d", res.StatusCode)
	}
}

// failingStore is a store whose queries fail, as ClickHouse does when it
// is down.
type failingStore struct{ store.Store }

var errDown = errors.New("timeline query: dial tcp 10.1.2.3:9000: connect: connection refused")

func (failingStore) Timeline(context.Context, store.Query) ([]store.Entry, error) {
	return nil, errDown
}
func (failingStore) Incidents(context.Context, store.IncidentQuery) ([]incident.Incident, error) {
	return nil, errDown
}

// The store down is a JSON 503 that says so, without the store's error:
// it names the address kaudit dialled, which is for the log, not for
// whoever asked.
func TestStoreDownIsJSON503(t *testing.T) {
	var logs strings.Builder
	srv := newTestServer(t, failingStore{loadSample(t)}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, path := range []string{"/api/v1/timeline", "/api/v1/incidents"} {
		var e apiError
		res := get(t, srv, "GET", path, analystToken, &e)
		if res.StatusCode != 503 || e.Status != 503 || !strings.Contains(e.Error, "the store could not answer") || res.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %+v", path, res.StatusCode, e)
		}
		if strings.Contains(e.Error, "10.1.2.3") || strings.Contains(e.Error, "9000") || strings.Contains(e.Error, "dial") {
			t.Errorf("%s: the error body reveals the store's address: %q", path, e.Error)
		}
	}
	if !strings.Contains(logs.String(), "10.1.2.3:9000") {
		t.Errorf("the log lacks the store's error:\n%s", logs.String())
	}
}

func TestSinceDurationUsesClock(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 54, 0, 0, time.UTC)
	srv := newTestServer(t, loadSample(t), Options{Now: func() time.Time { return now }})
	var p TimelinePage
	get(t, srv, "GET", "/api/v1/timeline?since=20s&actor=mallory", analystToken, &p)
	if len(p.Entries) == 0 {
		t.Fatal("since=20s before 09:54:00 should hold mallory's requests at 09:53:40+")
	}
	for _, e := range p.Entries {
		if e.Time < "2026-11-22T09:53:40" {
			t.Fatalf("entry at %s is before since", e.Time)
		}
	}
}

// inOrder reports whether want appears in got as a subsequence.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestLargeAnswersAreGzipped(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	for _, enc := range []string{"gzip", ""} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/timeline?limit=500", nil)
		req.Header.Set("Authorization", "Bearer "+analystToken)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		// A transport of its own: the default one would ask for gzip and
		// decompress behind the test's back.
		res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = res.Body
		if enc == "gzip" {
			if res.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("a 500-entry page was not gzipped")
			}
			zr, err := gzip.NewReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		} else if res.Header.Get("Content-Encoding") != "" {
			t.Fatalf("gzipped for a client that did not ask")
		}
		var p TimelinePage
		if err := json.NewDecoder(body).Decode(&p); err != nil || len(p.Entries) != 500 {
			t.Fatalf("Accept-Encoding %q: %v, %d entries", enc, err, len(p.Entries))
		}
		res.Body.Close()
	}
}
