package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/baseline"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
)

// Opener returns a new, empty store whose Write returns once the data is
// queryable. The suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite against the stores open returns.
//
// Long because it is the list of the conformance suite's cases, one subtest
// each.
func Run(t *testing.T, open Opener) {
	recs := LoadSample(t)
	want := ExpectedRequests(recs)

	// One store holds the sample delivered twice (every batch, its findings
	// and the incidents): every query below must show each event once.
	st := open(t)
	p := RunPipeline(t, recs, 300, st)
	ctx := context.Background()
	for lo := 0; lo < len(recs); lo += 300 {
		if err := st.Write(ctx, recs[lo:min(lo+300, len(recs))], nil); err != nil {
			t.Fatalf("second delivery: %v", err)
		}
	}
	if err := st.Write(ctx, nil, p.Findings()); err != nil {
		t.Fatalf("second delivery of findings: %v", err)
	}
	incs := p.Incidents()
	for range 2 {
		if err := st.WriteIncidents(ctx, incs); err != nil {
			t.Fatalf("write incidents: %v", err)
		}
	}

	t.Run("whole timeline equals the file, each request once", func(t *testing.T) {
		checkTimeline(t, st, store.Query{}, want)
	})
	t.Run("mallory's timeline equals the file", func(t *testing.T) {
		x := Filter(want, func(e *Expected) bool { return e.User == "mallory" || e.Imperson == "mallory" })
		if len(x) < 5 {
			t.Fatalf("the sample should hold mallory's requests, found %d", len(x))
		}
		checkTimeline(t, st, store.Query{Actor: "mallory"}, x)
	})
	t.Run("one object's history", func(t *testing.T) {
		q := store.Query{Resource: "configmaps", Namespace: "kube-system", Name: "coredns"}
		x := Filter(want, func(e *Expected) bool {
			return e.Resource == "configmaps" && e.Namespace == "kube-system" && e.Name == "coredns"
		})
		if len(x) == 0 {
			t.Fatal("the sample should touch kube-system/coredns")
		}
		checkTimeline(t, st, q, x)
	})
	t.Run("source IP, verb, window and paging", func(t *testing.T) {
		ip := want[len(want)/2].SourceIPs[0]
		checkTimeline(t, st, store.Query{SourceIP: ip, Verb: "get"}, Filter(want, func(e *Expected) bool {
			return slices.Contains(e.SourceIPs, ip) && e.Verb == "get"
		}))
		since, until := want[len(want)/4].Time, want[len(want)/2].Time
		inWin := Filter(want, func(e *Expected) bool { return !e.Time.Before(since) && !e.Time.After(until) })
		checkTimeline(t, st, store.Query{Since: since, Until: until}, inWin)
		checkTimeline(t, st, store.Query{Since: since, Until: until, Offset: 3, Limit: 5}, inWin[3:8])
		// Keyset paging: a page after the cursor of the last entry of the
		// previous one, with or without an offset, gives what offsets do.
		after := func(x Expected) *store.Cursor { return &store.Cursor{TimeUs: x.Time.UnixMicro(), AuditID: x.AuditID} }
		checkTimeline(t, st, store.Query{Since: since, Until: until, After: after(inWin[7]), Limit: 5}, inWin[8:13])
		checkTimeline(t, st, store.Query{Since: since, Until: until, After: after(inWin[7]), Offset: 2, Limit: 5}, inWin[10:15])
		checkTimeline(t, st, store.Query{After: after(want[len(want)-3])}, want[len(want)-2:])
		mal := Filter(want, func(e *Expected) bool { return e.User == "mallory" || e.Imperson == "mallory" })
		checkTimeline(t, st, store.Query{Actor: "mallory", After: after(mal[1]), Limit: 3}, mal[2:5])
		var paged []Expected
		for q := (store.Query{Limit: 97}); ; {
			got, err := st.Timeline(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			for i := range got {
				if len(paged) == len(want) {
					t.Fatalf("keyset paging gave more than the %d entries of the timeline", len(want))
				}
				paged = append(paged, want[len(paged)])
				if got[i].AuditID != paged[len(paged)-1].AuditID {
					t.Fatalf("keyset page entry %d is %s, want %s", len(paged)-1, got[i].AuditID, paged[len(paged)-1].AuditID)
				}
			}
			c, err := store.CursorOf(&got[len(got)-1])
			if err != nil {
				t.Fatal(err)
			}
			q.After = &c
		}
		if len(paged) != len(want) {
			t.Fatalf("keyset paging through the whole timeline gave %d entries, want %d", len(paged), len(want))
		}
		checkTimeline(t, st, store.Query{AuditID: want[7].AuditID}, want[7:8])
	})
	t.Run("events keep every stage once, as JSON", func(t *testing.T) { checkEvents(t, st, recs) })
	t.Run("the baseline learned from the store equals the file's", func(t *testing.T) { checkBaseline(t, st, recs) })
	t.Run("incidents and their detail", func(t *testing.T) {
		checkIncidents(t, st, incs, p.Findings(), want)
	})
	t.Run("search terms: substring, glob, exclusion", func(t *testing.T) { checkSearch(t, st, want) })
	t.Run("findings by request, previous object version, span", func(t *testing.T) {
		checkReaderExtras(t, st, recs, p.Findings(), incs, want)
	})
	t.Run("impersonation and stage choice", func(t *testing.T) {
		st := open(t)
		checkImpersonation(t, st, recs)
	})
	t.Run("notification outbox and lease", func(t *testing.T) {
		checkOutbox(t, open(t))
	})
}

func checkTimeline(t *testing.T, st store.Store, q store.Query, want []Expected) {
	t.Helper()
	got, err := st.Timeline(context.Background(), q)
	if err != nil {
		t.Fatalf("timeline %+v: %v", q, err)
	}
	if len(got) != len(want) {
		t.Fatalf("timeline %+v: %d entries, want %d", q, len(got), len(want))
	}
	for i := range want {
		g, w := &got[i], &want[i]
		at, err := time.Parse(time.RFC3339Nano, g.Time)
		if err != nil {
			t.Fatalf("entry %d: time %q: %v", i, g.Time, err)
		}
		if g.AuditID != w.AuditID || !at.Equal(w.Time) || g.Stage != w.Stage || g.User != w.User ||
			g.ImpersonatedUser != w.Imperson || g.Verb != w.Verb || g.Resource != w.Resource ||
			g.Namespace != w.Namespace || g.Name != w.Name || g.Code != w.Code || !slices.Equal(g.SourceIPs, w.SourceIPs) {
			t.Fatalf("timeline %+v entry %d:\n got  %+v\n want %+v", q, i, *g, *w)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkIncidents(t *testing.T, st store.Store, incs []incident.Incident, findings []detect.Finding, want []Expected) {
	ctx := context.Background()
	if len(incs) == 0 {
		t.Fatal("the sample should form incidents")
	}
	got, err := st.Incidents(ctx, store.IncidentQuery{})
	if err != nil {
		t.Fatalf("incidents: %v", err)
	}
	sorted := slices.Clone(incs)
	store.SortIncidents(sorted)
	if jsonOf(t, got) != jsonOf(t, sorted) {
		t.Fatalf("incidents:\n got  %s\n want %s", jsonOf(t, got), jsonOf(t, sorted))
	}
	mal, err := st.Incidents(ctx, store.IncidentQuery{Actor: "mallory", MinSeverity: "high"})
	if err != nil || len(mal) == 0 {
		t.Fatalf("mallory's high incidents: %d, %v", len(mal), err)
	}
	for _, inc := range incs {
		d, err := st.Incident(ctx, inc.ID)
		if err != nil {
			t.Fatalf("incident %s: %v", inc.ID, err)
		}
		if jsonOf(t, d.Incident) != jsonOf(t, inc) {
			t.Fatalf("incident %s differs", inc.ID)
		}
		var wantF []detect.Finding
		for _, f := range findings {
			if slices.Contains(inc.Findings, f.AuditID) {
				wantF = append(wantF, f)
			}
		}
		if jsonOf(t, d.Findings) != jsonOf(t, wantF) {
			t.Fatalf("incident %s findings:\n got  %s\n want %s", inc.ID, jsonOf(t, d.Findings), jsonOf(t, wantF))
		}
		wantT := Filter(want, func(e *Expected) bool {
			return (slices.Contains(inc.Actors, e.User) || slices.Contains(inc.Actors, e.Imperson)) &&
				!e.Time.Before(inc.StartTime) && !e.Time.After(inc.EndTime)
		})
		if len(d.Timeline) != len(wantT) {
			t.Fatalf("incident %s timeline: %d entries, want %d", inc.ID, len(d.Timeline), len(wantT))
		}
		for i := range wantT {
			if d.Timeline[i].AuditID != wantT[i].AuditID {
				t.Fatalf("incident %s timeline entry %d: %s, want %s", inc.ID, i, d.Timeline[i].AuditID, wantT[i].AuditID)
			}
		}
	}
	if _, err := st.Incident(ctx, "inc-000000000000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing incident: got %v, want ErrNotFound", err)
	}
}

// checkImpersonation writes crafted requests in the apiserver's shape: alice
// impersonating eve, one request completed (two stages, written
// complete-first) and one long-running request that only started.
func checkImpersonation(t *testing.T, st store.Store, recs []ingest.Record) {
	ctx := context.Background()
	base := recs[0].Event
	raw, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, stage string, code int32, at time.Time) ingest.Record {
		ev, err := ingest.DecodeEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		ev.AuditID = types.UID("11111111-2222-3333-4444-" + id)
		ev.Stage = "ResponseStarted"
		if stage != "" {
			ev.Stage = auditv1.Stage(stage)
		}
		ev.User.Username = "alice"
		ev.ImpersonatedUser = &authnv1.UserInfo{Username: "eve"}
		ev.ResponseStatus.Code = code
		ev.RequestReceivedTimestamp.Time = at
		return ingest.Record{Event: ev, Location: "crafted:" + id}
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	batch := []ingest.Record{
		mk("000000000001", "ResponseComplete", 201, t0),
		mk("000000000001", "ResponseStarted", 200, t0),
		mk("000000000002", "ResponseStarted", 101, t0.Add(time.Second)),
	}
	if err := st.Write(ctx, batch, nil); err != nil {
		t.Fatal(err)
	}
	for _, actor := range []string{"eve", "alice"} {
		got, err := st.Timeline(ctx, store.Query{Actor: actor})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Stage != "ResponseComplete" || got[0].Code != 201 || got[1].Stage != "ResponseStarted" ||
			got[0].ImpersonatedUser != "eve" || got[0].User != "alice" || got[0].Time != "2026-01-02T03:04:05.123456Z" {
			t.Fatalf("actor %s: got %+v", actor, got)
		}
	}
	if got, _ := st.Timeline(ctx, store.Query{Actor: "mallory"}); len(got) != 0 {
		t.Fatalf("no mallory here, got %+v", got)
	}
}

// checkEvents reads back the stages of requests (all those with two
// stages, and some more) as stored JSON.
func checkEvents(t *testing.T, st store.Store, recs []ingest.Record) {
	ctx := context.Background()
	stages := map[string][]string{}
	for _, r := range recs {
		id := string(r.Event.AuditID)
		if !slices.Contains(stages[id], string(r.Event.Stage)) {
			stages[id] = append(stages[id], string(r.Event.Stage))
		}
	}
	checked := 0
	for id, ss := range stages {
		if len(ss) < 2 && checked > 0 {
			continue
		}
		raws, err := st.Event(ctx, id)
		if err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		if len(raws) != len(ss) {
			t.Fatalf("event %s: %d stages stored, want %d", id, len(raws), len(ss))
		}
		for _, raw := range raws {
			ev, err := ingest.DecodeEvent(raw)
			if err != nil || string(ev.AuditID) != id {
				t.Fatalf("event %s: stored JSON does not decode to it: %v", id, err)
			}
		}
		if checked++; checked > 20 {
			break
		}
	}
	if _, err := st.Event(ctx, "no-such-audit-id"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing event: got %v, want ErrNotFound", err)
	}
}

// checkBaseline learns a baseline from the store (kaudit serve's way) and
// from the records themselves (replay --baseline's way): every actor's
// routines, networks and clients, with their counts, must be the same,
// although the store holds every event twice.
func checkBaseline(t *testing.T, st store.Store, recs []ingest.Record) {
	br, ok := st.(store.BaselineReader)
	if !ok {
		t.Fatal("the store cannot learn a baseline (store.BaselineReader)")
	}
	want := baseline.New()
	for _, r := range recs {
		want.LearnEvent(r.Event)
	}
	got := baseline.New()
	if err := br.LearnBaseline(context.Background(), got, time.Time{}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got.Events != want.Events || len(got.Identities) != len(want.Identities) {
		t.Fatalf("learned %d requests of %d actors from the store, %d of %d from the file", got.Events, len(got.Identities), want.Events, len(want.Identities))
	}
	for actor, w := range want.Identities {
		g := got.Identities[actor]
		if g == nil {
			t.Fatalf("actor %s missing from the store's baseline", actor)
		}
		for k, ws := range w.Routines {
			if gs := g.Routines[k]; gs == nil || gs.Count != ws.Count || !gs.First.Equal(ws.First) || !gs.Last.Equal(ws.Last) {
				t.Fatalf("%s: routine %q: store %+v, file %+v", actor, k, gs, ws)
			}
		}
		if len(g.Routines) != len(w.Routines) {
			t.Fatalf("%s: %d routines from the store, %d from the file", actor, len(g.Routines), len(w.Routines))
		}
	}
}
