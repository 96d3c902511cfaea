package detect_test

import (
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// TestReadsOfGradedObjectsAreNotParsed checks that the bodies of a read
// of an object whose changes a rule grades are not parsed ahead (nothing
// keeps its version), while a write's are, and that the rule still grades
// an update against the version its create left, a read in between.
func TestReadsOfGradedObjectsAreNotParsed(t *testing.T) {
	e := engineOf(t, `rules:
- id: color-changed
  title: color changed
  technique_id: MS-TA9025
  technique: List K8S secrets
  tactic: Credential Access
  severity: low
  level: RequestResponse
  match:
    verbs: [update]
    resources: [configmaps]
  condition: previous != nil && get(previous, "data.color") != get(object, "data.color")
  message: '"color " + get(previous, "data.color") + " -> " + get(object, "data.color")'
`)
	at := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	n := 0
	event := func(verb, color string) *auditv1.Event {
		n++
		ts := metav1.NewMicroTime(at.Add(time.Duration(n) * time.Second))
		body := &runtime.Unknown{Raw: []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"paint","namespace":"web"},"data":{"color":"` + color + `"}}`)}
		ev := &auditv1.Event{
			AuditID: k8stypes.UID("tracked-" + verb + "-" + color), Stage: auditv1.StageResponseComplete, Level: auditv1.LevelRequestResponse,
			Verb: verb, User: authnv1.UserInfo{Username: "alice"}, ResponseObject: body,
			ObjectRef:      &auditv1.ObjectReference{Resource: "configmaps", Namespace: "web", Name: "paint", APIVersion: "v1"},
			ResponseStatus: &metav1.Status{Code: 200}, RequestReceivedTimestamp: ts, StageTimestamp: ts,
		}
		if verb != "get" {
			ev.RequestObject = body
		}
		return ev
	}
	steps := []struct {
		ev     *auditv1.Event
		parsed bool
		want   string // the finding's message, or "" for none
	}{
		{event("create", "red"), true, ""},
		{event("get", "red"), false, ""},
		{event("list", "red"), false, ""},
		{event("update", "blue"), true, "color red -> blue"},
	}
	for _, s := range steps {
		parsed := e.Parse(s.ev)
		if got := parsed != nil; got != s.parsed {
			t.Errorf("%s: parsed ahead %v, want %v", s.ev.Verb, got, s.parsed)
		}
		fs, _, err := e.EvaluateParsed(s.ev, parsed, "test")
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if len(fs) > 0 {
			got = fs[0].Message
		}
		if got != s.want || len(fs) > 1 {
			t.Errorf("%s: findings %+v, want %q", s.ev.Verb, fs, s.want)
		}
	}
}
