package detect_test

import (
	"strings"
	"testing"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/rules/ruletest"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// A rule failing at run time (a type it did not expect: a binding whose
// subject name is a number) is reported, and costs no other rule its
// finding: the cluster-admin binding is still found.
func TestRuleRuntimeErrorCostsNoOtherFinding(t *testing.T) {
	set, err := ruletest.WithFailingRule(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	e, err := detect.NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	ev := find(t, loadSample(t), func(ev *auditv1.Event) bool {
		return ev.ObjectRef != nil && ev.ObjectRef.Name == "mallory-admin" && ev.Verb == "create"
	})
	for _, obj := range []*[]byte{&ev.RequestObject.Raw, &ev.ResponseObject.Raw} {
		*obj = []byte(strings.Replace(string(*obj), `"name":"mallory"`, `"name":12345`, 1))
	}
	if !strings.Contains(string(ev.ResponseObject.Raw), `"name":12345`) {
		t.Fatalf("the binding's subject was not made numeric: %s", ev.ResponseObject.Raw)
	}
	fs, _, err := e.Evaluate(ev, "test")
	if err == nil || !strings.Contains(err.Error(), "subject-name-prefix") || !strings.Contains(err.Error(), string(ev.AuditID)) {
		t.Fatalf("the failing rule's error %v does not name the rule and the event", err)
	}
	if got := byRule(fs, "cluster-admin-binding"); len(got) != 1 || got[0] != "admin high" {
		t.Fatalf("a binding with a numeric subject name: cluster-admin-binding findings %v, want one (all findings: %d)", got, len(fs))
	}
}
