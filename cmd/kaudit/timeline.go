package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/store"
)

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
			if err := a.configure(cmd); err != nil {
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

func (a *app) timeline(cmd *cobra.Command, paths []string) error {
	format, err := a.outputFormat("text", "json")
	if err != nil {
		return err
	}
	q, err := timelineQuery(cmd, time.Now())
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
		return inputError(err)
	}
	if format == "json" {
		err = writeJSONLines(a.stdout, entries)
	} else {
		err = writeEntriesText(a.stdout, entries)
	}
	if err != nil {
		return inputError(fmt.Errorf("write output: %w", err))
	}
	return nil
}

// timelineQuery reads the filter flags.
func timelineQuery(cmd *cobra.Command, now time.Time) (store.Query, error) {
	f := cmd.Flags()
	str := func(name string) string { v, _ := f.GetString(name); return v }
	q := store.Query{
		Actor: str("actor"), SourceIP: str("source-ip"), Namespace: str("namespace"), Resource: str("resource"),
		Name: str("name"), Verb: str("verb"), AuditID: str("audit-id"),
	}
	var err error
	if q.Since, q.Until, err = store.ParseWindow(str("since"), str("until"), now); err != nil {
		return q, usageError("--%v", err)
	}
	q.Limit, _ = f.GetInt("limit")
	q.Offset, _ = f.GetInt("offset")
	if q.Limit < 0 || q.Offset < 0 {
		return q, usageError("--limit and --offset must not be negative")
	}
	return q, nil
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
	fmt.Fprintf(w, "%s  %-40s %-16s %-7s %-60s %d\n", term(e.Time), term(who), term(src), term(e.Verb), term(obj), e.Code)
}
