package rules

import "github.com/kaudit/kaudit/detect/rulefile"

// Covered is one technique with the enabled rules that report it.
type Covered struct {
	Technique
	Rules []CoveringRule `json:"rules"`
}

// CoveringRule is what coverage shows of a rule: enough to judge at which
// audit level the technique is seen and how loudly.
type CoveringRule struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Tactic   string `json:"tactic"`
	Severity string `json:"severity"`
	Level    string `json:"level"`
	// Fallback is set when the rule still judges events recorded below its
	// level, from their metadata.
	Fallback bool `json:"fallback,omitempty"`
}

// Coverage joins the technique table with the enabled rules of set, in the
// table's order. Rules tagged with a technique the table does not hold (a
// user's own) are returned in extra.
func Coverage(set *rulefile.RuleSet, matrix []Technique) (out []Covered, extra []CoveringRule) {
	byTech := map[string][]CoveringRule{}
	known := map[string]bool{}
	for _, t := range matrix {
		known[t.ID] = true
	}
	for _, r := range set.Rules {
		if r.Disabled {
			continue
		}
		c := CoveringRule{ID: r.ID, Title: r.Title, Tactic: r.Tactic, Severity: r.Severity, Level: r.Level, Fallback: r.Fallback != ""}
		if !known[r.TechniqueID] {
			extra = append(extra, c)
			continue
		}
		byTech[r.TechniqueID] = append(byTech[r.TechniqueID], c)
	}
	for _, t := range matrix {
		out = append(out, Covered{Technique: t, Rules: byTech[t.ID]})
	}
	return out, extra
}
