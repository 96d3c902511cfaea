package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/investigate"
	"github.com/kaudit/kaudit/store"
)

func newIncidentsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incidents [--store DSN | PATH...] [ID] [flags]",
		Short: "List incidents one a line, or describe or export one with its findings and its actors' timeline",
		Long: `Incidents lists the incidents in the ClickHouse store (--store DSN, KAUDIT_STORE_DSN or
store.dsn), most severe first, one a line (like kubectl get), or those formed by log files
given as PATH (read through the same pipeline as replay). With an incident id (inc-...) it
describes that incident (like kubectl describe): its story, tactics in order, the identities
and why they are joined, its findings, what its updates and patches changed, and every
request of its actors over its span.

-o md and -o html export one incident as a self-contained report to attach to a ticket;
-o json writes it as one JSON document; -o csv writes its timeline (every request of its
actors over its span, with the findings each drew) for a spreadsheet.

With PATH, an argument that names no file and looks like an incident id is taken as the id.`,
		Example: `  kaudit incidents audit.log
  kaudit incidents audit.log inc-207aa9ca9160
  kaudit incidents audit.log inc-207aa9ca9160 -o md > inc-207aa9ca9160.md`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.configure(cmd); err != nil {
				return err
			}
			return a.incidents(cmd, args)
		},
	}
	f := cmd.Flags()
	f.String("store", "", "store DSN (clickhouse://host:9000/db); the password belongs in KAUDIT_STORE_DSN or the config file")
	f.String("actor", "", "only incidents with this actor")
	f.String("min-severity", "", "only incidents at or above this severity (info, low, medium, high, critical)")
	f.Int("limit", 0, "at most this many incidents (0: all)")
	f.StringP("format", "o", "text", "output format: text, wide or json (JSON lines); for one incident also md or html (a report) or csv (its timeline)")
	addPipelineFlags(cmd)
	return cmd
}

func (a *app) incidents(cmd *cobra.Command, args []string) error {
	f := cmd.Flags()
	paths, id := splitIncidentArgs(args)
	formats := []string{"text", "wide", "json"}
	if id != "" {
		formats = append(formats, investigate.ReportMarkdown, investigate.ReportHTML, investigate.ReportCSV)
	} else if fm := a.v.GetString(keyFormat); fm == investigate.ReportMarkdown || fm == investigate.ReportHTML || fm == investigate.ReportCSV {
		return usageError("--format %s exports one incident: give its id (kaudit incidents [PATH...] ID -o %s)", fm, fm)
	}
	format, err := a.outputFormat(formats...)
	if err != nil {
		return err
	}
	var q store.IncidentQuery
	q.Actor, _ = f.GetString("actor")
	q.Limit, _ = f.GetInt("limit")
	if q.Limit < 0 {
		return usageError("--limit must not be negative")
	}
	if s, _ := f.GetString("min-severity"); s != "" || f.Changed("min-severity") {
		if q.MinSeverity, err = parseSeverity("min-severity", s); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	st, files, err := a.queryStore(ctx, paths)
	if err != nil {
		return err
	}
	defer st.Close()
	loc := newLocator(paths, files)
	if id != "" {
		return a.describeIncident(cmd, st, id, format, paths, loc)
	}
	incs, err := st.Incidents(ctx, q)
	if err != nil {
		return inputError(err)
	}
	if len(incs) == 0 {
		if err := a.noIncidents(cmd, st, q, paths); err != nil {
			return err
		}
	}
	if format == "json" {
		return writeOut(writeJSONLines(a.stdout, incs))
	}
	if len(incs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	a.newTextView(format, loc).incidentTable(&buf, incs)
	return writeOut(a.show(buf.Bytes()))
}

// describeIncident describes or exports one incident.
func (a *app) describeIncident(cmd *cobra.Command, st store.Store, id, format string, paths []string, loc *locator) error {
	ctx := cmd.Context()
	rep, err := investigate.BuildReport(ctx, st, id)
	if errors.Is(err, store.ErrNotFound) {
		return inputError(fmt.Errorf("no incident %s in %s%s", id, dataName(paths), knownIncidents(cmd, st)))
	}
	if err != nil {
		return inputError(err)
	}
	rep.Locate = loc.rel
	switch format {
	case "text", "wide":
		var buf bytes.Buffer
		a.newTextView(format, loc).describe(&buf, rep)
		return writeOut(a.show(buf.Bytes()))
	}
	return writeOut(investigate.WriteReport(a.stdout, rep, format))
}

// knownIncidents lists the ids there are, for a "no incident" error.
func knownIncidents(cmd *cobra.Command, st store.Store) string {
	incs, err := st.Incidents(cmd.Context(), store.IncidentQuery{Limit: 6})
	if err != nil || len(incs) == 0 {
		return ", which holds no incidents"
	}
	ids := make([]string, 0, len(incs))
	for _, inc := range incs[:min(5, len(incs))] {
		ids = append(ids, fieldText(inc.ID))
	}
	more := ""
	if len(incs) > 5 {
		more = ", …"
	}
	return "; it holds " + strings.Join(ids, ", ") + more
}

// noIncidents explains an empty list: an actor filter that names part of
// an incident's actor is an error with a suggestion; anything else is said
// on stderr, like kubectl's "No resources found".
func (a *app) noIncidents(cmd *cobra.Command, st store.Store, q store.IncidentQuery, paths []string) error {
	if q.Actor != "" {
		all, err := st.Incidents(cmd.Context(), store.IncidentQuery{})
		if err != nil {
			return inputError(err)
		}
		var near []string
		for _, inc := range all {
			for _, act := range inc.Actors {
				if act != q.Actor && strings.Contains(strings.ToLower(act), strings.ToLower(q.Actor)) && !slices.Contains(near, act) {
					near = append(near, fieldText(act))
				}
			}
		}
		if len(near) > 0 {
			return usageError("no incidents of actor %s; did you mean %s", fieldText(q.Actor), strings.Join(near, " or "))
		}
	}
	what := "no incidents"
	if q.Actor != "" || q.MinSeverity != "" {
		what = "no incidents match the filters"
	}
	fmt.Fprintf(a.stderr, "kaudit: %s in %s\n", what, dataName(paths))
	return nil
}

// writeOut turns a failed write of the output into the error of a run.
func writeOut(err error) error {
	if err != nil {
		return inputError(fmt.Errorf("write output: %w", err))
	}
	return nil
}

// splitIncidentArgs separates the incident id from the paths: the id is the
// one argument that starts with "inc-" and names no file.
func splitIncidentArgs(args []string) (paths []string, id string) {
	for _, arg := range args {
		if id == "" && isIncidentID(arg) {
			id = arg
			continue
		}
		paths = append(paths, arg)
	}
	return paths, id
}

func isIncidentID(s string) bool {
	if len(s) < 5 || s[:4] != "inc-" {
		return false
	}
	_, err := os.Stat(s)
	return err != nil
}

// incidentList writes incidents for replay's text report: one a line, then
// each one's story.
func (v textView) incidentList(w *bytes.Buffer, incs []incident.Incident) {
	fmt.Fprintf(w, "INCIDENTS (%d)\n", len(incs))
	if len(incs) == 0 {
		fmt.Fprintln(w, "none: no rule fired on these events")
		return
	}
	v.incidentTable(w, incs)
	fmt.Fprintln(w)
	v.stories(w, incs)
}
