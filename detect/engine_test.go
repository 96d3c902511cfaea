package detect_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/ingest/ingesttest"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/rules"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

const sample = "../testdata/apiserver-1.36-basic-intrusion.log"

func loadSample(t testing.TB) []*auditv1.Event {
	return ingesttest.Events(t, sample)
}

func builtinEngine(t testing.TB) *detect.Engine {
	t.Helper()
	set, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := detect.NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func runAll(t testing.TB, e *detect.Engine, evs []*auditv1.Event) []detect.Finding {
	t.Helper()
	var out []detect.Finding
	for _, ev := range evs {
		fs, _, err := e.Evaluate(ev, "test")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fs...)
	}
	return out
}

// byRule returns "user severity" for each finding of rule, in order.
func byRule(fs []detect.Finding, rule string) []string {
	var out []string
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f.User+" "+f.Severity)
		}
	}
	return out
}

func TestSeedRulesOnTheSample(t *testing.T) {
	fs := runAll(t, builtinEngine(t), loadSample(t))
	want := map[string][]string{
		// Persistence: the mutating webhook mallory created.
		"admission-webhook-change": {"mallory high"},
		// Lateral movement: the Corefile patch.
		"coredns-configmap-change": {"mallory high"},
		// Anonymous probes, both denied: low.
		"anonymous-request": {"system:anonymous low", "system:anonymous low"},
		// Cluster-wide secret listing: denied probes low, the allowed list high.
		"secrets-list-cluster-wide": {"system:anonymous low", "mallory low", "mallory high"},
		"cluster-admin-binding":     {"admin high"},
	}
	for rule, w := range want {
		got := byRule(fs, rule)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s: got %v, want %v", rule, got, w)
		}
	}
	for _, f := range fs {
		if rulefile.SeverityRank(f.Severity) >= rulefile.SeverityRank(rulefile.SeverityMedium) &&
			(f.User == "alice" || strings.HasPrefix(f.User, "system:")) {
			t.Errorf("medium or above for a benign actor: %+v", f)
		}
	}
}

// craft returns a sample event changed by edit, for negative cases in the
// apiserver's exact shape.
func find(t *testing.T, evs []*auditv1.Event, pred func(*auditv1.Event) bool) *auditv1.Event {
	t.Helper()
	for _, ev := range evs {
		if pred(ev) {
			c := ev.DeepCopy()
			return c
		}
	}
	t.Fatal("no such event in the sample")
	return nil
}

func TestSeedRulesStaySilent(t *testing.T) {
	evs := loadSample(t)
	e := builtinEngine(t)
	// A get of the coredns ConfigMap is no change.
	get := find(t, evs, func(ev *auditv1.Event) bool {
		return ev.ObjectRef != nil && ev.ObjectRef.Name == "coredns" && ev.Verb == "get"
	})
	// The same patch on a ConfigMap of another namespace is not DNS.
	patch := find(t, evs, func(ev *auditv1.Event) bool {
		return ev.ObjectRef != nil && ev.ObjectRef.Name == "coredns" && ev.Verb == "patch"
	})
	patch.ObjectRef.Namespace = "team-a"
	// A get of a webhook configuration changes nothing.
	whGet := find(t, evs, func(ev *auditv1.Event) bool {
		return ev.ObjectRef != nil && ev.ObjectRef.Resource == "mutatingwebhookconfigurations" && ev.Verb == "get"
	})
	// A single secret read is not a listing.
	secretGet := find(t, evs, func(ev *auditv1.Event) bool {
		return ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets" && ev.Verb == "get"
	})
	// The controller-manager's own secret watch is an exception by identity.
	kcm := find(t, evs, func(ev *auditv1.Event) bool {
		return ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets" && ev.Verb == "list" && ev.User.Username == "system:kube-controller-manager"
	})
	for name, ev := range map[string]*auditv1.Event{"coredns get": get, "team-a patch": patch, "webhook get": whGet, "secret get": secretGet, "kcm list": kcm} {
		fs, _, err := e.Evaluate(ev, "test")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Severity != rulefile.SeverityInfo {
				t.Errorf("%s: unexpected finding %s (%s)", name, f.Rule, f.Severity)
			}
		}
	}
}

func TestAnonymousAllowedIsHigh(t *testing.T) {
	evs := loadSample(t)
	probe := find(t, evs, func(ev *auditv1.Event) bool { return ev.User.Username == "system:anonymous" })
	probe.ResponseStatus.Code = 200
	probe.ResponseStatus.Status = "Success"
	probe.Annotations["authorization.k8s.io/decision"] = "allow"
	fs, _, _ := builtinEngine(t).Evaluate(probe, "test")
	if got := byRule(fs, "anonymous-request"); len(got) != 1 || got[0] != "system:anonymous high" {
		t.Errorf("allowed anonymous request: %v", got)
	}
}

func TestOncePerRequest(t *testing.T) {
	evs := loadSample(t)
	watchStarted := find(t, evs, func(ev *auditv1.Event) bool {
		return ev.Verb == "watch" && ev.Stage == auditv1.StageResponseStarted && ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets"
	})
	complete := watchStarted.DeepCopy()
	complete.Stage = auditv1.StageResponseComplete
	e := engineOf(t, `rules:
- id: any-watch
  title: any watch
  technique_id: MS-TA9025
  technique: List K8S secrets
  tactic: Credential Access
  severity: info
  match: {verbs: [watch], resources: [secrets]}
  condition: "true"
`)
	n := 0
	for _, ev := range []*auditv1.Event{watchStarted, complete} {
		fs, _, _ := e.Evaluate(ev, "t")
		n += len(fs)
	}
	if n != 1 {
		t.Errorf("a watch with two stages gave %d findings, want 1", n)
	}
}

func ruleSet(t *testing.T, user string) *rulefile.RuleSet {
	t.Helper()
	files, err := rulefile.LoadFS(fstest.MapFS{"user.yaml": {Data: []byte(user)}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := rulefile.Merge(nil, files)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// engineOf compiles the rules of a rule file's text into an engine.
func engineOf(t *testing.T, rules string) *detect.Engine {
	t.Helper()
	e, err := detect.NewEngine(ruleSet(t, rules))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCompileErrorNamesFileAndRule(t *testing.T) {
	files, _ := rulefile.LoadFS(fstest.MapFS{"mine.yaml": {Data: []byte(`rules:
- id: broken-rule
  title: broken
  technique_id: MS-TA9025
  technique: x
  tactic: Credential Access
  severity: low
  condition: "verb == "
`)}})
	set, err := rulefile.Merge(nil, files)
	if err != nil {
		t.Fatal(err)
	}
	_, err = detect.NewEngine(set)
	if err == nil || !strings.Contains(err.Error(), "mine.yaml") || !strings.Contains(err.Error(), "broken-rule") {
		t.Errorf("compile error %v does not name the file and the rule", err)
	}
	if _, err := rulefile.LoadFS(fstest.MapFS{"typo.yaml": {Data: []byte("rules:\n- id: x\n  condtion: true\n")}}); err == nil {
		t.Error("an unknown field in a rule file was accepted")
	}
}

func TestUserOverridesExceptionsAndDisable(t *testing.T) {
	builtin, err := rulefile.LoadFS(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	user, err := rulefile.LoadFS(fstest.MapFS{"site.yaml": {Data: []byte(`
exceptions:
- rule: admission-webhook-change
  comment: our policy controller
  users: [mallory]
disable: [coredns-configmap-change]
rules:
- id: cluster-admin-binding
  title: cluster-admin granted (site)
  technique_id: MS-TA9019
  technique: Cluster-admin binding
  tactic: Privilege Escalation
  severity: critical
  level: RequestResponse
  match: {verbs: [create], resources: [clusterrolebindings]}
  condition: get(object, "roleRef.name") == "cluster-admin"
  exceptions:
  - users: [system:apiserver]
`)}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := rulefile.Merge(builtin, user)
	if err != nil {
		t.Fatal(err)
	}
	e, err := detect.NewEngine(set)
	if err != nil {
		t.Fatal(err)
	}
	fs := runAll(t, e, loadSample(t))
	if got := byRule(fs, "admission-webhook-change"); len(got) != 0 {
		t.Errorf("the user's exception did not apply: %v", got)
	}
	if got := byRule(fs, "coredns-configmap-change"); len(got) != 0 {
		t.Errorf("a disabled rule fired: %v", got)
	}
	if got := byRule(fs, "cluster-admin-binding"); len(got) != 1 || got[0] != "admin critical" {
		t.Errorf("the overriding rule gave %v", got)
	}
	if _, err := rulefile.Merge(builtin, []rulefile.RuleFile{{Disable: []string{"no-such-rule"}}}); err == nil {
		t.Error("disabling an unknown rule was accepted")
	}
}

func TestSequenceFunctionsUseEventTime(t *testing.T) {
	e := engineOf(t, `rules:
- id: burst
  title: secrets read across namespaces
  technique_id: MS-TA9025
  technique: List K8S secrets
  tactic: Credential Access
  severity: medium
  match: {verbs: [get], resources: [secrets]}
  condition: count_distinct("ns", actor, namespace, "1m") >= 3
`)
	base := find(t, loadSample(t), func(ev *auditv1.Event) bool {
		return ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets" && ev.Verb == "get"
	})
	fire := func(ns string, offsetSec int) int {
		ev := base.DeepCopy()
		ev.AuditID = types.UID(string(ev.AuditID) + "-" + ns)
		ev.ObjectRef.Namespace = ns
		ev.RequestReceivedTimestamp.Time = base.RequestReceivedTimestamp.Time.Add(timeSec(offsetSec))
		fs, _, _ := e.Evaluate(ev, "t")
		return len(fs)
	}
	if fire("a", 0)+fire("b", 10) != 0 {
		t.Error("fired before three namespaces")
	}
	if fire("c", 20) != 1 {
		t.Error("did not fire on the third namespace within a minute")
	}
	// Two minutes later the window has moved on: one namespace is not a burst.
	if fire("d", 200) != 0 {
		t.Error("fired after the window passed")
	}
}
