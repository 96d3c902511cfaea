package clickhouse_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
)

// benchGenerate is the server-side generation of n synthetic events: 2,000
// users acting over 29 days (30 daily partitions), one request in a
// thousand impersonating "imp-user", about 300 bytes of event JSON each.
// Rows are made by ClickHouse from system.numbers, not sent through Go,
// so that generating 10 million of them takes a minute, not an hour.
const benchGenerate = `INSERT INTO events (` + "ts, time_us, audit_id, stage, user, groups, impersonated_user, source_ips, user_agent, verb, api_group, resource, subresource, namespace, name, code, request_uri, decision, location, event, version" + `)
SELECT
	toDateTime(intDiv(t, 1000000)),
	t,
	id,
	'ResponseComplete',
	concat('user-', toString(intHash32(number) % 2000)),
	['system:authenticated'],
	if(number % 1000 = 0, 'imp-user', ''),
	[IPv4NumToString(toUInt32(167772160 + intHash32(number * 7) % 65536))],
	'kubectl/v1.36.0 (linux/amd64) kubernetes/abcdef0',
	arrayElement(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'], number % 7 + 1),
	'',
	arrayElement(['pods', 'secrets', 'configmaps', 'deployments', 'services'], number % 5 + 1),
	'',
	concat('ns-', toString(number % 50)),
	concat('obj-', toString(number % 10000)),
	200,
	concat('/api/v1/namespaces/ns-', toString(number % 50), '/pods/obj-', toString(number % 10000)),
	'allow',
	concat('bench:', toString(number)),
	concat('{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"', id,
		'","stage":"ResponseComplete","verb":"get","user":{"username":"user","groups":["system:authenticated"]},',
		'"annotations":{"authorization.k8s.io/decision":"allow","x":"', hex(MD5(id)), '"}}'),
	bitShiftLeft(toUInt64(3), 56) + number
FROM (
	SELECT number, toInt64(1763769600000000 + number * (2505600000000 / ?)) AS t,
		concat(lower(hex(intHash64(number))), '-', toString(number)) AS id
	FROM system.numbers LIMIT ?
)`

const narrowCols = "ts, time_us, audit_id, stage, user, groups, impersonated_user, source_ips, user_agent, verb, api_group, resource, subresource, namespace, name, code, request_uri, decision, location, version"

// benchEvents is KAUDIT_BENCH_EVENTS, 10 million by default.
func benchEvents() int { return benchSize("KAUDIT_BENCH_EVENTS", 10_000_000) }

// benchSize is the size a benchmark is given in the environment variable
// name, or def when it is unset or not a positive number.
func benchSize(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchData opens (generating it when missing) the database of
// KAUDIT_BENCH_EVENTS events, 10 million by default, and returns a
// connection to it and an audit id of late November 2025. The tables
// beside events that the store's schema has are filled from events.
func benchData(b *testing.B) (ch.Conn, string) {
	n := benchEvents()
	ctx := context.Background()
	dsn := server.DSN(fmt.Sprintf("kaudit_bench_%d", n))
	s, err := clickhouse.Open(ctx, clickhouse.Config{DSN: dsn})
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	conn, err := ch.Open(&ch.Options{Addr: []string{server.Addr()}, Auth: ch.Auth{Database: fmt.Sprintf("kaudit_bench_%d", n)}, ReadTimeout: 30 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	var have uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have < uint64(n) {
		start := time.Now()
		if err := conn.Exec(ctx, benchGenerate, n, n); err != nil {
			b.Fatalf("generate: %v", err)
		}
		// The copies of events, filled here from events when the schema
		// has them and its views (migrations 5 and 6, which replace the
		// four copies' views together) did not fill them during the
		// generation's insert already.
		views := hasTable(ctx, conn, "event_index_fill")
		for table, fill := range map[string]string{
			"events_impersonated": "INSERT INTO events_impersonated (" + narrowCols + ") SELECT " + narrowCols + " FROM events WHERE impersonated_user != ''",
			"events_by_object":    "INSERT INTO events_by_object (" + narrowCols + ") SELECT " + narrowCols + " FROM events",
			"events_by_source":    "INSERT INTO events_by_source (source_ip, " + narrowCols + ") SELECT source_ips[1], " + narrowCols + " FROM events",
			"event_index":         "INSERT INTO event_index (ts, time_us, audit_id, stage, user, version) SELECT ts, time_us, audit_id, stage, user, version FROM events",
		} {
			if views || !hasTable(ctx, conn, table) {
				continue
			}
			if err := conn.Exec(ctx, fill); err != nil {
				b.Fatalf("generate: %v", err)
			}
		}
		b.Logf("generated %d events server-side in %s", n, time.Since(start).Round(time.Millisecond))
	}
	settle(b, conn)
	var rows, parts uint64
	_ = conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&rows)
	_ = conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active").Scan(&parts)
	b.Logf("events: %d rows in %d parts", rows, parts)
	var someID string
	if err := conn.QueryRow(ctx, "SELECT audit_id FROM events WHERE time_us > 1765000000000000 LIMIT 1").Scan(&someID); err != nil {
		b.Fatal(err)
	}
	return conn, someID
}

// settle lets background merges finish, so that they do not share the
// cores with the timed queries.
func settle(b *testing.B, conn ch.Conn) {
	for i := 0; i < 600; i++ {
		var merges uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.merges").Scan(&merges); err != nil {
			b.Fatal(err)
		}
		if merges == 0 {
			return
		}
		time.Sleep(time.Second)
	}
}

// BenchmarkTimeline10M times analyst queries over 10 million stored events
// (KAUDIT_BENCH_EVENTS overrides the count). Not part of `make test`:
//
//	go test -run '^$' -bench Timeline10M -benchtime 20x -timeout 30m ./store/clickhouse/
func BenchmarkTimeline10M(b *testing.B) {
	ctx := context.Background()
	conn, someID := benchData(b)
	defer conn.Close()
	s, err := clickhouse.Open(ctx, clickhouse.Config{DSN: server.DSN(fmt.Sprintf("kaudit_bench_%d", benchEvents()))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchTimelineQueries(b, s, conn, someID)
}

// benchTimelineQueries times the analyst's queries over the generated
// events (benchGenerate) through s; someID is an audit id to open.
func benchTimelineQueries(b *testing.B, s *clickhouse.Store, conn ch.Conn, someID string) {
	ctx := context.Background()
	if someID == "" {
		if err := conn.QueryRow(ctx, "SELECT audit_id FROM events WHERE time_us > 1765000000000000 LIMIT 1").Scan(&someID); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("event-by-id", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Event(ctx, someID); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name string
		q    store.Query
	}{
		{"actor", store.Query{Actor: "user-42"}},
		{"actor-limit100", store.Query{Actor: "user-42", Limit: 100}},
		{"actor-last-day", store.Query{Actor: "user-42", Since: time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC), Until: time.Date(2025, 12, 20, 23, 59, 59, 0, time.UTC)}},
		{"impersonated", store.Query{Actor: "imp-user", Limit: 1000}},
		{"object", store.Query{Resource: "pods", Namespace: "ns-5", Name: "obj-1005", Limit: 1000}},
		{"source-ip", store.Query{SourceIP: "10.0.1.1", Limit: 1000}},
		{"audit-id", store.Query{AuditID: someID}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var got int
			for b.Loop() {
				es, err := s.Timeline(ctx, c.q)
				if err != nil {
					b.Fatal(err)
				}
				got = len(es)
			}
			b.ReportMetric(float64(got), "entries")
		})
	}
}
