package rulefile

import (
	"fmt"
	"net/netip"
	"strings"
)

// Merge builds a RuleSet from the built-in files and then the user's: a
// user's rule with a built-in id replaces it, exceptions add to the named
// rule, and disable switches rules off.
//
// Long because it applies the user's files in the one order that gives them
// meaning (replace, then exceptions, then grades, then disable), each step a
// few lines.
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
			for _, g := range f.Grades {
				for _, id := range g.Rules {
					i, ok := byID[id]
					if !ok {
						return nil, fmt.Errorf("grade for unknown rule %q", id)
					}
					set.Rules[i].Grades = append(set.Rules[i].Grades, g.Grade)
				}
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
	if r.ReportOn != "" && r.ReportOn != "binding" && r.ReportOn != "object" {
		return fmt.Errorf("%s: report_on %q: want binding or object", where, r.ReportOn)
	}
	for i, g := range r.Grades {
		if SeverityRank(g.Severity) == 0 {
			return fmt.Errorf("%s: grade %d: severity %q is not one of info, low, medium, high, critical", where, i+1, g.Severity)
		}
		if strings.TrimSpace(g.When) == "" || strings.TrimSpace(g.Reason) == "" {
			return fmt.Errorf("%s: grade %d: when and reason are required", where, i+1)
		}
	}
	for i := range r.Exceptions {
		ex := &r.Exceptions[i]
		ex.networks = ex.networks[:0]
		for _, n := range ex.SourceNetworks {
			p, err := ParseNetwork(n)
			if err != nil {
				return fmt.Errorf("%s: exception source_networks: %w", where, err)
			}
			ex.networks = append(ex.networks, p)
		}
	}
	return nil
}

// ParseNetwork reads a CIDR ("10.0.0.0/8") or a single address, which
// stands for itself alone.
func ParseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
