package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
)

// entryOf is the timeline entry an expectation stands for, for the
// reference semantics of search terms (store.Term.Matches).
func entryOf(x *Expected) store.Entry {
	return store.Entry{
		User: x.User, ImpersonatedUser: x.Imperson, Resource: x.Resource, Subresource: x.Subresource,
		Namespace: x.Namespace, Name: x.Name, UserAgent: x.UserAgent, RequestURI: x.RequestURI,
	}
}

// checkSearch runs searches (substring, glob, exclusion, each field) and
// expects what store.Term.Matches keeps of the file's requests: ClickHouse
// matches in SQL, and must agree.
func checkSearch(t *testing.T, st store.Store, want []Expected) {
	for _, s := range []string{
		"-system:*", "actor:*MALL*", "client:curl", "uri:/apis/admissionregistration", "object:configmaps*coredns",
		"coredns -actor:admin", "actor:system:serviceaccount:*:*", "object:secrets", "100%_\\", "client:?url/*",
	} {
		terms, err := store.ParseTerms(s)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		q := store.Query{Terms: terms}
		x := Filter(want, func(e *Expected) bool { en := entryOf(e); return q.Matches(&en) })
		checkTimeline(t, st, q, x)
	}
	// Sanity of the reference itself, by hand: leaving out system:*
	// leaves out the cluster's own components, and keeps mallory.
	terms, _ := store.ParseTerms("-system:*")
	q := store.Query{Terms: terms}
	for _, x := range want {
		en := entryOf(&x)
		sys := strings.HasPrefix(x.User, "system:") || strings.HasPrefix(x.Imperson, "system:")
		if q.Matches(&en) == sys {
			t.Fatalf("-system:* on %s/%s: kept %v", x.User, x.Imperson, !sys)
		}
	}
	// An actor glob through FilterActor, and a plain name's exact match.
	var fq store.Query
	fq.FilterActor("mall*")
	checkTimeline(t, st, fq, Filter(want, func(e *Expected) bool { return strings.HasPrefix(e.User, "mall") }))
}

// checkReaderExtras checks the reads beside the timeline: findings by
// request, an object's previous version, the span, incidents by request.
func checkReaderExtras(t *testing.T, st store.Store, recs []ingest.Record, findings []detect.Finding, incs []incident.Incident, want []Expected) {
	ctx := context.Background()

	// Findings on some requests (and on one that has none, and one unknown).
	ids := []string{findings[0].AuditID, findings[len(findings)-1].AuditID, want[0].AuditID, "no-such-request"}
	var wantF []detect.Finding
	for _, f := range findings {
		if slices.Contains(ids, f.AuditID) {
			wantF = append(wantF, f)
		}
	}
	incident.SortFindings(wantF)
	got, err := st.Findings(ctx, ids)
	if err != nil {
		t.Fatalf("findings: %v", err)
	}
	if jsonOf(t, got) != jsonOf(t, wantF) {
		t.Fatalf("findings of %v:\n got  %s\n want %s", ids, jsonOf(t, got), jsonOf(t, wantF))
	}
	if got, err := st.Findings(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("findings of no request: %v, %v", got, err)
	}

	// The span of the file.
	first, last, err := st.Span(ctx)
	if err != nil || !first.Equal(want[0].Time) || !last.Equal(want[len(want)-1].Time) {
		t.Fatalf("span: %s..%s, %v; want %s..%s", first, last, err, want[0].Time, want[len(want)-1].Time)
	}

	// Incidents holding a finding on one request.
	inc := incs[0]
	byReq, err := st.Incidents(ctx, store.IncidentQuery{AuditID: inc.Findings[0]})
	if err != nil || len(byReq) == 0 || !slices.ContainsFunc(byReq, func(i incident.Incident) bool { return i.ID == inc.ID }) {
		t.Fatalf("incidents of request %s: %v, %v", inc.Findings[0], byReq, err)
	}
	if !slices.Contains(allFindingIDs(incs), want[0].AuditID) {
		if none, err := st.Incidents(ctx, store.IncidentQuery{AuditID: want[0].AuditID}); err != nil || len(none) != 0 {
			t.Fatalf("incidents of a request without findings: %v, %v", none, err)
		}
	}

	checkObjectBefore(t, st, recs)
	checkHint(t, st, want)
}

// checkHint asks for a service account by its short name, and for mallory
// in an hour with no requests: both find nothing, and the hint says why.
func checkHint(t *testing.T, st store.Store, want []Expected) {
	ctx := context.Background()
	q := store.Query{Actor: "replicaset-controller"}
	if got, _ := st.Timeline(ctx, q); len(got) != 0 {
		t.Fatalf("a short name matched %d requests", len(got))
	}
	h, err := store.HintFor(ctx, st, q)
	if err != nil || !slices.Equal(h.Actors, []string{"system:serviceaccount:kube-system:replicaset-controller"}) || h.OutsideWindow {
		t.Fatalf("hint for a short name: %+v, %v", h, err)
	}
	if !h.First.Equal(want[0].Time) || !h.Last.Equal(want[len(want)-1].Time) {
		t.Fatalf("hint span %s..%s", h.First, h.Last)
	}
	late := want[len(want)-1].Time.Add(time.Hour)
	q = store.Query{Actor: "mallory", Since: late}
	if h, err = store.HintFor(ctx, st, q); err != nil || !h.OutsideWindow || len(h.Actors) != 0 || !h.Useful() {
		t.Fatalf("hint for a window after the log: %+v, %v", h, err)
	}
	if h, err = store.HintFor(ctx, st, store.Query{Actor: "nobody-at-all"}); err != nil || h.Useful() {
		t.Fatalf("hint for an actor that never acted: %+v, %v", h, err)
	}
}

func allFindingIDs(incs []incident.Incident) []string {
	var out []string
	for _, inc := range incs {
		out = append(out, inc.Findings...)
	}
	return out
}

// checkObjectBefore asks for the CoreDNS ConfigMap as it was before
// mallory's patch: the latest earlier request whose event shows it whole,
// found here by a plain loop over the file.
func checkObjectBefore(t *testing.T, st store.Store, recs []ingest.Record) {
	ctx := context.Background()
	isCoreDNS := func(r *ingest.Record) bool {
		ref := r.Event.ObjectRef
		return ref != nil && ref.Resource == "configmaps" && ref.Namespace == "kube-system" && ref.Name == "coredns" && ref.Subresource == ""
	}
	var patch *ingest.Record
	for i := range recs {
		if isCoreDNS(&recs[i]) && recs[i].Event.Verb == "patch" {
			patch = &recs[i]
		}
	}
	if patch == nil {
		t.Fatal("the sample should patch kube-system/coredns")
	}
	at := patch.Event.RequestReceivedTimestamp.Time
	wantID := ""
	var wantAt = at
	for i := range recs {
		r := &recs[i]
		ev := r.Event
		t0 := ev.RequestReceivedTimestamp.Time
		if !isCoreDNS(r) || !t0.Before(at) || ev.ResponseStatus == nil || ev.ResponseStatus.Code/100 != 2 {
			continue
		}
		shows := ev.ResponseObject != nil && !strings.Contains(string(ev.ResponseObject.Raw), `"kind":"Status"`)
		if !shows && (ev.Verb == "create" || ev.Verb == "update") && ev.RequestObject != nil {
			shows = true
		}
		if shows && (ev.Verb == "get" || ev.Verb == "create" || ev.Verb == "update" || ev.Verb == "patch") && (wantID == "" || !t0.Before(wantAt)) {
			wantID, wantAt = string(ev.AuditID), t0
		}
	}
	ref := store.ObjectRef{Resource: "configmaps", Namespace: "kube-system", Name: "coredns"}
	v, err := st.ObjectBefore(ctx, ref, at)
	if wantID == "" {
		t.Fatal("the sample should show the CoreDNS ConfigMap before the patch")
	}
	if err != nil || v.AuditID != wantID || !strings.Contains(string(v.Object), "Corefile") {
		t.Fatalf("CoreDNS before the patch: %+v, %v; want the version of %s", v, err, wantID)
	}
	if _, err := st.ObjectBefore(ctx, ref, at.Add(-24*3600e9)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CoreDNS a day earlier: got %v, want ErrNotFound", err)
	}
}
