package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
)

func init() { extraCommands = append(extraCommands, newTimelineCmd) }

// storeFlagKeys maps the query commands' flags to configuration keys.
var storeFlagKeys = map[string]string{
	"store":   keyStoreDSN,
	"rules":   "rules.dir",
	"gap":     "incident.gap",
	"workers": "workers",
}

func newTimelineCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "timeline [--store DSN | PATH...] [flags]",
		Short: "List requests in time order, one per request: who, from where, what on which object, with what result",
		Long: `Timeline lists audit events in time order, one entry per request (not per stage), from the
ClickHouse store (--store DSN, KAUDIT_STORE_DSN or store.dsn) or from log files given as PATH
(read through the same pipeline as replay into an in-memory store, with the same results).

--actor matches the user or the impersonated user. --since and --until take RFC 3339 times
(2026-01-02T15:04:05Z) or durations before now (2h, 30m).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.configure(cmd, storeFlagKeys); err != nil {
				return err
			}
			if err := checkStoreFlag(cmd); err != nil {
				return err
			}
			return a.timeline(cmd, args)
		},
	}
	f := cmd.Flags()
	f.String("store", "", "store DSN (clickhouse://host:9000/db); the password belongs in KAUDIT_STORE_DSN or the config file")
	f.String("actor", "", "user or impersonated user")
	f.String("source-ip", "", "source IP (any address of the request's source_ips)")
	f.String("namespace", "", "namespace of the object")
	f.String("resource", "", "resource (pods, secrets, ...)")
	f.String("name", "", "name of the object")
	f.String("verb", "", "verb (get, list, create, ...)")
	f.String("audit-id", "", "one request's audit id")
	f.String("since", "", "start: RFC 3339 time or duration before now (2h)")
	f.String("until", "", "end: RFC 3339 time or duration before now")
	f.Int("limit", 0, "at most this many entries (0: all)")
	f.Int("offset", 0, "skip this many entries (paging)")
	f.String("format", "text", "output format: text or json (JSON lines)")
	addPipelineFlags(cmd)
	return cmd
}

// addPipelineFlags adds the flags that shape how PATH inputs are read.
func addPipelineFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("rules", "", "with PATH: directory of rule files adding to, overriding or disabling built-in rules")
	f.Duration("gap", incident.DefaultGap, "with PATH: longest quiet time inside one incident")
	f.Int("workers", 0, "with PATH: decoding goroutines (default: one per core)")
}

func (a *app) timeline(cmd *cobra.Command, paths []string) error {
	q, format, err := timelineQuery(cmd, time.Now())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	st, err := a.queryStore(ctx, paths)
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := st.Timeline(ctx, q)
	if err != nil {
		return &exitError{code: exitInput, err: err}
	}
	if format == "json" {
		err = writeEntriesJSON(a.stdout, entries)
	} else {
		err = writeEntriesText(a.stdout, entries)
	}
	if err != nil {
		return &exitError{code: exitInput, err: fmt.Errorf("write output: %w", err)}
	}
	return nil
}

// timelineQuery reads the filter flags.
func timelineQuery(cmd *cobra.Command, now time.Time) (store.Query, string, error) {
	f := cmd.Flags()
	str := func(name string) string { v, _ := f.GetString(name); return v }
	q := store.Query{
		Actor: str("actor"), SourceIP: str("source-ip"), Namespace: str("namespace"), Resource: str("resource"),
		Name: str("name"), Verb: str("verb"), AuditID: str("audit-id"),
	}
	var err error
	if q.Since, err = parseWhen(str("since"), now); err != nil {
		return q, "", usageError("--since: %v", err)
	}
	if q.Until, err = parseWhen(str("until"), now); err != nil {
		return q, "", usageError("--until: %v", err)
	}
	q.Limit, _ = f.GetInt("limit")
	q.Offset, _ = f.GetInt("offset")
	if q.Limit < 0 || q.Offset < 0 {
		return q, "", usageError("--limit and --offset must not be negative")
	}
	format := str("format")
	if format != "text" && format != "json" {
		return q, "", usageError("--format %q: want text or json", format)
	}
	return q, format, nil
}

// parseWhen reads an RFC 3339 time, or a duration meaning that long before
// now ("2h"); empty is the zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration (2h)", s)
}

func writeEntriesJSON(w io.Writer, entries []store.Entry) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range entries {
		if err := enc.Encode(&entries[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeEntriesText(w io.Writer, entries []store.Entry) error {
	bw := bufio.NewWriter(w)
	for i := range entries {
		writeEntryText(bw, &entries[i])
	}
	return bw.Flush()
}

// writeEntryText writes one request on one line: time, who (and as whom),
// from where, verb, object, code.
func writeEntryText(w io.Writer, e *store.Entry) {
	who := e.User
	if e.ImpersonatedUser != "" {
		who += " as " + e.ImpersonatedUser
	}
	src := strings.Join(e.SourceIPs, ",")
	obj := e.Resource
	if e.Subresource != "" {
		obj += "/" + e.Subresource
	}
	if e.APIGroup != "" {
		obj += "." + e.APIGroup
	}
	switch {
	case e.Namespace != "" && e.Name != "":
		obj += " " + e.Namespace + "/" + e.Name
	case e.Namespace != "":
		obj += " -n " + e.Namespace
	case e.Name != "":
		obj += " " + e.Name
	}
	if e.Resource == "" {
		obj = e.RequestURI
	}
	fmt.Fprintf(w, "%s  %-40s %-16s %-7s %-60s %d\n", e.Time, who, src, e.Verb, obj, e.Code)
}
