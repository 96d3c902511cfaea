package detect

import (
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Severities, in increasing order. A finding's severity is one of these.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
	// SeverityNone, as a rule's denied_severity, means "no finding when the
	// cluster denied the request".
	SeverityNone = "none"
)

var severityRank = map[string]int{SeverityInfo: 1, SeverityLow: 2, SeverityMedium: 3, SeverityHigh: 4, SeverityCritical: 5}

// SeverityRank orders severities: 0 for unknown, 1 for info … 5 for critical.
func SeverityRank(s string) int { return severityRank[s] }

// Audit levels a rule may need to see what it looks for.
const (
	LevelMetadata        = "Metadata"
	LevelRequest         = "Request"
	LevelRequestResponse = "RequestResponse"
)

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
	// Exceptions exempt events from the rule; they are data, not condition.
	Exceptions []Exception `json:"exceptions,omitempty"`
	// Disabled rules are loaded (so they can be listed) but never evaluated.
	Disabled bool `json:"disabled,omitempty"`

	// Source is the file the rule was loaded from.
	Source string `json:"-"`
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

// RuleFile is the shape of one YAML file of rules.
type RuleFile struct {
	Rules []Rule `json:"rules,omitempty"`
	// Exceptions add to the exceptions of rules named by their Rule field.
	Exceptions []Exception `json:"exceptions,omitempty"`
	// Disable names rules to switch off.
	Disable []string `json:"disable,omitempty"`
}

// RuleSet is the rules to run: the built-in library with a user's additions,
// overrides, exceptions and disabled rules applied.
type RuleSet struct {
	Rules []*Rule
}

// LoadFS reads every *.yaml and *.yml file of fsys (not those ending in
// _test.yaml, which hold rule tests, nor matrix.yaml, the technique table)
// as rule files, in name order.
func LoadFS(fsys fs.FS) ([]RuleFile, error) {
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || IsTestFile(p) || p == MatrixFile {
			return nil
		}
		if ext := path.Ext(p); ext == ".yaml" || ext == ".yml" {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	sort.Strings(names)
	var files []RuleFile
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read rules %s: %w", n, err)
		}
		var rf RuleFile
		if err := yaml.UnmarshalStrict(data, &rf); err != nil {
			return nil, fmt.Errorf("rules %s: %w", n, err)
		}
		for i := range rf.Rules {
			rf.Rules[i].Source = n
		}
		files = append(files, rf)
	}
	return files, nil
}

// MatrixFile is the name, at the root of a rules directory, of the
// technique table (see rules/matrix.yaml); it holds no rules.
const MatrixFile = "matrix.yaml"

// LevelRank orders audit levels: 0 for None or unknown, 1 Metadata, 2
// Request, 3 RequestResponse.
func LevelRank(level string) int {
	switch level {
	case LevelMetadata:
		return 1
	case LevelRequest:
		return 2
	case LevelRequestResponse:
		return 3
	}
	return 0
}

// IsTestFile reports whether a file in a rules directory holds rule tests.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}

// Merge builds a RuleSet from the built-in files and then the user's: a
// user's rule with a built-in id replaces it, exceptions add to the named
// rule, and disable switches rules off.
func Merge(builtin, user []RuleFile) (*RuleSet, error) {
	set := &RuleSet{}
	byID := map[string]int{}
	add := func(r Rule, override bool) error {
		if r.ID == "" {
			return fmt.Errorf("rules %s: a rule without an id", r.Source)
		}
		if i, ok := byID[r.ID]; ok {
			if !override {
				return fmt.Errorf("rules %s: rule %s is defined twice (also in %s)", r.Source, r.ID, set.Rules[i].Source)
			}
			rr := r
			set.Rules[i] = &rr
			return nil
		}
		rr := r
		byID[r.ID] = len(set.Rules)
		set.Rules = append(set.Rules, &rr)
		return nil
	}
	for _, f := range builtin {
		for _, r := range f.Rules {
			if err := add(r, false); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range user {
		for _, r := range f.Rules {
			if err := add(r, true); err != nil {
				return nil, err
			}
		}
	}
	for _, files := range [][]RuleFile{builtin, user} {
		for _, f := range files {
			for _, ex := range f.Exceptions {
				i, ok := byID[ex.Rule]
				if !ok {
					return nil, fmt.Errorf("exception for unknown rule %q", ex.Rule)
				}
				set.Rules[i].Exceptions = append(set.Rules[i].Exceptions, ex)
			}
			for _, id := range f.Disable {
				i, ok := byID[id]
				if !ok {
					return nil, fmt.Errorf("disable: unknown rule %q", id)
				}
				set.Rules[i].Disabled = true
			}
		}
	}
	for _, r := range set.Rules {
		if err := r.validate(); err != nil {
			return nil, err
		}
	}
	return set, nil
}

func (r *Rule) validate() error {
	where := fmt.Sprintf("rules %s: rule %s", r.Source, r.ID)
	if r.Title == "" || r.TechniqueID == "" || r.Tactic == "" {
		return fmt.Errorf("%s: title, technique_id and tactic are required", where)
	}
	if SeverityRank(r.Severity) == 0 {
		return fmt.Errorf("%s: severity %q is not one of info, low, medium, high, critical", where, r.Severity)
	}
	if r.DeniedSeverity == "" {
		r.DeniedSeverity = SeverityLow
		if SeverityRank(r.Severity) < SeverityRank(SeverityLow) {
			r.DeniedSeverity = r.Severity
		}
	}
	if r.DeniedSeverity != SeverityNone && SeverityRank(r.DeniedSeverity) == 0 {
		return fmt.Errorf("%s: denied_severity %q is not a severity or none", where, r.DeniedSeverity)
	}
	switch r.Level {
	case "":
		r.Level = LevelMetadata
	case LevelMetadata, LevelRequest, LevelRequestResponse:
	default:
		return fmt.Errorf("%s: level %q is not Metadata, Request or RequestResponse", where, r.Level)
	}
	if r.FallbackSeverity == "" {
		r.FallbackSeverity = r.Severity
	}
	if SeverityRank(r.FallbackSeverity) == 0 {
		return fmt.Errorf("%s: fallback_severity %q is not a severity", where, r.FallbackSeverity)
	}
	if strings.TrimSpace(r.Fallback) != "" && r.Level == LevelMetadata {
		return fmt.Errorf("%s: a fallback needs a level above Metadata to fall back from", where)
	}
	if strings.TrimSpace(r.Condition) == "" {
		return fmt.Errorf("%s: condition is empty", where)
	}
	for i := range r.Exceptions {
		ex := &r.Exceptions[i]
		ex.networks = ex.networks[:0]
		for _, n := range ex.SourceNetworks {
			p, err := parsePrefix(n)
			if err != nil {
				return fmt.Errorf("%s: exception source_networks: %w", where, err)
			}
			ex.networks = append(ex.networks, p)
		}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
