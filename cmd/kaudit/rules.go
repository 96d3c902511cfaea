package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/rules/ruletest"
)

func newRulesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules list|test|coverage",
		Short: "List, test and show the coverage of the detection rules",
		// A word that is no subcommand is an error, not the help with
		// exit 0: a script's typo must not pass.
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("rules needs a subcommand: list, test or coverage")
			}
			msg := fmt.Sprintf("unknown subcommand %q of kaudit rules: want list, test or coverage", args[0])
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageError("%s", msg)
		},
		RunE:                       func(*cobra.Command, []string) error { return nil },
		SuggestionsMinimumDistance: 2,
	}
	sub := func(use, short string, run func(*app) error) *cobra.Command {
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				if err := a.configure(c); err != nil {
					return err
				}
				return run(a)
			},
		}
		c.Flags().String("rules", "", "directory of rule files (and their *_test.yaml) adding to, overriding or disabling built-in rules")
		return c
	}
	list := sub("list", "List the rules: id, severity, level, tactic, technique, source", (*app).rulesList)
	list.Flags().StringP("format", "o", "text", "output format: text (120 columns), wide (nothing cut) or json (JSON lines)")
	test := sub("test", "Run the rule tests of the built-in rules and of --rules DIR (like promtool test rules)", (*app).rulesTest)
	cov := sub("coverage", "Show the Threat Matrix technique by technique: the rules that cover it and at which audit level, or why the audit log cannot see it", (*app).rulesCoverage)
	cov.Flags().StringP("format", "o", "text", "output format: text, wide (the same) or json (JSON lines)")
	cmd.AddCommand(list, test, cov)
	return cmd
}

func (a *app) loadRules() (*rulefile.RuleSet, error) {
	set, err := rules.Load(a.v.GetString(keyRulesDir))
	if err != nil {
		return nil, usageError("%v", err)
	}
	return set, nil
}

func (a *app) rulesList() error {
	format, err := a.outputFormat("text", "wide", "json")
	if err != nil {
		return err
	}
	set, err := a.loadRules()
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSONLines(a.stdout, set.Rules)
	}
	v := a.newTextView(format, nil)
	t := newTable(column{name: "ID"}, column{name: "SEVERITY"}, column{name: "DENIED"}, column{name: "LEVEL"},
		column{name: "TACTIC", min: 10}, column{name: "TECHNIQUE ID"}, column{name: "TECHNIQUE", min: 12}, column{name: "SOURCE", min: 14, mid: true})
	for _, r := range set.Rules {
		id := r.ID
		if r.Disabled {
			id += " (disabled)"
		}
		t.styled(cell{text: id}, severityCell(r.Severity), cell{text: r.DeniedSeverity}, cell{text: r.Level}, cell{text: r.Tactic},
			cell{text: r.TechniqueID}, cell{text: r.Technique}, cell{text: r.Source})
	}
	var buf bytes.Buffer
	t.write(&buf, v.width(), v.pal, "")
	return writeOut(a.show(buf.Bytes()))
}

// rulesTest runs the built-in tests against the built-in library (they
// vouch for what ships) and the user's tests against the merged set (what
// will actually run with --rules DIR).
func (a *app) rulesTest() error {
	builtin, err := rules.Load("")
	if err != nil {
		return usageError("%v", err)
	}
	results, err := ruletest.NewRunner(builtin).RunFS(rules.FS)
	if err != nil {
		return inputError(err)
	}
	total, failed := report(a.stdout, "built-in", results)
	if dir := a.v.GetString(keyRulesDir); dir != "" {
		set, err := a.loadRules()
		if err != nil {
			return err
		}
		ur, err := ruletest.NewRunner(set).RunFS(os.DirFS(dir))
		if err != nil {
			return inputError(err)
		}
		if len(ur) == 0 {
			fmt.Fprintf(a.stderr, "kaudit: warning: %s holds no rule tests (*_test.yaml)\n", dir)
		}
		t, f := report(a.stdout, dir, ur)
		total, failed = total+t, failed+f
		fire, silent := ruletest.Untested(userOnly(set, dir), ur)
		for _, id := range fire {
			fmt.Fprintf(a.stderr, "kaudit: warning: rule %s has no test that expects it to fire\n", id)
		}
		for _, id := range silent {
			fmt.Fprintf(a.stderr, "kaudit: warning: rule %s has no test in which it must stay silent\n", id)
		}
	}
	fmt.Fprintf(a.stdout, "%d tests, %d failed\n", total, failed)
	if failed > 0 {
		return inputError(errors.New("rule tests failed"))
	}
	return nil
}

// userOnly keeps the rules of set that came from dir (the ones a user's
// tests are expected to cover).
func userOnly(set *rulefile.RuleSet, dir string) *rulefile.RuleSet {
	out := &rulefile.RuleSet{}
	for _, r := range set.Rules {
		if strings.HasPrefix(r.Source, dir) {
			out.Rules = append(out.Rules, r)
		}
	}
	return out
}

func report(w io.Writer, origin string, results []ruletest.Result) (total, failed int) {
	for _, r := range results {
		total++
		if r.OK() {
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s: %s: %s\n", origin, r.File, r.Name)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "    %s\n", f)
		}
	}
	fmt.Fprintf(w, "%s: %d tests, %d passed\n", origin, total, total-failed)
	return total, failed
}

func (a *app) rulesCoverage() error {
	format, err := a.outputFormat("text", "wide", "json")
	if err != nil {
		return err
	}
	set, err := a.loadRules()
	if err != nil {
		return err
	}
	matrix, err := rules.Matrix()
	if err != nil {
		return inputError(err)
	}
	cov, extra := rules.Coverage(set, matrix)
	if format == "json" {
		for i := range cov {
			if cov[i].Rules == nil {
				cov[i].Rules = []rules.CoveringRule{}
			}
		}
		return writeJSONLines(a.stdout, cov)
	}
	covered, visible := 0, 0
	for _, c := range cov {
		writeCovered(a.stdout, &c)
		if c.Visible() {
			visible++
			if len(c.Rules) > 0 {
				covered++
			}
		}
	}
	for _, r := range extra {
		fmt.Fprintf(a.stdout, "rule %s reports a technique outside the matrix table\n", r.ID)
	}
	fmt.Fprintf(a.stdout, "%d of %d visible techniques covered; %d techniques in the table\n", covered, visible, len(cov))
	return a.writeEscalation(set)
}

// writeEscalation writes the escalation paths' table: each path with the
// enabled rules that cover it, at their severity.
func (a *app) writeEscalation(set *rulefile.RuleSet) error {
	paths, err := rules.Escalation()
	if err != nil {
		return inputError(err)
	}
	byID := map[string]*rulefile.Rule{}
	for _, r := range set.Rules {
		if !r.Disabled {
			byID[r.ID] = r
		}
	}
	fmt.Fprintf(a.stdout, "\nESCALATION PATHS (Kubernetes RBAC good practices)\n")
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tRULE\tSEVERITY\tDENIED\tLEVEL")
	for _, p := range paths {
		first := true
		for _, id := range p.Rules {
			path := ""
			if first {
				path = p.Path
			}
			r, ok := byID[id]
			if !ok {
				fmt.Fprintf(tw, "%s\t%s\t(disabled)\t\t\n", path, id)
				first = false
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", path, r.ID, r.Severity, r.DeniedSeverity, r.Level)
			first = false
		}
	}
	return tw.Flush()
}

// writeCovered writes one technique of the coverage table: whether the
// audit log sees it, and the rules that cover it or why none can.
func writeCovered(w io.Writer, c *rules.Covered) {
	fmt.Fprintf(w, "%s %s [%s] seen: %s", c.ID, c.Name, strings.Join(c.Tactics, ", "), c.Seen)
	if c.Level != "" && c.Seen != "no" {
		fmt.Fprintf(w, " (evidence needs %s)", c.Level)
	}
	fmt.Fprintln(w)
	switch {
	case c.Seen == "no" && len(c.Rules) == 0:
		fmt.Fprintf(w, "    not visible: %s\n", c.Why)
	case len(c.Rules) == 0:
		fmt.Fprintf(w, "    NO RULE covers it\n")
	}
	if c.Seen == "no" && len(c.Rules) > 0 {
		fmt.Fprintf(w, "    mostly not visible: %s\n", c.Why)
	}
	for _, r := range c.Rules {
		fb := ""
		if r.Fallback && r.Level != rulefile.LevelMetadata {
			fb = ", metadata fallback below it"
		}
		fmt.Fprintf(w, "    %-40s %-8s needs %s%s (%s)\n", r.ID, r.Severity, r.Level, fb, r.Tactic)
	}
	if c.Limits != "" {
		fmt.Fprintf(w, "    unseen: %s\n", c.Limits)
	}
}
