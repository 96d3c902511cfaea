// Package rulefile is the format of kaudit's rule files: the YAML a rule
// is written in (Rule, Match, Exception), the severity and audit-level
// scales it uses, how a directory of files is read, and how a user's files
// merge with the built-in library. Like Prometheus's rulefmt it only reads
// and checks rules; compiling and evaluating them is package detect's work.
package rulefile

import "net/netip"

// Rule is one detection, as written in the YAML files of rules/ or of a
// user's --rules directory.
type Rule struct {
	// ID names the rule; users override or disable built-in rules by it.
	ID    string `json:"id"`
	Title string `json:"title"`
	// Description says what the rule catches and why it matters.
	Description string `json:"description,omitempty"`
	// TechniqueID and Technique are the Threat Matrix for Kubernetes' id and
	// name (MS-TA9015, "Malicious admission controller").
	TechniqueID string `json:"technique_id"`
	Technique   string `json:"technique"`
	// Tactic is the matrix tactic the finding is reported under.
	Tactic string `json:"tactic"`
	// Attack lists MITRE ATT&CK technique ids that map to the technique.
	Attack []string `json:"attack,omitempty"`
	// Severity applies when the cluster allowed the request.
	Severity string `json:"severity"`
	// DeniedSeverity applies when the cluster denied it (default low;
	// "none" for no finding at all).
	DeniedSeverity string `json:"denied_severity,omitempty"`
	// Level is the audit level the rule needs (Metadata, Request or
	// RequestResponse); at lower levels it sees only what metadata shows.
	Level string `json:"level,omitempty"`
	// Match is the cheap pre-filter the engine indexes rules by.
	Match Match `json:"match"`
	// Condition is an expr expression over Env that must be true to fire.
	Condition string `json:"condition"`
	// Message is an expr expression giving the finding's message (a string).
	Message string `json:"message,omitempty"`
	// Fallback is an expr condition over metadata only, evaluated instead of
	// Condition when the event was recorded at a lower audit level than
	// Level needs (a pod created at Metadata level shows no spec). Without a
	// fallback the rule cannot judge such events and skips them.
	Fallback string `json:"fallback,omitempty"`
	// FallbackSeverity is the severity of findings of the fallback
	// (default: Severity).
	FallbackSeverity string `json:"fallback_severity,omitempty"`
	// Grades adjust the severity by what the event shows: the first whose
	// condition holds sets the finding's severity, and its reason says why
	// (a caBundle rotation is not a new webhook). A grade never drops a
	// finding: "never suppress, downgrade with the reason shown".
	Grades []Grade `json:"grades,omitempty"`
	// ReportOn makes a late finding: the rule fires on a request, and the
	// finding is about an earlier one, with this request as its evidence:
	// "binding", the write of the binding that allowed this request
	// (allowed_by); "object", the creation of this request's object. On
	// clusters that log bindings and secrets without their bodies, what a
	// binding granted shows only when it is used, and that a Secret held a
	// service-account token only when the token controller fills it.
	ReportOn string `json:"report_on,omitempty"`
	// Baselined rules watch how identities access the cluster (listing
	// secrets, minting tokens, exec): their findings are downgraded to info,
	// saying why, when the baseline shows the request is routine for its
	// actor. Rules that judge what a request grants or creates (a binding
	// to cluster-admin, a privileged pod) are not: doing that often does
	// not make it harmless.
	Baselined bool `json:"baselined,omitempty"`
	// Exceptions exempt events from the rule; they are data, not condition.
	Exceptions []Exception `json:"exceptions,omitempty"`
	// Disabled rules are loaded (so they can be listed) but never evaluated.
	Disabled bool `json:"disabled,omitempty"`

	// Source is the file the rule was loaded from.
	Source string `json:"-"`
}

// Grade is one severity a rule's finding may take, and when.
type Grade struct {
	// When is an expr condition over the same environment as the rule's.
	When string `json:"when"`
	// Severity is the finding's severity when When holds.
	Severity string `json:"severity"`
	// Reason is an expr expression giving why (a string), shown with the
	// finding: "caBundle rotation only".
	Reason string `json:"reason"`
}

// SharedGrade is a grade of several rules.
type SharedGrade struct {
	Rules   []string `json:"rules"`
	Comment string   `json:"comment,omitempty"`
	Grade
}

// Match is a rule's pre-filter: every non-empty list must contain the event's
// value. Resources are "resource" or "resource/subresource"; "*" matches any.
// Users ending in "*" match by prefix ("system:serviceaccount:*"). The engine
// indexes rules by resource, verb and API group, so a rule with a narrow
// match costs nothing on the events it cannot match.
type Match struct {
	Verbs     []string `json:"verbs,omitempty"`
	Resources []string `json:"resources,omitempty"`
	APIGroups []string `json:"api_groups,omitempty"`
	Users     []string `json:"users,omitempty"`
	// NotUsers leaves out users, by name or "prefix*" ("system:*": the
	// cluster's components and service accounts).
	NotUsers []string `json:"not_users,omitempty"`
	// Groups admits events whose actor is in any of these groups (the
	// impersonated groups under impersonation, as for exceptions).
	Groups []string `json:"groups,omitempty"`
	// Namespaces and Names admit only these objects (objectRef).
	Namespaces []string `json:"namespaces,omitempty"`
	Names      []string `json:"names,omitempty"`
	// Impersonated admits only requests made under impersonation.
	Impersonated bool `json:"impersonated,omitempty"`
	// ExternalSource admits only requests with an address outside private,
	// loopback and link-local space anywhere in their source chain.
	ExternalSource bool `json:"external_source,omitempty"`
}

// Exception exempts the events it matches from a rule. Within one exception
// every non-empty field must match; a rule's exceptions are alternatives.
type Exception struct {
	// Rule names the rule an exception in a user's file adds to.
	Rule       string   `json:"rule,omitempty"`
	Comment    string   `json:"comment,omitempty"`
	Users      []string `json:"users,omitempty"`
	Groups     []string `json:"groups,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
	Names      []string `json:"names,omitempty"`
	// UserAgents match by prefix ("kube-controller-manager/").
	UserAgents []string `json:"user_agents,omitempty"`
	// SourceNetworks are CIDRs ("10.0.0.0/8") or single addresses.
	SourceNetworks []string `json:"source_networks,omitempty"`

	networks []netip.Prefix
}

// Networks returns SourceNetworks parsed; Merge fills it while checking
// the rule, so it is empty on an Exception that did not go through Merge.
func (x *Exception) Networks() []netip.Prefix { return x.networks }

// RuleFile is the shape of one YAML file of rules.
type RuleFile struct {
	Rules []Rule `json:"rules,omitempty"`
	// Exceptions add to the exceptions of rules named by their Rule field.
	Exceptions []Exception `json:"exceptions,omitempty"`
	// Grades add a grade to each of the rules they name, after the rules'
	// own: one judgement shared by many rules (the cluster's installer
	// maintaining its own add-ons).
	Grades []SharedGrade `json:"grades,omitempty"`
	// Disable names rules to switch off.
	Disable []string `json:"disable,omitempty"`
}

// RuleSet is the rules to run: the built-in library with a user's additions,
// overrides, exceptions and disabled rules applied.
type RuleSet struct {
	Rules []*Rule
}
