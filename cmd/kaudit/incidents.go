package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/store"
)

func newIncidentsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incidents [--store DSN | PATH...] [ID] [flags]",
		Short: "List incidents, or show one with its findings and its actors' full timeline",
		Long: `Incidents lists the incidents in the ClickHouse store (--store DSN, KAUDIT_STORE_DSN or
store.dsn), most severe first, or those formed by log files given as PATH (read through the same
pipeline as replay). With an incident id (inc-...) it shows that incident, its findings and every
request of its actors over its span.

With PATH, an argument that names no file and looks like an incident id is taken as the id.`,
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
	f.String("min-severity", "", "only incidents at or above this severity")
	f.Int("limit", 0, "at most this many incidents (0: all)")
	f.String("format", "text", "output format: text or json (JSON lines)")
	addPipelineFlags(cmd)
	return cmd
}

func (a *app) incidents(cmd *cobra.Command, args []string) error {
	f := cmd.Flags()
	format, err := a.outputFormat("text", "json")
	if err != nil {
		return err
	}
	var q store.IncidentQuery
	q.Actor, _ = f.GetString("actor")
	q.Limit, _ = f.GetInt("limit")
	if s, _ := f.GetString("min-severity"); s != "" {
		if q.MinSeverity, err = rulefile.ParseSeverity(s); err != nil {
			return usageError("--min-severity: %v", err)
		}
	}
	paths, id := splitIncidentArgs(args)
	ctx := cmd.Context()
	st, err := a.queryStore(ctx, paths)
	if err != nil {
		return err
	}
	defer st.Close()
	if id != "" {
		d, err := st.Incident(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return inputError(fmt.Errorf("no incident %s", id))
		}
		if err != nil {
			return inputError(err)
		}
		if format == "json" {
			err = writeJSONLines(a.stdout, []*store.IncidentDetail{d})
		} else {
			err = writeIncidentDetailText(a.stdout, d)
		}
		if err != nil {
			return inputError(fmt.Errorf("write output: %w", err))
		}
		return nil
	}
	incs, err := st.Incidents(ctx, q)
	if err != nil {
		return inputError(err)
	}
	if format == "json" {
		err = writeJSONLines(a.stdout, incs)
	} else {
		err = writeIncidentsText(a.stdout, incs)
	}
	if err != nil {
		return inputError(fmt.Errorf("write output: %w", err))
	}
	return nil
}

func writeIncidentsText(w io.Writer, incs []incident.Incident) error {
	bw := bufio.NewWriter(w)
	writeIncidentList(bw, incs)
	return bw.Flush()
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

func writeIncidentDetailText(w io.Writer, d *store.IncidentDetail) error {
	bw := bufio.NewWriter(w)
	writeIncidentText(bw, &d.Incident)
	fmt.Fprintf(bw, "\nFINDINGS (%d)\n", len(d.Findings))
	for i := range d.Findings {
		writeFindingText(bw, &d.Findings[i])
	}
	fmt.Fprintf(bw, "\nTIMELINE (%d requests of %d actors)\n", len(d.Timeline), len(d.Incident.Actors))
	for i := range d.Timeline {
		writeEntryText(bw, &d.Timeline[i])
	}
	return bw.Flush()
}
