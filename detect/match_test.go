package detect

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/ingest/ingesttest"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// logEvents decodes a real apiserver log of testdata/.
func logEvents(t *testing.T, name string) []*auditv1.Event {
	return ingesttest.Events(t, "../testdata/"+name)
}

// TestMatchPrefilters checks each match field the engine applies in Go
// against the same question asked of the event directly, over every event
// of a real log that holds impersonation, forwarded sources, nodes, service
// accounts and anonymous requests (access.sh).
func TestMatchPrefilters(t *testing.T) {
	evs := logEvents(t, "apiserver-1.36-access.log")
	actorGroups := func(ev *auditv1.Event) []string {
		if ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username != "" {
			return ev.ImpersonatedUser.Groups
		}
		return ev.User.Groups
	}
	has := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	cases := []struct {
		name  string
		match rulefile.Match
		want  func(ev *auditv1.Event) bool
	}{
		{"users prefix", rulefile.Match{Users: []string{"system:serviceaccount:team-a:*"}}, func(ev *auditv1.Event) bool {
			return strings.HasPrefix(ev.User.Username, "system:serviceaccount:team-a:")
		}},
		{"not_users", rulefile.Match{NotUsers: []string{"system:*", "alice"}}, func(ev *auditv1.Event) bool {
			return !strings.HasPrefix(ev.User.Username, "system:") && ev.User.Username != "alice"
		}},
		{"groups of the actor", rulefile.Match{Groups: []string{"system:nodes"}}, func(ev *auditv1.Event) bool {
			return has(actorGroups(ev), "system:nodes")
		}},
		{"impersonated", rulefile.Match{Impersonated: true}, func(ev *auditv1.Event) bool {
			return ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username != ""
		}},
		{"external source", rulefile.Match{ExternalSource: true}, func(ev *auditv1.Event) bool {
			for _, ip := range ev.SourceIPs {
				a, _ := netip.ParseAddr(ip)
				if !a.IsLoopback() && !a.IsPrivate() {
					return true
				}
			}
			return false
		}},
		{"namespaces and names", rulefile.Match{Namespaces: []string{"kube-system"}, Names: []string{"coredns"}}, func(ev *auditv1.Event) bool {
			return ev.ObjectRef != nil && ev.ObjectRef.Namespace == "kube-system" && ev.ObjectRef.Name == "coredns"
		}},
	}
	for _, tc := range cases {
		set := &rulefile.RuleSet{Rules: []*rulefile.Rule{{ID: "m", Title: "m", TechniqueID: "T", Tactic: "t", Severity: "low", DeniedSeverity: "low", Level: rulefile.LevelMetadata, Match: tc.match, Condition: "true"}}}
		e, err := NewEngine(set)
		if err != nil {
			t.Fatal(err)
		}
		fired, want := 0, 0
		for _, ev := range evs {
			fs, judged, err := e.Evaluate(ev, "access")
			if err != nil {
				t.Fatal(err)
			}
			if !judged {
				continue
			}
			w := tc.want(ev)
			if w {
				want++
			}
			if (len(fs) == 1) != w {
				t.Errorf("%s: event %s (%s %s by %s): fired %v, want %v", tc.name, ev.AuditID, ev.Verb, ev.RequestURI, ev.User.Username, len(fs) == 1, w)
			}
			fired += len(fs)
		}
		if want == 0 {
			t.Errorf("%s: the log holds no event the match admits; the case proves nothing", tc.name)
		}
		t.Logf("%s: %d of %d judged events", tc.name, fired, len(evs))
	}
}
