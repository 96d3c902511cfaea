package rules

import (
	"os"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/baseline"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/ingest/ingesttest"
	"github.com/kaudit/kaudit/rules/ruletest"
)

// The tests of this file hold the library to the ground truth of the
// operator and escalation fixtures (testdata/scenarios/ground-truth.md):
// operators' routine never raises high, and with their history as a
// baseline nothing at medium; every step of an intrusion keeps at least the
// severity the ground truth gives it; look-alikes stay below theirs.

// step picks the requests of one ground-truth step: every non-empty field
// must equal the finding's ("-" for a name: none recorded).
type step struct {
	id                                 string
	actor, verb, resource, subresource string
	name                               string
	code                               int
	min, max                           string   // severity bounds; "" for none
	logs                               []string // where the bound holds; nil: every log of the table
}

func (s step) matches(f *detect.Finding) bool {
	eq := func(want, have string) bool { return want == "" || want == have }
	name := s.name
	if name == "-" {
		name = ""
		if f.Name != "" {
			return false
		}
	}
	return eq(s.actor, f.Actor()) && eq(s.verb, f.Verb) && eq(s.resource, f.Resource) &&
		eq(s.subresource, f.Subresource) && eq(name, f.Name) && (s.code == 0 || s.code == f.Code)
}

// checkSteps judges each step on the findings of one log: the highest
// finding of its requests against the bounds.
func checkSteps(t *testing.T, log string, findings []detect.Finding, steps []step) {
	t.Helper()
	rank := rulefile.SeverityRank
	for _, s := range steps {
		if s.logs != nil && !contains(s.logs, log) {
			continue
		}
		top := ""
		for i := range findings {
			if s.matches(&findings[i]) && (top == "" || rank(findings[i].Severity) > rank(top)) {
				top = findings[i].Severity
			}
		}
		switch {
		case s.min != "" && (top == "" || rank(top) < rank(s.min)):
			t.Errorf("%s: step %s: highest finding %q, want at least %s", log, s.id, top, s.min)
		case s.max != "" && top != "" && rank(top) > rank(s.max):
			t.Errorf("%s: step %s: highest finding %s, want at most %s", log, s.id, top, s.max)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func library(t *testing.T) *rulefile.RuleSet {
	t.Helper()
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func logFindings(t *testing.T, r *ruletest.Runner, log string) []detect.Finding {
	t.Helper()
	fs, err := r.LogFindings(os.DirFS("../testdata"), log)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// operatorHistory learns the operators' baseline from the setup and history
// windows recorded before the scored one.
func operatorHistory(t *testing.T) *baseline.Baseline {
	t.Helper()
	b := baseline.New()
	for _, log := range []string{"apiserver-1.36-operators-setup.log", "apiserver-1.36-operators-history.log"} {
		for _, ev := range ingesttest.Events(t, "../testdata/"+log) {
			b.LearnEvent(ev)
		}
	}
	return b
}

// Thirteen operators, the kubelet, Helm and kubeadm at their routine: no
// finding at high without a baseline, none at medium with their history.
// The setup window installs them (new webhooks, operators bound to
// cluster-admin), which is not routine and is told as what it is.
func TestOperatorsRoutine(t *testing.T) {
	r := ruletest.NewRunner(library(t))
	for _, log := range []string{"apiserver-1.36-operators-history.log", "apiserver-1.36-operators.log"} {
		for _, f := range logFindings(t, r, log) {
			if rulefile.SeverityRank(f.Severity) >= rulefile.SeverityRank(rulefile.SeverityHigh) {
				t.Errorf("%s, no baseline: %s %s by %s: %s", log, f.Severity, f.Rule, f.Actor(), f.Message)
			}
		}
	}
	r.SetHistory(operatorHistory(t))
	for _, f := range logFindings(t, r, "apiserver-1.36-operators.log") {
		if rulefile.SeverityRank(f.Severity) >= rulefile.SeverityRank(rulefile.SeverityMedium) {
			t.Errorf("operators.log with history: %s %s by %s: %s (%s)", f.Severity, f.Rule, f.Actor(), f.Message, f.SeverityReason)
		}
	}
}

const (
	cainjector = "system:serviceaccount:cert-manager:cert-manager-cainjector"
	argocd     = "system:serviceaccount:argocd:argocd-application-controller"
	prometheus = "system:serviceaccount:monitoring:prometheus-server"
	kyverno    = "system:serviceaccount:kyverno:kyverno-admission-controller"
)

// theftSteps are operator-theft.sh's steps (A1 to E5 of the ground truth).
var theftSteps = []step{
	{id: "A1", actor: cainjector, verb: "list", resource: "secrets", code: 200, min: "high"},
	{id: "A2", actor: cainjector, verb: "get", resource: "secrets", name: "bootstrap-token-7k2p9x", min: "high"},
	{id: "A3", actor: cainjector, verb: "create", resource: "clusterrolebindings", code: 403, min: "medium"},
	{id: "A4", actor: cainjector, verb: "patch", resource: "mutatingwebhookconfigurations", min: "high"},
	{id: "A5", actor: cainjector, verb: "patch", resource: "configmaps", code: 403, min: "medium"},
	{id: "B1", actor: argocd, verb: "list", resource: "secrets", name: "-", code: 200, min: "high"},
	{id: "B2", actor: argocd, verb: "get", resource: "secrets", name: "invoices-db", min: "high"},
	{id: "B3", actor: argocd, verb: "create", resource: "clusterrolebindings", code: 201, min: "high"},
	{id: "B4/B5", actor: argocd, resource: "configmaps", name: "coredns", verb: "patch", min: "high"},
	{id: "B5", actor: argocd, resource: "configmaps", name: "coredns", verb: "update", min: "high"},
	{id: "C1", actor: prometheus, verb: "list", resource: "pods", min: "medium"},
	{id: "C2", actor: prometheus, verb: "get", resource: "nodes", subresource: "proxy", code: 101, min: "high"},
	{id: "C3", actor: prometheus, verb: "create", resource: "nodes", subresource: "proxy", code: 403, min: "medium"},
	{id: "C4", actor: prometheus, verb: "list", resource: "secrets", code: 403, min: "medium"},
	{id: "D1", actor: cainjector, verb: "get", resource: "secrets", name: "invoices-db", min: "high"},
	{id: "D2", actor: argocd, verb: "list", resource: "secrets", code: 200, min: "high"},
	{id: "E1", actor: kyverno, verb: "list", resource: "secrets", code: 403, min: "medium"},
	{id: "E2", actor: kyverno, verb: "get", resource: "secrets", code: 403, min: "medium"},
	{id: "E3", actor: kyverno, verb: "create", resource: "clusterrolebindings", code: 403, min: "medium"},
	{id: "E4", actor: kyverno, verb: "create", resource: "mutatingwebhookconfigurations", min: "high"},
	{id: "E5", actor: kyverno, verb: "update", resource: "validatingwebhookconfigurations", min: "high"},
}

// Operators' stolen tokens: every step keeps its severity, judged alone
// and judged against the operators' history.
func TestOperatorTokenTheft(t *testing.T) {
	const log = "apiserver-1.36-operator-token-theft.log"
	r := ruletest.NewRunner(library(t))
	checkSteps(t, log, logFindings(t, r, log), theftSteps)
	r.SetHistory(operatorHistory(t))
	checkSteps(t, log+" with history", logFindings(t, r, log), theftSteps)
}

const (
	shared   = "apiserver-1.36-escalation.log"
	request  = "apiserver-1.36-escalation-request.log"
	metadata = "apiserver-1.36-escalation-metadata.log"
	prom     = "system:serviceaccount:monitoring:prometheus-server"
)

// escalationSteps are escalation.sh's steps; where a policy hides what a
// step needs (a PersistentVolume's hostPath, a CSR's subject), the bound
// names the logs that show it.
var escalationSteps = []step{
	// Look-alikes.
	{id: "0.4 Helm chart RBAC", actor: "admin", resource: "clusterroles", name: "ingress-nginx", max: "info"},
	{id: "0.4 Helm chart RBAC", actor: "admin", resource: "roles", name: "ingress-nginx", max: "info"},
	{id: "0.4 Helm chart RBAC", actor: "admin", resource: "clusterrolebindings", name: "ingress-nginx", max: "info"},
	{id: "0.7 kubelet metrics", actor: prom, resource: "nodes", subresource: "proxy", max: "info"},
	{id: "3.1d kubectl auth can-i --as", actor: "admin", resource: "selfsubjectaccessreviews", max: "info"},
	{id: "3.4 kubelet CSR approved", actor: "system:serviceaccount:kube-system:certificate-controller", subresource: "approval", max: "info"},
	{id: "3.8b log shipper", actor: "alice", resource: "daemonsets", name: "fluent-bit", max: "medium", logs: []string{shared, request}},
	{id: "3.9b kubectl debug", actor: "alice", subresource: "ephemeralcontainers", max: "info", logs: []string{shared, request}},
	{id: "3.10c NFS volume", actor: "alice", resource: "persistentvolumes", name: "team-a-nfs", max: "low"},
	{id: "3.10c local volume", actor: "admin", resource: "persistentvolumes", name: "local-ssd-node-1", max: "low"},
	{id: "3.11b pod security tightened", actor: "admin", resource: "namespaces", name: "team-a", verb: "patch", max: "info"},
	// Refused attempts.
	{id: "1.1", actor: "mallory", verb: "create", resource: "clusterrolebindings", code: 403, min: "medium"},
	{id: "1.2", actor: "mallory", verb: "list", resource: "secrets", code: 403, min: "medium"},
	{id: "1.3", actor: "mallory", verb: "create", subresource: "proxy", code: 403, min: "medium"},
	{id: "1.4", actor: "mallory", verb: "get", subresource: "proxy", code: 403, min: "medium"},
	{id: "1.5", actor: "mallory", verb: "create", resource: "certificatesigningrequests", name: "-", code: 403, min: "medium"},
	{id: "1.14", actor: "system:serviceaccount:team-a:ci-bot", resource: "secrets", code: 403, min: "medium"},
	{id: "2.2", actor: "mallory", resource: "rolebindings", name: "mallory-admin", code: 403, min: "medium"},
	{id: "2.4", actor: "alice", resource: "clusterroles", name: "platform-readonly", code: 403, min: "medium"},
	// Escalation that worked.
	{id: "2.6", actor: "alice", resource: "clusterroles", name: "platform-readonly", code: 200, min: "high", logs: []string{shared, request}},
	{id: "2.6 at Metadata", actor: "alice", resource: "clusterroles", name: "platform-readonly", code: 200, min: "medium", logs: []string{metadata}},
	{id: "2.7", actor: "alice", verb: "get", resource: "secrets", name: "etcd-backup-s3", code: 200, min: "high"},
	{id: "2.9", actor: "mallory", resource: "clusterrolebindings", name: "mallory-admin", code: 201, min: "high"},
	{id: "2.10", actor: "mallory", verb: "get", resource: "secrets", name: "etcd-backup-s3", code: 200, min: "high"},
	{id: "2.11", actor: "alice", resource: "roles", name: "secret-reader", min: "medium", logs: []string{shared, request}},
	{id: "3.1b", actor: "system:admin", verb: "list", resource: "secrets", code: 200, min: "high"},
	{id: "3.1c", actor: "system:serviceaccount:kube-system:clusterrole-aggregation-controller", verb: "list", resource: "clusterroles", min: "high"},
	{id: "3.2a", actor: "mallory", resource: "certificatesigningrequests", name: "m-kcm", verb: "create", min: "high", logs: []string{request}},
	{id: "3.2b", actor: "mallory", resource: "certificatesigningrequests", name: "m-node-evil", verb: "create", min: "high", logs: []string{request}},
	{id: "3.2a/b at Metadata", actor: "mallory", resource: "certificatesigningrequests", verb: "create", code: 201, min: "medium"},
	{id: "3.2c", actor: "mallory", resource: "certificatesigningrequests", name: "m-masters", min: "high"},
	{id: "3.2d", actor: "mallory", subresource: "approval", name: "m-kcm", min: "critical"},
	{id: "3.3b", actor: "alice", subresource: "approval", name: "alice-breakglass", min: "critical"},
	{id: "3.5a", actor: "mallory", verb: "create", resource: "secrets", name: "cac-token", min: "high", logs: []string{shared, metadata}},
	{id: "3.5b", actor: "alice", verb: "create", resource: "secrets", name: "ci-bot-token", min: "medium", logs: []string{shared, metadata}},
	{id: "3.5d", actor: "mallory", verb: "get", resource: "secrets", name: "cac-token", min: "medium"},
	{id: "3.5d", actor: "alice", verb: "get", resource: "secrets", name: "ci-bot-token", min: "medium"},
	{id: "3.7a", actor: "mallory", verb: "create", subresource: "proxy", code: 200, min: "high"},
	{id: "3.7b/c", actor: "mallory", verb: "get", subresource: "proxy", code: 101, min: "high"},
	{id: "3.8c", actor: "alice", resource: "pods", name: "gc-shell", min: "high"},
	{id: "3.8d", actor: "alice", resource: "deployments", name: "rbac-sync", min: "high"},
	{id: "3.9a", actor: "mallory", subresource: "ephemeralcontainers", code: 200, min: "high", logs: []string{shared, request}},
	{id: "3.10b", actor: "alice", resource: "persistentvolumes", name: "scratch-root", min: "high", logs: []string{request}},
	{id: "3.10b", actor: "alice", resource: "persistentvolumes", name: "etc-config", min: "high", logs: []string{request}},
	{id: "3.11a", actor: "mallory", resource: "namespaces", name: "payments", code: 200, min: "high", logs: []string{request}},
	{id: "3.12", actor: "mallory", resource: "jobs", name: "db-migrate", code: 200, min: "medium"},
	{id: "3.13", actor: "mallory", resource: "validatingwebhookconfigurations", name: "secrets-audit", min: "high"},
}

// Every path to more rights, under three audit policies.
func TestEscalationPaths(t *testing.T) {
	r := ruletest.NewRunner(library(t))
	for _, log := range []string{shared, request, metadata} {
		checkSteps(t, log, logFindings(t, r, log), escalationSteps)
	}
}

// Under a Metadata-only policy the basic intrusion is still seen: the
// cluster-admin binding through the authorizer's reasons, mallory's reads
// through it, her webhook and her CoreDNS edit by who changed what.
func TestBasicIntrusionAtMetadata(t *testing.T) {
	const log = "apiserver-1.36-basic-intrusion-metadata.log"
	fs := logFindings(t, ruletest.NewRunner(library(t)), log)
	checkSteps(t, log, fs, []step{
		{id: "cluster-admin binding", actor: "admin", resource: "clusterrolebindings", name: "mallory-admin", min: "high"},
		{id: "secrets read", actor: "mallory", verb: "get", resource: "secrets", name: "db-creds", min: "high"},
		{id: "secrets listed", actor: "mallory", verb: "list", resource: "secrets", code: 200, min: "high"},
		{id: "webhook", actor: "mallory", resource: "mutatingwebhookconfigurations", min: "medium"},
		{id: "CoreDNS", actor: "mallory", resource: "configmaps", name: "coredns", min: "medium"},
	})
	for _, f := range fs {
		if strings.HasPrefix(f.Actor(), "system:") && f.Actor() != "system:anonymous" &&
			rulefile.SeverityRank(f.Severity) >= rulefile.SeverityRank(rulefile.SeverityMedium) {
			t.Errorf("%s: the cluster's own components raised %s %s: %s", log, f.Severity, f.Rule, f.Message)
		}
	}
}
