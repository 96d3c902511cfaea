package main

import (
	"bytes"
	"fmt"
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
Each request is marked with the rules that fired on it.

--actor matches the user or the impersonated user exactly; a glob (*, ?) matches by pattern
and -NAME leaves those actors out. --search takes words, each [-][field:]pattern, the field
one of actor, object, client, uri (none: any of them); a pattern with * or ? is a glob over
the whole value, else a substring, both ignoring case; - leaves out what it matches.
--since and --until take RFC 3339 times (2026-01-02T15:04:05Z) or durations before now (2h, 30m).

When nothing matches but a longer actor name or another time would, timeline says so and
exits 2: "no requests for actor backup; did you mean system:serviceaccount:team-a:backup".`,
		Example: `  kaudit timeline audit.log --actor mallory
  kaudit timeline audit.log --search '-system:* object:secrets*'
  kaudit timeline audit.log --search 'client:curl uri:/exec' -o wide`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.configure(cmd); err != nil {
				return err
			}
			return a.timeline(cmd, args)
		},
	}
	f := cmd.Flags()
	f.String("store", "", "store DSN (clickhouse://host:9000/db); the password belongs in KAUDIT_STORE_DSN or the config file")
	f.String("actor", "", "user or impersonated user: a name, a glob (system:serviceaccount:*) or -NAME to leave out")
	f.StringP("search", "s", "", "words, each [-][actor:|object:|client:|uri:]pattern: substring or glob (*, ?); - leaves out")
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
	f.StringP("format", "o", "text", "output format: text (120 columns), wide (nothing cut, more columns) or json (JSON lines)")
	addPipelineFlags(cmd)
	return cmd
}

func (a *app) timeline(cmd *cobra.Command, paths []string) error {
	format, err := a.outputFormat("text", "wide", "json")
	if err != nil {
		return err
	}
	q, err := timelineQuery(cmd, time.Now())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	st, files, err := a.queryStore(ctx, paths)
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := st.Timeline(ctx, q)
	if err != nil {
		return inputError(err)
	}
	if len(entries) == 0 && q.Offset == 0 {
		if err := a.noRequests(cmd, st, q, paths); err != nil {
			return err
		}
	}
	if err := store.AnnotateFindings(ctx, st, entries); err != nil {
		return inputError(err)
	}
	if format == "json" {
		return writeOut(writeJSONLines(a.stdout, entries))
	}
	if len(entries) == 0 {
		return nil
	}
	var buf bytes.Buffer
	a.newTextView(format, newLocator(paths, files)).entryTable(&buf, entries, "")
	return writeOut(a.show(buf.Bytes()))
}

// noRequests explains an empty timeline. When a longer actor name or
// another time would have matched, it is a usage error naming the near
// miss; otherwise stderr says what was asked and which times the data
// covers, and the run succeeds (like kubectl's "No resources found").
func (a *app) noRequests(cmd *cobra.Command, st store.Store, q store.Query, paths []string) error {
	hint, err := store.HintFor(cmd.Context(), st, q)
	if err != nil {
		return inputError(err)
	}
	what := "no requests"
	if d := q.Describe(); d != "" {
		what += " for " + fieldText(d)
	}
	msg := what + "; " + fieldText(hint.Text(dataName(paths)))
	if hint.Useful() {
		return usageError("%s", msg)
	}
	fmt.Fprintln(a.stderr, "kaudit:", msg)
	return nil
}

// timelineQuery reads the filter flags.
func timelineQuery(cmd *cobra.Command, now time.Time) (store.Query, error) {
	f := cmd.Flags()
	str := func(name string) string { v, _ := f.GetString(name); return v }
	q := store.Query{
		SourceIP: str("source-ip"), Namespace: str("namespace"), Resource: str("resource"),
		Name: str("name"), Verb: str("verb"), AuditID: str("audit-id"),
	}
	if f.Changed("actor") && str("actor") == "" {
		return q, usageError("--actor: empty; give a name, a glob or -NAME")
	}
	q.FilterActor(str("actor"))
	terms, err := store.ParseTerms(str("search"))
	if err != nil {
		return q, usageError("--%v", err)
	}
	q.Terms = append(q.Terms, terms...)
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
