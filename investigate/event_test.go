package investigate

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/store"
)

// sampleCoreDNSPatch is mallory's patch of the CoreDNS ConfigMap in the
// sample, and the read just before it that showed the ConfigMap.
const (
	sampleCoreDNSPatch = "1245ddec-efc3-4673-b857-4becdd1d279b"
	sampleCoreDNSRead  = "c5a8d4bd-e07c-4b0c-a52c-f5f0eb44497e"
)

func TestEventFindingsReasonAndFields(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	var ev EventStages
	if res := get(t, srv, "GET", "/api/v1/events/"+sampleCoreDNSPatch, analystToken, &ev); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if ev.Decision != "allow" || !strings.Contains(ev.Reason, `ClusterRoleBinding "mallory-admin"`) {
		t.Errorf("decision %q, reason %q", ev.Decision, ev.Reason)
	}
	var rulesSeen []string
	for _, f := range ev.Findings {
		rulesSeen = append(rulesSeen, f.Finding.Rule)
		if len(f.Incidents) != 1 || !strings.HasPrefix(f.Incidents[0], "inc-") {
			t.Errorf("%s: incidents %v", f.Finding.Rule, f.Incidents)
		}
		if f.Finding.Rule == "coredns-corefile-redirect" {
			want := [][]string{{"verb"}, {"objectRef", "name"}, {"responseObject", "data", "Corefile"}}
			for _, w := range want {
				if !slices.ContainsFunc(f.Fields, func(p []string) bool { return slices.Equal(p, w) }) {
					t.Errorf("corefile rule's fields %v lack %v", f.Fields, w)
				}
			}
		}
	}
	if !slices.Equal(rulesSeen, []string{"coredns-configmap-change", "coredns-corefile-redirect"}) {
		t.Errorf("findings on the patch: %v", rulesSeen)
	}
	// A request no rule fired on lists no findings, as [] not null.
	res := get(t, srv, "GET", "/api/v1/events/"+sampleCoreDNSRead, analystToken, nil)
	body := readBody(t, res)
	if !strings.Contains(body, `"findings":[]`) {
		t.Errorf("event without findings: %s", body[:min(len(body), 300)])
	}
}

func TestEventDiffOfThePatch(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	var d EventDiff
	if res := get(t, srv, "GET", "/api/v1/events/"+sampleCoreDNSPatch+"/diff", analystToken, &d); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if d.Verb != "patch" || d.Object != (store.ObjectRef{Resource: "configmaps", Namespace: "kube-system", Name: "coredns"}) {
		t.Fatalf("diff of %+v", d)
	}
	if d.Before == nil || d.Before.AuditID != sampleCoreDNSRead || d.Before.Verb != "get" || d.After == nil || d.After.AuditID != sampleCoreDNSPatch {
		t.Fatalf("before %+v after %+v", d.Before, d.After)
	}
	if len(d.Patch) == 0 {
		t.Error("the patch body is missing")
	}
	var corefile *Change
	for i := range d.Changes {
		if slices.Equal(d.Changes[i].Path, []string{"data", "Corefile"}) {
			corefile = &d.Changes[i]
		}
	}
	if corefile == nil || corefile.Op != "changed" {
		t.Fatalf("no change of data.Corefile in %+v", d.Changes)
	}
	var added, removed []string
	for _, l := range corefile.Lines {
		switch l.Op {
		case "+":
			added = append(added, l.Text)
		case "-":
			removed = append(removed, l.Text)
		}
	}
	if !slices.ContainsFunc(added, func(s string) bool { return strings.Contains(s, "attacker.example.com") }) ||
		!slices.Contains(added, "203.0.113.53") || !slices.Contains(removed, "/etc/resolv.conf") {
		t.Errorf("corefile word diff: added %q removed %q", added, removed)
	}
	// A read changes nothing; an unknown event is 404.
	var read EventDiff
	get(t, srv, "GET", "/api/v1/events/"+sampleCoreDNSRead+"/diff", analystToken, &read)
	if read.Note == "" || len(read.Changes) != 0 {
		t.Errorf("diff of a read: %+v", read)
	}
	if res := get(t, srv, "GET", "/api/v1/events/no-such-event/diff", analystToken, nil); res.StatusCode != 404 {
		t.Errorf("unknown event: %d", res.StatusCode)
	}
}

func TestDiffObjects(t *testing.T) {
	before := `{"metadata":{"name":"x","resourceVersion":"1"},"spec":{"replicas":1,"ports":[80,443],"script":"a\nb\nc"}}`
	after := `{"metadata":{"name":"x","resourceVersion":"2","labels":{"l":"v"}},"spec":{"replicas":3,"ports":[80],"script":"a\nB\nc"}}`
	cs, err := DiffObjects([]byte(before), []byte(after))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range cs {
		got[pathText(c.Path)] = c
	}
	want := map[string]string{
		"metadata.labels": "added", "metadata.resourceVersion": "changed", "spec.ports[1]": "removed",
		"spec.replicas": "changed", "spec.script": "changed",
	}
	if len(got) != len(want) {
		t.Fatalf("changes %v", cs)
	}
	for p, op := range want {
		if got[p].Op != op {
			t.Errorf("%s: %q, want %q", p, got[p].Op, op)
		}
	}
	if !got["metadata.resourceVersion"].Noise || got["spec.replicas"].Noise {
		t.Error("noise marks")
	}
	if string(got["spec.replicas"].Before) != "1" || string(got["spec.replicas"].After) != "3" {
		t.Errorf("replicas %s → %s", got["spec.replicas"].Before, got["spec.replicas"].After)
	}
	lines := got["spec.script"].Lines
	if len(lines) != 4 || lines[0] != (LineChange{" ", "a"}) || lines[1] != (LineChange{"-", "b"}) || lines[2] != (LineChange{"+", "B"}) {
		t.Errorf("line diff %v", lines)
	}
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
