package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/store"
)

// outputFormat reads --format (-o, the format key) and checks it is one
// of allowed; the first is the default.
func (a *app) outputFormat(allowed ...string) (string, error) {
	f := a.v.GetString(keyFormat)
	if f == "" {
		return allowed[0], nil
	}
	if !slices.Contains(allowed, f) {
		return "", usageError("--format (-o) %q: want %s", f, strings.Join(allowed, ", "))
	}
	return f, nil
}

// jsonLines writes one JSON document a line, HTML left unescaped (the
// output is read by scripts and jq, not by browsers).
type jsonLines struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

func newJSONLines(w io.Writer) *jsonLines {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &jsonLines{bw: bw, enc: enc}
}

func (j *jsonLines) write(v any) error { return j.enc.Encode(v) }

func (j *jsonLines) flush() error { return j.bw.Flush() }

// writeJSONLines writes every item, then flushes.
func writeJSONLines[T any](w io.Writer, items []T) error {
	j := newJSONLines(w)
	for i := range items {
		if err := j.write(&items[i]); err != nil {
			return err
		}
	}
	return j.flush()
}

// writeJSON writes replay's JSON lines: every finding, every incident, then
// the summary. The same input always gives the same bytes.
func writeJSON(w io.Writer, findings []detect.Finding, incidents []incident.Incident, stats pipeline.Stats) error {
	j := newJSONLines(w)
	for i := range findings {
		if err := j.write(&findings[i]); err != nil {
			return err
		}
	}
	for i := range incidents {
		if err := j.write(&incidents[i]); err != nil {
			return err
		}
	}
	if err := j.write(stats); err != nil {
		return err
	}
	return j.flush()
}

// writeText writes replay's report for a person: the incidents one a line
// and their stories, the findings one a line, then the summary.
func (v textView) writeText(w *bytes.Buffer, findings []detect.Finding, incidents []incident.Incident, stats pipeline.Stats) {
	incidents = slices.Clone(incidents)
	store.SortIncidents(incidents) // most severe first, as kaudit incidents lists them
	v.incidentList(w, incidents)
	in := ""
	if src := v.loc.source(); src != "" {
		in = " in " + src
	}
	shown := findings
	if !v.all {
		shown = slices.DeleteFunc(slices.Clone(findings), func(f detect.Finding) bool { return f.Severity == rulefile.SeverityInfo })
	}
	if hidden := len(findings) - len(shown); hidden > 0 {
		// On a line of its own: the source's path may be long, and text
		// output keeps to 120 columns.
		fmt.Fprintf(w, "\nFINDINGS (%d)%s\n%d more at info (routine, or graded down by what changed): --all lists them\n", len(shown), in, hidden)
	} else {
		fmt.Fprintf(w, "\nFINDINGS (%d)%s\n", len(shown), in)
	}
	if len(shown) > 0 {
		v.findingTable(w, shown, "")
	}
	fmt.Fprintf(w, "\nSUMMARY\n  %d events from %s, %s, %d findings, %d incidents\n",
		stats.Events, plural(stats.Inputs, "input", "inputs"), plural(stats.BadLines, "bad line", "bad lines"), stats.Findings, stats.Incidents)
	if len(stats.ByRule) > 0 {
		t := newTable(column{name: "RULE"}, column{name: "FINDINGS", right: true})
		for _, id := range stats.RuleIDs() {
			t.row(fieldText(id), fmt.Sprint(stats.ByRule[id]))
		}
		t.write(w, v.width(), v.pal, "  ")
	}
	if len(incidents) > 0 {
		fmt.Fprintf(w, "\n  kaudit incidents PATH... %s describes an incident; add -o md or -o html for a report.\n", fieldText(incidents[0].ID))
	}
}

// parseSeverity reads a severity flag; a wrong one is a usage error that
// names the flag and, for a prefix ("crit"), the severity it begins.
func parseSeverity(flag, s string) (string, error) {
	sev, err := rulefile.ParseSeverity(s)
	if err == nil {
		return sev, nil
	}
	msg := fmt.Sprintf("--%s: %v", flag, err)
	low := strings.ToLower(strings.TrimSpace(s))
	for _, name := range rulefile.Severities {
		if low != "" && strings.HasPrefix(name, low) {
			msg += "; did you mean " + name + "?"
			break
		}
	}
	return "", usageError("%s", msg)
}
