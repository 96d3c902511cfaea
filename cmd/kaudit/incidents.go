package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/store"
)

func init() { extraCommands = append(extraCommands, newIncidentsCmd) }

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
			if err := a.configure(cmd, storeFlagKeys); err != nil {
				return err
			}
			if err := checkStoreFlag(cmd); err != nil {
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
	format, _ := f.GetString("format")
	if format != "text" && format != "json" {
		return usageError("--format %q: want text or json", format)
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
			return &exitError{code: exitInput, err: fmt.Errorf("no incident %s", id)}
		}
		if err != nil {
			return &exitError{code: exitInput, err: err}
		}
		if format == "json" {
			err = writeOneJSON(a.stdout, d)
		} else {
			err = writeIncidentDetailText(a.stdout, d)
		}
		if err != nil {
			return &exitError{code: exitInput, err: fmt.Errorf("write output: %w", err)}
		}
		return nil
	}
	var q store.IncidentQuery
	q.Actor, _ = f.GetString("actor")
	q.MinSeverity, _ = f.GetString("min-severity")
	q.Limit, _ = f.GetInt("limit")
	incs, err := st.Incidents(ctx, q)
	if err != nil {
		return &exitError{code: exitInput, err: err}
	}
	bw := bufio.NewWriter(a.stdout)
	if format == "json" {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		for i := range incs {
			if err := enc.Encode(&incs[i]); err != nil {
				return &exitError{code: exitInput, err: fmt.Errorf("write output: %w", err)}
			}
		}
	} else {
		fmt.Fprintf(bw, "INCIDENTS (%d)\n", len(incs))
		if len(incs) == 0 {
			fmt.Fprintln(bw, "  none")
		}
		for i := range incs {
			writeIncidentText(bw, &incs[i])
		}
	}
	if err := bw.Flush(); err != nil {
		return &exitError{code: exitInput, err: fmt.Errorf("write output: %w", err)}
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

func writeOneJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
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
