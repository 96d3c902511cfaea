package detect_test

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/detect"
)

// An event dated far ahead of the receiver's clock must not become the
// engine's "now": sequence windows and pruning would jump to its time and
// forget every real actor's recent activity.
func TestFutureDatedEventKeepsSequenceWindows(t *testing.T) {
	set := ruleSet(t, `rules:
- id: burst
  title: secrets read across namespaces
  technique_id: MS-TA9025
  technique: List K8S secrets
  tactic: Credential Access
  severity: medium
  match: {verbs: [get], resources: [secrets]}
  condition: count_distinct("ns", actor, namespace, "1m") >= 3
- id: skewed
  title: event dated ahead of the clock
  technique_id: MS-TA9025
  technique: List K8S secrets
  tactic: Credential Access
  severity: medium
  condition: clock_skewed
  message: 'string(ahead_seconds)'
`)
	base := find(t, loadSample(t), func(ev *auditv1.Event) bool {
		return ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets" && ev.Verb == "get"
	})
	at := base.RequestReceivedTimestamp.Time
	for _, future := range []time.Time{at.Add(5 * time.Hour), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)} {
		e, err := detect.NewEngine(set)
		if err != nil {
			t.Fatal(err)
		}
		e.SetClock(func() time.Time { return at.Add(30 * time.Second) }, 10*time.Minute)
		fire := func(ns string, when time.Time) []detect.Finding {
			ev := base.DeepCopy()
			ev.AuditID = types.UID(string(ev.AuditID) + "-" + ns)
			ev.ObjectRef.Namespace = ns
			ev.RequestReceivedTimestamp.Time = when
			fs, _, err := e.Evaluate(ev, "t")
			if err != nil {
				t.Fatal(err)
			}
			return fs
		}
		if n := len(fire("a", at)) + len(fire("b", at.Add(10*time.Second))); n != 0 {
			t.Fatalf("fired %d times before three namespaces", n)
		}
		var skewed *detect.Finding
		for _, f := range fire("x", future) {
			if f.Rule == "skewed" {
				skewed = &f
			}
		}
		if skewed == nil {
			t.Fatalf("event dated %s: no clock-skew finding", future)
		}
		if skewed.Time != future.UTC().Format(detect.TimeFormat) {
			t.Fatalf("the finding is filed at %s, want the event's own time %s", skewed.Time, future)
		}
		if fs := fire("c", at.Add(20*time.Second)); len(fs) != 1 || fs[0].Rule != "burst" {
			t.Fatalf("after an event dated %s, the burst within a minute gave %+v: the window moved to the future", future, fs)
		}
	}
}

// Events within the allowed skew, and every event of the past, are not
// flagged.
func TestClockSkewOnlyBeyondTheAllowance(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at     time.Time
		skewed bool
	}{
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{now.Add(-time.Hour), false},
		{now.Add(9 * time.Minute), false},
		{now.Add(11 * time.Minute), true},
	} {
		s := detect.SkewOf(c.at, now, 10*time.Minute)
		if s.Skewed != c.skewed {
			t.Errorf("%s: skewed %v, want %v", c.at, s.Skewed, c.skewed)
		}
		if c.skewed {
			if !s.Now.Equal(now) {
				t.Errorf("%s: windows use %s, want the receiver's clock %s", c.at, s.Now, now)
			}
		} else if !s.Now.Equal(c.at) {
			t.Errorf("%s: windows use %s, want the event's time", c.at, s.Now)
		}
	}
}
