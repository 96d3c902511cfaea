package incident_test

import (
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/ingest/ingesttest"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/rules"
	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

const sample = "../../testdata/apiserver-1.36-basic-intrusion.log"

func loadSample(t *testing.T) []*auditv1.Event {
	return ingesttest.Events(t, sample)
}

// builtinEngine is an engine of the built-in rules.
func builtinEngine(tb testing.TB) *detect.Engine {
	tb.Helper()
	set, err := rules.Load("")
	if err != nil {
		tb.Fatal(err)
	}
	e, err := detect.NewEngine(set)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// correlate runs events through the built-in rules into a Correlator.
func correlate(t *testing.T, evs []*auditv1.Event) []incident.Incident {
	t.Helper()
	e := builtinEngine(t)
	c := incident.New(0, rules.Tactics())
	for _, ev := range evs {
		fs, judged, err := e.Evaluate(ev, "t")
		if err != nil {
			t.Fatal(err)
		}
		if judged {
			c.Observe(ev)
		}
		c.Add(fs...)
	}
	return c.Incidents()
}

func mallory(t *testing.T, incs []incident.Incident) incident.Incident {
	t.Helper()
	for _, inc := range incs {
		for _, a := range inc.Actors {
			if a == "mallory" {
				return inc
			}
		}
	}
	t.Fatalf("no incident with mallory among %d", len(incs))
	return incident.Incident{}
}

func TestMalloryIncidentFromTheSample(t *testing.T) {
	incs := correlate(t, loadSample(t))
	n := 0
	for _, inc := range incs {
		for _, a := range inc.Actors {
			if a == "mallory" {
				n++
			}
		}
	}
	if n != 1 {
		t.Fatalf("mallory appears in %d incidents, want exactly 1", n)
	}
	inc := mallory(t, incs)
	if inc.Severity != rulefile.SeverityHigh && inc.Severity != rulefile.SeverityCritical {
		t.Errorf("severity %s, want high or critical", inc.Severity)
	}
	for _, rule := range []string{"secrets-list-cluster-wide", "admission-webhook-change", "coredns-configmap-change", "cluster-admin-binding"} {
		if !slices.Contains(inc.Rules, rule) {
			t.Errorf("incident lacks %s: rules %v", rule, inc.Rules)
		}
	}
	for _, tech := range []string{"MS-TA9025", "MS-TA9015", "MS-TA9035", "MS-TA9019"} {
		found := false
		for _, x := range inc.Techniques {
			found = found || x.ID == tech
		}
		if !found {
			t.Errorf("incident lacks technique %s", tech)
		}
	}
	if !slices.Contains(inc.Actors, "admin") {
		t.Errorf("the binding admin created for mallory did not join: actors %v", inc.Actors)
	}
	if len(inc.Links) == 0 || inc.Links[0].Kind != "binding" || inc.Links[0].From != "admin" || inc.Links[0].To != "mallory" || inc.Links[0].Role != "cluster-admin" {
		t.Errorf("links = %+v", inc.Links)
	}
	// "What else did they touch?": the secret read is no finding, but it is touched.
	touchedSecret := false
	for _, tt := range inc.Touched {
		if tt.Resource == "secrets" && tt.Namespace == "team-a" && tt.Name == "db-creds" && slices.Contains(tt.Verbs, "get") {
			touchedSecret = true
		}
	}
	if !touchedSecret {
		t.Errorf("touched lacks team-a/db-creds: %+v", inc.Touched)
	}
	for _, phrase := range []string{
		"mallory, from 127.0.0.1 with kubectl",
		"listed secrets in all namespaces",
		"read Secret team-a/db-creds",
		"created MutatingWebhookConfiguration pod-policy-injector",
		"patched ConfigMap kube-system/coredns",
		"cluster-admin had been granted to mallory by admin two seconds earlier",
	} {
		if !strings.Contains(inc.Summary, phrase) {
			t.Errorf("summary lacks %q:\n%s", phrase, inc.Summary)
		}
	}
	// Kill-chain order of tactics, as rules/matrix.yaml gives it.
	order := rules.Tactics()
	for i := 1; i < len(inc.Tactics); i++ {
		if slices.Index(order, inc.Tactics[i-1]) > slices.Index(order, inc.Tactics[i]) {
			t.Errorf("tactics out of kill-chain order: %v", inc.Tactics)
		}
	}
	for _, inc := range incs {
		for _, a := range inc.Actors {
			if a == "alice" {
				t.Errorf("alice is in incident %s", inc.ID)
			}
		}
	}
}

func TestIncidentsDoNotDependOnArrivalOrder(t *testing.T) {
	evs := loadSample(t)
	want := correlate(t, evs)
	// Webhook batches arrive concurrently: shuffle whole events but keep the
	// stages of one request in order, as one apiserver batch would.
	shuffled := append([]*auditv1.Event(nil), evs...)
	r := rand.New(rand.NewSource(1))
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	got := correlate(t, shuffled)
	if len(got) != len(want) {
		t.Fatalf("%d incidents after shuffling, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || strings.Join(got[i].Findings, ",") != strings.Join(want[i].Findings, ",") || got[i].Summary != want[i].Summary {
			t.Errorf("incident %d differs after shuffling:\n got %s %v\nwant %s %v", i, got[i].ID, got[i].Findings, want[i].ID, want[i].Findings)
		}
	}
}

func TestGapSplitsIncidents(t *testing.T) {
	evs := loadSample(t)
	var later []*auditv1.Event
	for _, ev := range evs {
		if ev.User.Username == "mallory" {
			c := ev.DeepCopy()
			c.AuditID = types.UID(string(c.AuditID) + "-later")
			c.RequestReceivedTimestamp.Time = c.RequestReceivedTimestamp.Time.Add(3 * time.Hour)
			c.StageTimestamp.Time = c.StageTimestamp.Time.Add(3 * time.Hour)
			later = append(later, c)
		}
	}
	incs := correlate(t, append(evs, later...))
	n := 0
	for _, inc := range incs {
		if slices.Contains(inc.Actors, "mallory") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("mallory three hours apart formed %d incidents, want 2", n)
	}
}

func TestOutsideSourceJoinsActors(t *testing.T) {
	evs := loadSample(t)
	// Two identities acting from the same outside address and client are one
	// attacker: the anonymous probes and mallory, moved to 198.51.100.23.
	var moved []*auditv1.Event
	for _, ev := range evs {
		c := ev.DeepCopy()
		if c.User.Username == "mallory" || c.User.Username == "system:anonymous" {
			c.SourceIPs = []string{"198.51.100.23", "127.0.0.1"}
			c.UserAgent = "python-requests/2.31.0"
		}
		moved = append(moved, c)
	}
	inc := mallory(t, correlate(t, moved))
	if !slices.Contains(inc.Actors, "system:anonymous") {
		t.Errorf("the anonymous probes from the same source did not join: actors %v", inc.Actors)
	}
	if !slices.Contains(inc.SourceIPs, "198.51.100.23") {
		t.Errorf("source_ips = %v", inc.SourceIPs)
	}
}

func TestImpersonationChainsWithTheRealUser(t *testing.T) {
	evs := loadSample(t)
	var out []*auditv1.Event
	for _, ev := range evs {
		c := ev.DeepCopy()
		// mallory's webhook, made as system:admin with --as.
		if c.User.Username == "mallory" && c.ObjectRef != nil && c.ObjectRef.Resource == "mutatingwebhookconfigurations" && c.Verb == "create" {
			c.ImpersonatedUser = &authnv1.UserInfo{Username: "system:admin", Groups: []string{"system:masters"}}
		}
		out = append(out, c)
	}
	inc := mallory(t, correlate(t, out))
	if !slices.Contains(inc.Actors, "system:admin") || !slices.Contains(inc.Rules, "admission-webhook-change") {
		t.Errorf("the impersonated request did not chain with mallory's: actors %v rules %v", inc.Actors, inc.Rules)
	}
}

// A client certificate mallory asked for (escalation.sh's m-kcm, naming
// system:kube-controller-manager) used later from another address and
// client joins her incident, saying it was her certificate request.
func TestCertificateUseJoinsRequester(t *testing.T) {
	evs := ingesttest.Events(t, "../../testdata/apiserver-1.36-escalation-request.log")
	var csr, read *auditv1.Event
	for _, ev := range evs {
		if ev.ObjectRef != nil && ev.ObjectRef.Resource == "certificatesigningrequests" && ev.ObjectRef.Name == "m-kcm" && ev.Verb == "create" {
			csr = ev
		}
		if csr != nil && read == nil && ev.User.Username == "mallory" && ev.Verb == "get" && ev.ImpersonatedUser == nil {
			read = ev
		}
	}
	if csr == nil || read == nil {
		t.Fatal("no m-kcm CSR, or no later read by mallory, in the fixture")
	}
	use := read.DeepCopy()
	use.AuditID = types.UID("cert-use-1")
	use.User = authnv1.UserInfo{Username: "system:kube-controller-manager", Groups: []string{"system:authenticated"}}
	use.SourceIPs = []string{"198.51.100.23"}
	use.UserAgent = "curl/8.5.0"
	use.RequestReceivedTimestamp.Time = csr.RequestReceivedTimestamp.Add(2 * time.Minute)
	use.StageTimestamp.Time = use.RequestReceivedTimestamp.Time
	var upTo []*auditv1.Event
	for _, ev := range evs {
		upTo = append(upTo, ev)
		if ev == csr {
			break
		}
	}
	inc := mallory(t, correlate(t, append(upTo, use)))
	if !slices.Contains(inc.Actors, "system:kube-controller-manager") {
		t.Fatalf("the certificate's use did not join mallory's incident: actors %v", inc.Actors)
	}
	found := false
	for _, l := range inc.Links {
		found = found || l.Kind == "certificate" && l.From == "mallory" && l.To == "system:kube-controller-manager" && l.Object == "certificatesigningrequests/m-kcm"
	}
	if !found {
		t.Errorf("no certificate link from mallory: %+v", inc.Links)
	}
	if !strings.Contains(inc.Summary, "a certificate naming system:kube-controller-manager had been requested by mallory") {
		t.Errorf("the story does not say whose certificate it was:\n%s", inc.Summary)
	}
}

// The platform team installs thirteen operators (Helm and kubectl binding
// each chart's roles to the chart's own service accounts), then three
// operators' tokens are stolen: the installer's bindings join no operator
// into the installer's incident, and each stolen token's use is told in
// its own operator's incident, with the change of source said.
func TestInstallerBindingsJoinNoOperator(t *testing.T) {
	var evs []*auditv1.Event
	for _, log := range []string{"operators-setup", "operators-history", "operators", "operator-token-theft"} {
		evs = append(evs, ingesttest.Events(t, "../../testdata/apiserver-1.36-"+log+".log")...)
	}
	incs := correlate(t, evs)
	if len(incs) == 0 {
		t.Fatal("no incident")
	}
	for _, inc := range incs {
		sas := 0
		for _, a := range inc.Actors {
			if strings.HasPrefix(a, "system:serviceaccount:") {
				sas++
			}
		}
		if sas > 1 || sas == 1 && len(inc.Actors) > 1 {
			t.Errorf("incident %s joins %v", inc.ID, inc.Actors)
		}
	}
	told := false
	for _, inc := range incs {
		if slices.Equal(inc.Actors, []string{"system:serviceaccount:cert-manager:cert-manager-cainjector"}) {
			told = strings.Contains(inc.Summary, "then, from 203.0.113.45 with python-requests")
		}
	}
	if !told {
		t.Error("no incident of the cainjector alone says its token moved outside")
	}
}
