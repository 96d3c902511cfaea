package baseline

import (
	"bytes"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/ingest/ingesttest"
)

func learned(t *testing.T, path string) *Baseline {
	t.Helper()
	b := New()
	for _, ev := range ingesttest.Events(t, path) {
		b.LearnEvent(ev)
	}
	if b.Events == 0 {
		t.Fatalf("nothing learned from %s", path)
	}
	return b
}

// What the cluster's controllers do over and over in the benign log is
// routine for them when they do it again; the same request from another
// network or client, or by an actor without a history, is not.
func TestRoutineNeedsSameActionNetworkAndClient(t *testing.T) {
	b := learned(t, "../../testdata/apiserver-1.36-benign.log")
	var routine *auditv1.Event
	for _, ev := range ingesttest.Events(t, "../../testdata/apiserver-1.36-benign.log") {
		if strings.HasPrefix(ev.User.Username, "system:serviceaccount:") || ev.User.Username == "system:kube-controller-manager" {
			if b.Assess(ev).IsRoutine {
				routine = ev
				break
			}
		}
	}
	if routine == nil {
		t.Fatal("no controller request of the benign log is routine after learning the log")
	}
	why := b.Assess(routine).Routine
	if !strings.Contains(why, "seen ") || !strings.Contains(why, routine.User.Username) {
		t.Errorf("reason %q does not say who and how often", why)
	}

	moved := *routine
	moved.SourceIPs = []string{"203.0.113.9"}
	if b.Assess(&moved).IsRoutine {
		t.Error("the same request from an outside address is routine")
	}
	if nets := b.Assess(&moved).NewNetworks; len(nets) != 1 || nets[0] != "203.0.113.0/24" {
		t.Errorf("new networks %v, want 203.0.113.0/24", nets)
	}
	other := *routine
	other.UserAgent = "curl/8.5.0"
	if b.Assess(&other).IsRoutine {
		t.Error("the same request with curl is routine")
	}
	if !b.Assess(&other).NewClient {
		t.Error("curl is not a new client for a controller")
	}
	stranger := *routine
	stranger.User = authnv1.UserInfo{Username: "mallory"}
	if b.Assess(&stranger).IsRoutine {
		t.Error("a request of an actor without history is routine")
	}
	if a := b.Assess(&stranger); a.NewClient || len(a.NewNetworks) > 0 {
		t.Error("an actor without history has news: without a history nothing is new")
	}
}

// Refused requests are nobody's routine.
func TestDeniedRequestsAreNotLearned(t *testing.T) {
	b := New()
	for _, ev := range ingesttest.Events(t, "../../testdata/apiserver-1.36-basic-intrusion.log") {
		if ev.User.Username == "system:anonymous" {
			b.LearnEvent(ev)
		}
	}
	// The sample's two anonymous requests (list secrets, list kube-system
	// configmaps) were both refused.
	if id := b.Identities["system:anonymous"]; id != nil {
		t.Errorf("refused anonymous requests learned: %v", id.Actions)
	}
	if b.Events != 0 {
		t.Errorf("%d refused requests learned", b.Events)
	}
}

// A snapshot reads back to the same baseline, and the same history always
// writes the same bytes.
func TestSnapshotRoundTrip(t *testing.T) {
	b := learned(t, "../../testdata/apiserver-1.36-benign.log")
	var one, two bytes.Buffer
	if err := b.Write(&one); err != nil {
		t.Fatal(err)
	}
	if err := learned(t, "../../testdata/apiserver-1.36-benign.log").Write(&two); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Fatal("the same history wrote different snapshots")
	}
	back, err := Read(bytes.NewReader(one.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := back.Write(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), again.Bytes()) {
		t.Fatal("a snapshot read back writes different bytes")
	}
	if _, err := Read(strings.NewReader("not gzip")); err == nil {
		t.Fatal("garbage read as a snapshot")
	}
}

// Against the operators' history, their routine work is routine, and
// their tokens used from elsewhere are news; news only for actors with a
// history, and a routine request has no new network.
func TestAssessOperatorFixtures(t *testing.T) {
	b := learned(t, "../../testdata/apiserver-1.36-operators-history.log")
	routine, news := 0, 0
	var evs []*auditv1.Event
	for _, f := range []string{"operators", "operator-token-theft", "basic-intrusion"} {
		evs = append(evs, ingesttest.Events(t, "../../testdata/apiserver-1.36-"+f+".log")...)
	}
	for _, ev := range evs {
		a := b.Assess(ev)
		if a.Known != b.Known(RequestOf(ev).Actor) {
			t.Fatalf("event %s: assessed as known %v, the baseline says %v", ev.AuditID, a.Known, !a.Known)
		}
		if a.IsRoutine {
			routine++
			if len(a.NewNetworks) > 0 || a.Routine == "" {
				t.Fatalf("event %s: routine with new networks %v, or without a reason %q", ev.AuditID, a.NewNetworks, a.Routine)
			}
		}
		if a.NewClient || len(a.NewNetworks) > 0 {
			news++
			if !b.Known(RequestOf(ev).Actor) {
				t.Fatalf("event %s: news %+v for an actor without a history", ev.AuditID, a)
			}
		}
	}
	if routine == 0 || news == 0 {
		t.Fatalf("%d routine and %d with news: the fixture exercises neither", routine, news)
	}
}
