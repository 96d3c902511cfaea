package store

import (
	"testing"
	"time"
)

func TestParseTerms(t *testing.T) {
	got, err := ParseTerms("coredns -system:* actor:*Backup* client:curl uri:/exec -object:secrets")
	if err != nil {
		t.Fatal(err)
	}
	want := []Term{
		{Pattern: "coredns"},
		{Pattern: "system:*", Exclude: true},
		{Field: FieldActor, Pattern: "*backup*"},
		{Field: FieldClient, Pattern: "curl"},
		{Field: FieldURI, Pattern: "/exec"},
		{Field: FieldObject, Pattern: "secrets", Exclude: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("term %d: %+v, want %+v", i, got[i], want[i])
		}
		if round, _ := ParseTerms(got[i].String()); len(round) != 1 || round[0] != got[i] {
			t.Errorf("term %d does not read back from %q", i, got[i].String())
		}
	}
	for _, bad := range []string{"-", "actor:", "-client:"} {
		if _, err := ParseTerms(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestTermMatches(t *testing.T) {
	sa := &Entry{User: "system:serviceaccount:team-a:backup", Resource: "secrets", Namespace: "team-a", Name: "db",
		UserAgent: "curl/8.5.0", RequestURI: "/api/v1/namespaces/team-a/secrets/db"}
	mallory := &Entry{User: "mallory", Resource: "pods", Subresource: "exec", Namespace: "team-a", Name: "toolbox",
		UserAgent: "kubectl/v1.32.4", RequestURI: "/api/v1/namespaces/team-a/pods/toolbox/exec?command=sh"}
	cases := []struct {
		search   string
		sa, mall bool
	}{
		{"-system:*", false, true},
		{"system:*", true, false},
		{"actor:*:backup", true, false},
		{"actor:BACKUP", true, false},
		{"object:pods/exec*", false, true},
		{"object:secrets team-a/db", true, false},
		{"client:?url/*", true, false},
		{"uri:command=sh", false, true},
		{"team-a", true, true},
		{"team-a -actor:mallory", true, false},
	}
	for _, c := range cases {
		terms, err := ParseTerms(c.search)
		if err != nil {
			t.Fatal(err)
		}
		q := Query{Terms: terms}
		if got := q.Matches(sa); got != c.sa {
			t.Errorf("%q on the service account: %v", c.search, got)
		}
		if got := q.Matches(mallory); got != c.mall {
			t.Errorf("%q on mallory: %v", c.search, got)
		}
	}
	if ObjectText(mallory) != "pods/exec team-a/toolbox" || ObjectText(&Entry{Resource: "secrets"}) != "secrets" || ObjectText(&Entry{RequestURI: "/version"}) != "" {
		t.Errorf("object text: %q", ObjectText(mallory))
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		ok   bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*:*:backup", "system:serviceaccount:team-a:backup", true}, {"sys*", "xsys", false}, {"**a", "bba", true},
	} {
		if globMatch(c.p, c.s) != c.ok {
			t.Errorf("glob %q on %q: want %v", c.p, c.s, c.ok)
		}
	}
}

func TestFilterActorAndDescribe(t *testing.T) {
	var q Query
	q.FilterActor("mallory")
	if q.Actor != "mallory" || len(q.Terms) != 0 {
		t.Fatalf("plain name: %+v", q)
	}
	q = Query{}
	q.FilterActor("-system:*")
	q.FilterActor("system:serviceaccount:*")
	if q.Actor != "" || len(q.Terms) != 2 || !q.Terms[0].Exclude || q.Terms[1].Exclude {
		t.Fatalf("patterns: %+v", q)
	}
	q.Namespace = "team-a"
	q.Since = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	if got := q.Describe(); got != "namespace team-a, search -actor:system:* actor:system:serviceaccount:*, since 2026-11-22T09:00:00Z" {
		t.Errorf("describe: %q", got)
	}
}

func TestCoverText(t *testing.T) {
	a := time.Date(2026, 11, 22, 9, 53, 1, 200e6, time.UTC)
	b := time.Date(2026, 11, 22, 9, 53, 45, 400e6, time.UTC)
	if got := CoverText(a, b); got != "covers 09:53:01–09:53:46 on 2026-11-22 (UTC)" {
		t.Errorf("one day: %q", got)
	}
	if got := CoverText(a, b.Add(24*time.Hour)); got != "covers 2026-11-22 09:53:01 – 2026-11-23 09:53:45 (UTC)" {
		t.Errorf("two days: %q", got)
	}
	if got := CoverText(time.Time{}, time.Time{}); got != "holds no requests" {
		t.Errorf("empty: %q", got)
	}
}
