package clickhouse_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/storetest"
)

// Issue 17 asks, before the schema loses any table, what each narrow copy
// of events (events_by_object, events_by_source, event_index,
// events_impersonated) costs at insert and what it buys at query time.
// These two benchmarks measure it; store/clickhouse/bench.sh copies runs
// both:
//
//	go test -run '^$' -bench 'CopyInsertCost|CopyQueries' -benchtime 5x -timeout 60m -v ./store/clickhouse/
//
// They use their own SQL, the schema of migrations 1-3, so that the
// comparison stays reproducible whatever the store's schema becomes.

// copyDDL are the tables compared: events and its narrow copies, as
// migrations 1-3 create them (events_by_source has a row per address).
var copyDDL = map[string]string{
	"events":              "(user, time_us, audit_id, stage)",
	"events_by_object":    "(resource, namespace, name, time_us, audit_id, stage)",
	"events_by_source":    "(source_ip, time_us, audit_id, stage)",
	"event_index":         "(audit_id, stage)",
	"events_impersonated": "(impersonated_user, time_us, audit_id, stage)",
	// What the two wide copies would cost holding only their key and where
	// each request's rows are in events (user, time_us): a page's entries
	// would then be read from events. Not in the schema.
	"object_keys": "(resource, namespace, name, time_us, audit_id, stage)",
	"source_keys": "(source_ip, time_us, audit_id, stage)",
}

var copyOrder = []string{"events", "events_by_object", "events_by_source", "event_index", "events_impersonated", "object_keys", "source_keys"}

const eventCols = "ts, time_us, audit_id, stage, user, groups, impersonated_user, source_ips, user_agent, verb, api_group, resource, subresource, namespace, name, code, request_uri, decision, location, event, version"

// copyColumns are each table's columns.
func copyColumns(table string) string {
	switch table {
	case "events":
		return eventCols
	case "event_index":
		return "ts, time_us, audit_id, stage, user, version"
	case "events_by_source":
		return "source_ip, " + narrowCols
	case "object_keys":
		return "ts, time_us, audit_id, stage, user, resource, namespace, name, version"
	case "source_keys":
		return "source_ip, ts, time_us, audit_id, stage, user, version"
	}
	return narrowCols
}

// createCopy creates a table of copyDDL with the column types of events.
func createCopy(ctx context.Context, conn ch.Conn, table string) error {
	cols := copyColumns(table)
	sel := strings.ReplaceAll(cols, "source_ip, ", "'' AS source_ip, ")
	return conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ts) ORDER BY %s SETTINGS index_granularity = 1024 AS SELECT %s FROM events_src WHERE 0`, table, copyDDL[table], sel))
}

// cpuOf is a process's user+system CPU time.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+1:]
	f := strings.Fields(s)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkCopyInsertCost inserts the same events (the sample, with fresh
// audit ids, KAUDIT_BENCH_ROWS rows, default 200,000, in flushes of 50,000
// as the spool's flusher sends them) into each table alone, and reports
// ClickHouse's CPU per event for the inserts, for merging the parts into
// one afterwards (OPTIMIZE FINAL: an upper bound of what merges cost), and
// the bytes each table keeps per event.
func BenchmarkCopyInsertCost(b *testing.B) {
	n := benchSize("KAUDIT_BENCH_ROWS", 200_000)
	ctx := context.Background()
	rows := sampleRows(b, n)
	db := fmt.Sprintf("kaudit_copies_%d", os.Getpid())
	admin, err := ch.Open(&ch.Options{Addr: []string{server.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		b.Fatal(err)
	}
	conn, err := ch.Open(&ch.Options{Addr: []string{server.Addr()}, Auth: ch.Auth{Database: db}, ReadTimeout: 30 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS events_src (`+eventTypes+`) ENGINE = Log`); err != nil {
		b.Fatal(err)
	}
	pid := server.Pid()
	for _, table := range copyOrder {
		b.Run(table, func(b *testing.B) {
			var ins, merge time.Duration
			var bytes uint64
			for b.Loop() {
				_ = conn.Exec(ctx, "DROP TABLE IF EXISTS "+table)
				if err := createCopy(ctx, conn, table); err != nil {
					b.Fatal(err)
				}
				_ = conn.Exec(ctx, "SYSTEM STOP MERGES "+table)
				c0 := cpuOf(pid)
				for lo := 0; lo < len(rows); lo += 50_000 {
					if err := insertCopy(ctx, conn, table, rows[lo:min(lo+50_000, len(rows))]); err != nil {
						b.Fatal(err)
					}
				}
				c1 := cpuOf(pid)
				_ = conn.Exec(ctx, "SYSTEM START MERGES "+table)
				if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
					b.Fatal(err)
				}
				ins, merge = ins+c1-c0, merge+cpuOf(pid)-c1
				if err := conn.QueryRow(ctx, "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = currentDatabase() AND table = ? AND active", table).Scan(&bytes); err != nil {
					b.Fatal(err)
				}
			}
			per := float64(b.N) * float64(len(rows))
			b.ReportMetric(float64(ins.Microseconds())/per, "ch_insert_us/event")
			b.ReportMetric(float64(merge.Microseconds())/per, "ch_merge_us/event")
			b.ReportMetric(float64(bytes)/float64(len(rows)), "disk_bytes/event")
		})
	}
}

// eventTypes are the columns of events with their types.
const eventTypes = `ts DateTime('UTC'), time_us Int64, audit_id String, stage String, user String, groups Array(String),
	impersonated_user String, source_ips Array(String), user_agent String, verb String, api_group String, resource String,
	subresource String, namespace String, name String, code Int32, request_uri String, decision String, location String,
	event String, version UInt64`

// sampleRows renders the sample as rows, repeated to n with fresh audit
// ids, as the write-ahead path hands them to the store.
func sampleRows(b *testing.B, n int) []store.Row {
	recs := storetest.LoadSample(b)
	out := make([]store.Row, 0, n)
	rend := store.NewRenderer()
	for i := 0; len(out) < n; i++ {
		r, err := rend.Row(&recs[i%len(recs)])
		if err != nil {
			b.Fatal(err)
		}
		r.JSON = bytes.Clone(r.JSON) // the renderer's next row overwrites it
		r.AuditID = fmt.Sprintf("%08x-%s", i, r.AuditID)
		out = append(out, r)
	}
	return out
}

// insertCopy sends rows to one table, with the columns it has, one row per
// address for events_by_source.
func insertCopy(ctx context.Context, conn ch.Conn, table string, rows []store.Row) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+copyColumns(table)+")")
	if err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		ts := time.Unix(r.At.Unix(), 0).UTC()
		full := []any{ts, r.At.UnixMicro(), r.AuditID, r.Stage, r.User, r.Groups, r.ImpersonatedUser, r.SourceIPs, r.UserAgent,
			r.Verb, r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name, r.Code, r.RequestURI, r.Decision, r.Location}
		var vals [][]any
		switch table {
		case "events":
			vals = [][]any{append(full, string(r.JSON), uint64(i))}
		case "event_index":
			vals = [][]any{{ts, r.At.UnixMicro(), r.AuditID, r.Stage, r.User, uint64(i)}}
		case "object_keys":
			vals = [][]any{{ts, r.At.UnixMicro(), r.AuditID, r.Stage, r.User, r.Resource, r.Namespace, r.Name, uint64(i)}}
		case "source_keys":
			for _, ip := range r.SourceIPs {
				vals = append(vals, []any{ip, ts, r.At.UnixMicro(), r.AuditID, r.Stage, r.User, uint64(i)})
			}
		case "events_by_source":
			for _, ip := range r.SourceIPs {
				vals = append(vals, append(append([]any{ip}, full...), uint64(i)))
			}
		case "events_impersonated":
			if r.ImpersonatedUser != "" {
				vals = [][]any{append(full, uint64(i))}
			}
		default:
			vals = [][]any{append(full, uint64(i))}
		}
		for _, v := range vals {
			if err := batch.Append(v...); err != nil {
				return err
			}
		}
	}
	return batch.Send()
}

// BenchmarkCopyQueries times each query a copy serves against the same
// query on events alone (PREWHERE on its narrow columns, every partition
// pruned by its min/max index where a window is given), over the events of
// BenchmarkTimeline10M (KAUDIT_BENCH_EVENTS, default 10 million, generated
// when missing): the first step of a page (its audit ids), then whole
// pages (their entries too).
func BenchmarkCopyQueries(b *testing.B) {
	ctx := context.Background()
	conn, someID := benchData(b)
	defer conn.Close()
	for _, table := range copyOrder {
		if table == "events" {
			continue
		}
		if hasTable(ctx, conn, table) {
			continue
		}
		b.Logf("filling %s from events", table)
		if err := fillCopy(ctx, conn, table); err != nil {
			b.Fatal(err)
		}
	}
	settle(b, conn)
	// The first step of a page of 1000 (Store.pageIDs), and the object
	// whose history the object queries read.
	page := " ORDER BY time_us, audit_id LIMIT 4016"
	const object = "resource = 'pods' AND namespace = 'ns-5' AND name = 'obj-1005'"
	for _, q := range []struct{ name, sql string }{
		{"object/events_by_object", "SELECT time_us, audit_id FROM events_by_object WHERE " + object + page},
		{"object/events", "SELECT time_us, audit_id FROM events PREWHERE " + object + page},
		{"object/events-name-first", "SELECT time_us, audit_id FROM events PREWHERE name = 'obj-1005' WHERE resource = 'pods' AND namespace = 'ns-5'" + page},
		{"object/events-last-day", "SELECT time_us, audit_id FROM events PREWHERE name = 'obj-1005' WHERE resource = 'pods' AND namespace = 'ns-5' AND ts >= toDateTime('2025-12-20 00:00:00')" + page},
		// A key-only copy leaves the page's filters and columns to events,
		// read by where each request is there (user, time_us: the head of
		// its key). 18.16.1 does not use the key for a tuple IN, so this
		// reads every row of events.
		{"object/object_keys-then-events", "SELECT time_us, audit_id FROM events WHERE (user, time_us) IN (SELECT user, time_us FROM object_keys WHERE " + object + ") AND " + object + page},
		{"source-ip/events_by_source", "SELECT time_us, audit_id FROM events_by_source WHERE source_ip = '10.0.1.1'" + page},
		{"source-ip/source_keys-then-events", "SELECT time_us, audit_id FROM events WHERE (user, time_us) IN (SELECT user, time_us FROM source_keys WHERE source_ip = '10.0.1.1') AND has(source_ips, '10.0.1.1')" + page},
		{"source-ip/events", "SELECT time_us, audit_id FROM events PREWHERE has(source_ips, '10.0.1.1')" + page},
		{"audit-id/event_index", "SELECT user, time_us FROM event_index WHERE audit_id = '" + someID + "' LIMIT 1"},
		{"audit-id/events", "SELECT user, time_us FROM events PREWHERE audit_id = '" + someID + "' LIMIT 1"},
		{"impersonated/events_impersonated", "SELECT time_us, audit_id FROM events_impersonated WHERE impersonated_user = 'imp-user'" + page},
		{"impersonated/events", "SELECT time_us, audit_id FROM events PREWHERE impersonated_user = 'imp-user'" + page},
		{"span/event_index", "SELECT count(), min(time_us), max(time_us) FROM event_index"},
		{"span/events", "SELECT count(), min(time_us), max(time_us) FROM events"},
	} {
		b.Run(q.name, func(b *testing.B) {
			var got int
			for b.Loop() {
				got = countRows(b, conn, q.sql)
			}
			b.ReportMetric(float64(got), "rows")
		})
	}
	// A whole page as Store.timeline reads it: the first step above, then
	// the entries of those requests. From a copy they are contiguous; from
	// events they are spread over a granule each, read whole.
	for _, p := range []struct{ name, table, pre, cond string }{
		{"object-page/events_by_object", "events_by_object", "", object},
		{"object-page/events", "events", "name = 'obj-1005'", "resource = 'pods' AND namespace = 'ns-5'"},
		{"source-ip-page/events_by_source", "events_by_source", "", "source_ip = '10.0.1.1'"},
		{"source-ip-page/events", "events", "has(source_ips, '10.0.1.1')", "1"},
	} {
		b.Run(p.name, func(b *testing.B) {
			var got int
			for b.Loop() {
				got = readPage(b, conn, p.table, p.pre, p.cond)
			}
			b.ReportMetric(float64(got), "entries")
		})
	}
}

func countRows(b *testing.B, conn ch.Conn, sql string) int {
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n
}

// readPage reads a page of 1000 entries in Store.timeline's two steps.
func readPage(b *testing.B, conn ch.Conn, table, pre, cond string) int {
	ctx := context.Background()
	from := table
	if pre != "" {
		from += " PREWHERE " + pre
	}
	rows, err := conn.Query(ctx, "SELECT time_us, audit_id FROM "+from+" WHERE "+cond+" ORDER BY time_us, audit_id LIMIT 1000")
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	var lo, hi int64
	for rows.Next() {
		var t int64
		var id string
		if err := rows.Scan(&t, &id); err != nil {
			b.Fatal(err)
		}
		if len(ids) == 0 {
			lo = t
		}
		hi = t
		ids = append(ids, "'"+id+"'")
	}
	rows.Close()
	if len(ids) == 0 {
		return 0
	}
	// Every column of a timeline entry, as Store.timeline reads them.
	var sel []string
	for _, c := range strings.Split("stage, user, groups, impersonated_user, source_ips, user_agent, verb, api_group, resource, subresource, namespace, name, code, request_uri, decision, location", ", ") {
		sel = append(sel, "argMax("+c+", version)")
	}
	return countRows(b, conn, fmt.Sprintf("SELECT audit_id, argMax(time_us, version) AS t, %s"+
		" FROM %s WHERE %s AND audit_id IN (%s) AND ts >= toDateTime(%d) AND ts <= toDateTime(%d) GROUP BY audit_id ORDER BY t, audit_id",
		strings.Join(sel, ", "), from, cond, strings.Join(ids, ","), lo/1e6, hi/1e6+1))
}

// fillCopy creates a table of copyDDL and fills it from events.
func fillCopy(ctx context.Context, conn ch.Conn, table string) error {
	cols := copyColumns(table)
	if err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ts) ORDER BY %s SETTINGS index_granularity = 1024 AS SELECT %s FROM events WHERE 0`,
		table, copyDDL[table], strings.ReplaceAll(cols, "source_ip, ", "'' AS source_ip, "))); err != nil {
		return err
	}
	sel, where := cols, ""
	switch table {
	case "events_by_source", "source_keys":
		sel = strings.Replace(cols, "source_ip, ", "source_ips[1], ", 1)
	case "events_impersonated":
		where = " WHERE impersonated_user != ''"
	}
	return conn.Exec(ctx, "INSERT INTO "+table+" ("+cols+") SELECT "+sel+" FROM events"+where)
}
