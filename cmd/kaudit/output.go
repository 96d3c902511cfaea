package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/pipeline"
)

// outputFormat reads --format (the format key) and checks it is one of
// allowed; the first is the default.
func (a *app) outputFormat(allowed ...string) (string, error) {
	f := a.v.GetString(keyFormat)
	if f == "" {
		return allowed[0], nil
	}
	if !slices.Contains(allowed, f) {
		return "", usageError("--format %q: want %s", f, strings.Join(allowed, " or "))
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

// writeText writes the report for a person: incidents with their story,
// then findings, then the summary.
func writeText(w io.Writer, findings []detect.Finding, incidents []incident.Incident, stats pipeline.Stats) error {
	bw := bufio.NewWriter(w)
	writeIncidentList(bw, incidents)
	fmt.Fprintf(bw, "\nFINDINGS (%d)\n", len(findings))
	for i := range findings {
		writeFindingText(bw, &findings[i])
	}
	fmt.Fprintf(bw, "\nSUMMARY\n  %d events from %d inputs, %d bad lines, %d findings, %d incidents\n",
		stats.Events, stats.Inputs, stats.BadLines, stats.Findings, stats.Incidents)
	for _, id := range stats.RuleIDs() {
		fmt.Fprintf(bw, "  %-32s %d\n", term(id), stats.ByRule[id])
	}
	return bw.Flush()
}

// writeIncidentList writes the incidents, or says there are none.
func writeIncidentList(w io.Writer, incs []incident.Incident) {
	fmt.Fprintf(w, "INCIDENTS (%d)\n", len(incs))
	if len(incs) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for i := range incs {
		writeIncidentText(w, &incs[i])
	}
}

// Every field printed for a person goes through term: the incident, the
// finding and the timeline are made of what clients sent.
func writeIncidentText(w io.Writer, inc *incident.Incident) {
	fmt.Fprintf(w, "\n[%s] %s  %s .. %s  %d findings\n", term(strings.ToUpper(inc.Severity)), term(inc.ID), term(inc.Start), term(inc.End), inc.FindingCount)
	fmt.Fprintf(w, "  %s\n", term(inc.Summary))
	fmt.Fprintf(w, "  actors:     %s\n", strings.Join(terms(inc.Actors), ", "))
	fmt.Fprintf(w, "  sources:    %s\n", strings.Join(terms(inc.SourceIPs), ", "))
	fmt.Fprintf(w, "  clients:    %s\n", strings.Join(terms(inc.UserAgents), ", "))
	fmt.Fprintf(w, "  tactics:    %s\n", strings.Join(terms(inc.Tactics), " > "))
	for _, t := range inc.Techniques {
		fmt.Fprintf(w, "  technique:  %s %s (%s), first at %s\n", term(t.ID), term(t.Name), term(t.Tactic), term(t.FirstSeen))
	}
	for _, l := range inc.Links {
		fmt.Fprintf(w, "  link:       %s %s -> %s via %s at %s\n", term(l.Kind), term(l.From), term(l.To), term(l.Object), term(l.Time))
	}
	if len(inc.Touched) > 0 {
		fmt.Fprintf(w, "  touched:\n")
		for _, t := range inc.Touched {
			obj := t.Name
			if t.Namespace != "" {
				obj = t.Namespace + "/" + t.Name
			}
			if obj == "" {
				obj = "(all)"
			}
			fmt.Fprintf(w, "    %-28s %-40s %-24s x%d\n", term(t.Resource), term(obj), strings.Join(terms(t.Verbs), ","), t.Count)
		}
	}
}

func writeFindingText(w io.Writer, f *detect.Finding) {
	fmt.Fprintf(w, "  %s %-8s %-30s %s  [%s %s]  %s\n", term(f.Time), term(strings.ToUpper(f.Severity)), term(f.Rule), term(f.Message),
		term(f.TechniqueID), term(f.Technique), term(f.Location))
}
