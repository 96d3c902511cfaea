package detect_test

import (
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// TestRulesReadExtra checks that rules read the user's extra attributes
// (authnv1.ExtraValue in the event) as lists of strings: a key tested
// with in, a value indexed, joined and measured, a missing key defaulted
// with ??. expr's join refuses the named slice type itself.
func TestRulesReadExtra(t *testing.T) {
	e := engineOf(t, `rules:
- id: extra-reader
  title: reads extra
  technique_id: MS-TA9025
  technique: List K8S secrets
  tactic: Credential Access
  severity: low
  condition: >
    "authentication.kubernetes.io/pod-name" in extra && (extra["authentication.kubernetes.io/pod-name"] ?? ["?"])[0] == "web-1" &&
    len(extra["authentication.kubernetes.io/node-name"]) == 1 && any(extra["authentication.kubernetes.io/pod-name"], {# == "web-1"})
  message: >
    join(extra["authentication.kubernetes.io/pod-name"], ",") + " on " + (extra["authentication.kubernetes.io/node-name"] ?? ["?"])[0] +
    " " + (extra["missing"] ?? ["none"])[0]
`)
	at := metav1.NewMicroTime(time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC))
	event := func(id string, extra map[string]authnv1.ExtraValue) *auditv1.Event {
		return &auditv1.Event{
			AuditID: k8stypes.UID("extra-" + id), Stage: auditv1.StageResponseComplete, Level: auditv1.LevelMetadata, Verb: "list",
			User:           authnv1.UserInfo{Username: "system:serviceaccount:web:default", Extra: extra},
			ObjectRef:      &auditv1.ObjectReference{Resource: "secrets", Namespace: "web", APIVersion: "v1"},
			ResponseStatus: &metav1.Status{Code: 200}, RequestReceivedTimestamp: at, StageTimestamp: at,
		}
	}
	with := event("with", map[string]authnv1.ExtraValue{
		"authentication.kubernetes.io/pod-name":  {"web-1"},
		"authentication.kubernetes.io/node-name": {"node-a"},
	})
	fs, _, err := e.Evaluate(with, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Message != "web-1 on node-a none" {
		t.Fatalf("with extra: findings %+v, want one saying %q", fs, "web-1 on node-a none")
	}
	for name, extra := range map[string]map[string]authnv1.ExtraValue{
		"no extra":  nil,
		"other pod": {"authentication.kubernetes.io/pod-name": {"db-0"}, "authentication.kubernetes.io/node-name": {"node-a"}},
	} {
		fs, _, err := e.Evaluate(event(name, extra), "test")
		if err != nil || len(fs) != 0 {
			t.Errorf("%s: findings %+v, err %v; want none", name, fs, err)
		}
	}
}
