package clickhouse

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
)

// timelineSelect picks, per request, the columns of its row of highest
// version: the most telling stage (the rank is the version's top byte) and,
// among unmerged duplicates, the latest write. Grouping by audit id rather
// than reading with FINAL shows each request once before merges, on every
// ClickHouse version, and reduces stages to one entry in the same pass.
const timelineSelect = `SELECT
	audit_id,
	argMax(time_us, version) AS t,
	argMax(stage, version),
	argMax(user, version),
	argMax(groups, version),
	argMax(impersonated_user, version),
	argMax(source_ips, version),
	argMax(user_agent, version),
	argMax(verb, version),
	argMax(api_group, version),
	argMax(resource, version),
	argMax(subresource, version),
	argMax(namespace, version),
	argMax(name, version),
	argMax(code, version),
	argMax(request_uri, version),
	argMax(decision, version),
	argMax(location, version)
FROM `

// entryColumns are what timelineSelect reads from each branch of an
// actor's timeline.
const entryColumns = "audit_id, time_us, stage, user, groups, impersonated_user, source_ips, user_agent, verb, api_group, resource, subresource, namespace, name, code, request_uri, decision, location, version"

// where collects a query's conditions and their bound arguments
// (clickhouse-go binds ? on the client; 18.16.1 has no server-side
// parameters).
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// clone copies the conditions, so that a query can add to them.
func (w *where) clone() *where {
	return &where{conds: append([]string(nil), w.conds...), args: append([]any(nil), w.args...)}
}

// after starts the timeline after a cursor: the condition on ts prunes the
// partitions before it.
func (w *where) after(c *store.Cursor) {
	w.add("ts >= toDateTime(?) AND (time_us > ? OR time_us = ? AND audit_id > ?)",
		dateTimeSeconds(time.UnixMicro(c.TimeUs)), c.TimeUs, c.TimeUs, c.AuditID)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// window adds a time window. The condition on ts (seconds) lets ClickHouse
// skip whole daily partitions; the one on time_us is exact.
func (w *where) window(since, until time.Time) {
	if !since.IsZero() {
		w.add("ts >= toDateTime(?) AND time_us >= ?", dateTimeSeconds(since), since.UnixMicro())
	}
	if !until.IsZero() {
		w.add("ts <= toDateTime(?) AND time_us <= ?", dateTimeSeconds(until), until.UnixMicro())
	}
}

// timelineOf lists one entry per request in time order (ties broken by audit
// id). Every filter is a property shared by all stages of a request, so
// filtering rows before grouping them gives the same answer as the
// in-memory store. A zero Limit means no limit.
func (s *Store) timelineOf(ctx context.Context, q store.Query) ([]store.Entry, error) {
	var w where
	bySource := q.SourceIP != "" && q.Actor == "" && q.Resource == "" && q.Namespace == "" && q.Name == ""
	switch {
	case bySource:
		w.add("source_ip = ?", q.SourceIP)
	case q.SourceIP != "":
		w.add("has(source_ips, ?)", q.SourceIP)
	}
	for _, f := range []struct{ col, val string }{
		{"namespace", q.Namespace}, {"resource", q.Resource}, {"name", q.Name}, {"verb", q.Verb}, {"audit_id", q.AuditID},
	} {
		if f.val != "" {
			w.add(f.col+" = ?", f.val)
		}
	}
	for _, t := range q.Terms {
		w.addTerm(t)
	}
	w.window(q.Since, q.Until)
	if q.After != nil {
		w.after(q.After)
	}
	pg := page{offset: q.Offset, limit: q.Limit}
	switch {
	case q.Actor != "":
		return s.timeline(ctx, source{table: "events", actorCond: "%s = ?", actorArg: q.Actor, rest: &w}, pg)
	case q.Resource != "" || q.Namespace != "" || q.Name != "":
		return s.timeline(ctx, source{table: "events_by_object", rest: &w}, pg)
	case bySource:
		return s.timeline(ctx, source{table: "events_by_source", rest: &w}, pg)
	case q.AuditID != "":
		user, timeUs, found, err := s.locate(ctx, q.AuditID)
		if err != nil || !found {
			return []store.Entry{}, err
		}
		w.add("user = ? AND time_us = ?", user, timeUs)
	}
	return s.timeline(ctx, source{table: "events", rest: &w}, pg)
}

// page is the part of a timeline a query wants: offset entries skipped,
// then at most limit (0: all).
type page struct{ offset, limit int }

// locate finds where a request's rows are in events (its user and time,
// the head of the events key) through event_index.
func (s *Store) locate(ctx context.Context, auditID string) (user string, timeUs int64, found bool, err error) {
	rows, err := s.conn.Query(s.limited(ctx), "SELECT user, time_us FROM event_index WHERE audit_id = ? LIMIT 1", auditID)
	if err != nil {
		return "", 0, false, queryError("event index query", err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&user, &timeUs); err != nil {
			return "", 0, false, queryError("event index query", err)
		}
		found = true
	}
	if err := rows.Err(); err != nil {
		return "", 0, false, queryError("event index query", err)
	}
	return user, timeUs, found, nil
}

// source is where a timeline reads: a table and its conditions, or, with
// an actor condition (a format with %s for the column and one ? for
// actorArg), the actor's requests as user in events and as impersonated
// user in events_impersonated, each read through its table's primary key
// and merged (the same request found in both collapses in the GROUP BY).
type source struct {
	table     string
	actorCond string
	actorArg  any
	rest      *where
}

// from is the FROM clause reading cols, with extra conditions added to the
// source's own, and its arguments.
func (src source) from(cols string, extra *where) (string, []any) {
	rest := src.rest.clone()
	if extra != nil {
		rest.conds = append(rest.conds, extra.conds...)
		rest.args = append(rest.args, extra.args...)
	}
	if src.actorCond == "" {
		return src.table + rest.sql(), rest.args
	}
	branch := func(col string) *where {
		b := &where{}
		b.add(fmt.Sprintf(src.actorCond, col), src.actorArg)
		b.conds = append(b.conds, rest.conds...)
		b.args = append(b.args, rest.args...)
		return b
	}
	byUser, byImp := branch("user"), branch("impersonated_user")
	from := "(SELECT " + cols + " FROM events" + byUser.sql() +
		" UNION ALL SELECT " + cols + " FROM events_impersonated" + byImp.sql() + ")"
	return from, append(append([]any{}, byUser.args...), byImp.args...)
}

// timeline reads a page of src. A whole timeline (no limit) is one query;
// a page is two, so that its cost follows the page and not the window:
// the first finds the page's requests by reading only time_us and audit_id
// in order (a top-N sort, no aggregation over the window), the second
// reads their columns. Grouping the whole window to sort it and cut a page
// made one unfiltered page at a deep offset use gigabytes.
func (s *Store) timeline(ctx context.Context, src source, pg page) ([]store.Entry, error) {
	if pg.limit <= 0 {
		from, args := src.from(entryColumns, nil)
		query := timelineSelect + from + " GROUP BY audit_id ORDER BY t, audit_id"
		if pg.offset > 0 {
			query += fmt.Sprintf(" LIMIT %d, %d", pg.offset, uint64(1)<<62)
		}
		return s.readEntries(ctx, query, args)
	}
	ids, lo, hi, err := s.pageIDs(ctx, src, pg)
	if err != nil || len(ids) == 0 {
		return []store.Entry{}, err
	}
	var only where
	only.add("audit_id IN ?", inSet(ids))
	only.window(time.UnixMicro(lo), time.UnixMicro(hi))
	from, args := src.from(entryColumns, &only)
	return s.readEntries(ctx, timelineSelect+from+" GROUP BY audit_id ORDER BY t, audit_id", args)
}

// pageIDs finds the audit ids of a page, in timeline order, and the span
// of their times. A request has a row per stage (and, before merges, per
// delivery), so it reads a few rows per request it needs, and more while
// duplicates leave it short.
func (s *Store) pageIDs(ctx context.Context, src source, pg page) (ids []string, lo, hi int64, err error) {
	want := max(pg.offset, 0) + pg.limit
	from, args := src.from("time_us, audit_id", nil)
	for n := 4*want + 16; ; n *= 4 {
		ids, lo, hi = ids[:0], 0, 0
		read, spanned := 0, false
		rows, err := s.conn.Query(s.limited(ctx), fmt.Sprintf("SELECT time_us, audit_id FROM %s ORDER BY time_us, audit_id LIMIT %d", from, n), args...)
		if err != nil {
			return nil, 0, 0, queryError("timeline query", err)
		}
		var t int64
		var id, last string
		for rows.Next() {
			if err := rows.Scan(&t, &id); err != nil {
				rows.Close()
				return nil, 0, 0, queryError("timeline query", err)
			}
			read++
			if id == last && read > 1 {
				continue
			}
			last = id
			if len(ids) < want {
				ids = append(ids, id)
				if len(ids) > pg.offset {
					if !spanned {
						lo, spanned = t, true
					}
					hi = t // rows come in time order
				}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, 0, 0, queryError("timeline query", err)
		}
		if len(ids) >= want || read < n {
			break
		}
	}
	if pg.offset >= len(ids) {
		return nil, 0, 0, nil
	}
	return ids[pg.offset:], lo, hi, nil
}

// readEntries runs a timeline query and reads its entries.
func (s *Store) readEntries(ctx context.Context, query string, args []any) ([]store.Entry, error) {
	rows, err := s.conn.Query(s.limited(ctx), query, args...)
	if err != nil {
		return nil, queryError("timeline query", err)
	}
	defer rows.Close()
	out := []store.Entry{}
	for rows.Next() {
		var e store.Entry
		var t int64
		var code int32
		if err := rows.Scan(&e.AuditID, &t, &e.Stage, &e.User, &e.Groups, &e.ImpersonatedUser, &e.SourceIPs,
			&e.UserAgent, &e.Verb, &e.APIGroup, &e.Resource, &e.Subresource, &e.Namespace, &e.Name, &code,
			&e.RequestURI, &e.Decision, &e.Location); err != nil {
			return nil, queryError("timeline query", err)
		}
		e.Time = time.UnixMicro(t).UTC().Format(detect.TimeFormat)
		e.Code = int(code)
		if e.Groups == nil {
			e.Groups = []string{}
		}
		if e.SourceIPs == nil {
			e.SourceIPs = []string{}
		}
		e.Derive()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError("timeline query", err)
	}
	return out, nil
}

// incidentsOf lists incidents, most severe first, then by start time. The
// latest version of each is read and filtered here, with the same rules as
// the in-memory store (incidents are few next to events).
func (s *Store) incidentsOf(ctx context.Context, q store.IncidentQuery) ([]incident.Incident, error) {
	var w where
	if q.Actor != "" {
		w.add("has(actors, ?)", q.Actor)
	}
	incs, err := s.readIncidents(ctx, &w)
	if err != nil {
		return nil, err
	}
	out := incs[:0]
	for i := range incs {
		if q.IncidentMatches(&incs[i]) {
			out = append(out, incs[i])
		}
	}
	store.SortIncidents(out)
	if q.Limit > 0 && q.Limit < len(out) {
		out = out[:q.Limit]
	}
	return out, nil
}

func (s *Store) readIncidents(ctx context.Context, w *where) ([]incident.Incident, error) {
	rows, err := s.conn.Query(s.limited(ctx), "SELECT argMax(incident, version) FROM incidents"+w.sql()+" GROUP BY id", w.args...)
	if err != nil {
		return nil, queryError("incidents query", err)
	}
	defer rows.Close()
	out := []incident.Incident{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, queryError("incidents query", err)
		}
		var inc incident.Incident
		if err := json.Unmarshal([]byte(raw), &inc); err != nil {
			return nil, fmt.Errorf("incidents query: stored incident: %w", err)
		}
		out = append(out, inc)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError("incidents query", err)
	}
	return out, nil
}

// incidentOf returns one incident with its findings and every request of its
// actors (as user or impersonated user) over its span.
func (s *Store) incidentOf(ctx context.Context, id string) (*store.IncidentDetail, error) {
	var w where
	w.add("id = ?", id)
	incs, err := s.readIncidents(ctx, &w)
	if err != nil {
		return nil, err
	}
	if len(incs) == 0 {
		return nil, fmt.Errorf("incident %s: %w", id, store.ErrNotFound)
	}
	d := &store.IncidentDetail{Incident: incs[0], Findings: []detect.Finding{}, Timeline: []store.Entry{}}
	inc := &d.Incident
	if len(inc.Findings) > 0 {
		if d.Findings, err = s.findingsOf(ctx, inc.Findings); err != nil {
			return nil, err
		}
	}
	if len(inc.Actors) > 0 {
		var tw where
		tw.window(inc.StartTime, inc.EndTime)
		if d.Timeline, err = s.timeline(ctx, source{table: "events", actorCond: "%s IN ?", actorArg: inSet(inc.Actors), rest: &tw}, page{}); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// findingsOf reads the findings on the given requests, each once.
func (s *Store) findingsOf(ctx context.Context, auditIDs []string) ([]detect.Finding, error) {
	if len(auditIDs) == 0 {
		return []detect.Finding{}, nil
	}
	rows, err := s.conn.Query(s.limited(ctx), "SELECT argMax(finding, version) FROM findings WHERE audit_id IN ? GROUP BY audit_id, rule, stage", inSet(auditIDs))
	if err != nil {
		return nil, queryError("findings query", err)
	}
	defer rows.Close()
	out := []detect.Finding{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, queryError("findings query", err)
		}
		var f detect.Finding
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			return nil, fmt.Errorf("findings query: stored finding: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError("findings query", err)
	}
	incident.SortFindings(out)
	return out, nil
}

// eventOf returns the redacted JSON of every stored stage of a request, in
// stage order, each stage once.
func (s *Store) eventOf(ctx context.Context, auditID string) ([][]byte, error) {
	user, timeUs, found, err := s.locate(ctx, auditID)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("event %s: %w", auditID, store.ErrNotFound)
	}
	rows, err := s.conn.Query(s.limited(ctx), "SELECT stage, argMax(event, version) FROM events WHERE user = ? AND time_us = ? AND audit_id = ? GROUP BY stage", user, timeUs, auditID)
	if err != nil {
		return nil, queryError("event query", err)
	}
	defer rows.Close()
	type stageJSON struct {
		stage string
		raw   string
	}
	var got []stageJSON
	for rows.Next() {
		var sj stageJSON
		if err := rows.Scan(&sj.stage, &sj.raw); err != nil {
			return nil, queryError("event query", err)
		}
		got = append(got, sj)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError("event query", err)
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("event %s: %w", auditID, store.ErrNotFound)
	}
	sort.Slice(got, func(i, j int) bool {
		ri, rj := store.StageRank(got[i].stage), store.StageRank(got[j].stage)
		if ri != rj {
			return ri < rj
		}
		return got[i].stage < got[j].stage
	})
	out := make([][]byte, len(got))
	for i, sj := range got {
		out[i] = []byte(sj.raw)
	}
	return out, nil
}

// inSet binds a list for IN as ('a', 'b'): clickhouse-go binds a plain
// slice as an array, which IN refuses.
func inSet(ss []string) ch.GroupSet {
	vals := make([]any, len(ss))
	for i, s := range ss {
		vals[i] = s
	}
	return ch.GroupSet{Value: vals}
}
