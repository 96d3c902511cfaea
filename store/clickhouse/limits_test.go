package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
	"github.com/kaudit/kaudit/store/storetest"
)

// Every analyst query carries the limits: past one it fails with
// store.ErrQueryLimit (an analyst's error to fix by narrowing the query),
// and ClickHouse 18.16.1 honours them.
func TestQueryLimitsStopQueries(t *testing.T) {
	ctx := context.Background()
	dsn := server.DSN(newDB())
	s := open(t, clickhouse.Config{DSN: dsn})
	recs := storetest.LoadSample(t)
	if err := s.Write(ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
	if tl, err := s.Timeline(ctx, store.Query{}); err != nil || len(tl) == 0 {
		t.Fatalf("with the default limits: %d entries, %v", len(tl), err)
	}
	for name, cfg := range map[string]clickhouse.Config{
		"rows read": {DSN: dsn, QueryMaxRowsRead: 100},
		"memory":    {DSN: dsn, QueryMaxMemory: 64 << 10},
	} {
		limited := open(t, cfg)
		_, err := limited.Timeline(ctx, store.Query{})
		if !errors.Is(err, store.ErrQueryLimit) {
			t.Errorf("%s limit: timeline error %v, want store.ErrQueryLimit", name, err)
		}
		if _, err := limited.Incidents(ctx, store.IncidentQuery{}); err != nil && !errors.Is(err, store.ErrQueryLimit) {
			t.Errorf("%s limit: incidents error %v", name, err)
		}
	}
}

// generateEvents has ClickHouse make n events of 2,000 users over 29 days
// from system.numbers (sending them through Go would take minutes).
const generateEvents = `INSERT INTO events (ts, time_us, audit_id, stage, user, groups, impersonated_user, source_ips, user_agent, verb, api_group, resource, subresource, namespace, name, code, request_uri, decision, location, event, version)
SELECT toDateTime(intDiv(t, 1000000)), t, id, 'ResponseComplete', concat('user-', toString(intHash32(number) %% 2000)),
	['system:authenticated'], '', ['10.0.0.1'], 'kubectl/v1.36.0', 'get', '', 'pods', '', concat('ns-', toString(number %% 50)),
	concat('obj-', toString(number %% 10000)), 200, concat('/api/v1/namespaces/ns-', toString(number %% 50), '/pods/obj-', toString(number %% 10000)),
	'allow', concat('gen:', toString(number)), concat('{"auditID":"', id, '"}'), bitShiftLeft(toUInt64(3), 56) + number
FROM (SELECT number, toInt64(1763769600000000 + number * (2505600000000 / %d)) AS t, concat(lower(hex(intHash64(number))), '-', toString(number)) AS id
	FROM system.numbers LIMIT %d)`

// Eight worst-case analyst queries at once over millions of rows (whole
// unfiltered timelines, pages at deep offsets) leave ClickHouse up: each
// query stays within its memory limit or fails with store.ErrQueryLimit,
// and the server's peak memory stays within eight limits and its own.
func TestEightWorstCaseQueriesLeaveClickHouseUp(t *testing.T) {
	const rows = 3_000_000
	const limit = 256 << 20
	ctx := context.Background()
	srv := chtest.Start(t)
	dsn := srv.DSN("worst")
	s, err := clickhouse.Open(ctx, clickhouse.Config{DSN: dsn, QueryMaxMemory: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now()
	q := fmt.Sprintf(generateEvents, rows, rows)
	if out, err := exec.Command("clickhouse-client", append(srv.ClientArgs(), "--database", "worst", "--query", q)...).CombinedOutput(); err != nil {
		t.Fatalf("generate %d events: %v: %s", rows, err, out)
	}
	base, err := srv.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d events in %s; ClickHouse peak RSS so far %d MiB", rows, time.Since(t0).Round(time.Second), base>>20)

	worst := []store.Query{
		{},                               // the whole window, unfiltered, grouped
		{Offset: 2_000_000, Limit: 1000}, // a page at a deep offset
		{Limit: 1000, Offset: 100},       // a page near the start
		{Actor: "user-7"},                // one actor's whole timeline
	}
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = s.Timeline(ctx, worst[i%len(worst)])
		}()
	}
	wg.Wait()
	for i, err := range results {
		if err != nil && !errors.Is(err, store.ErrQueryLimit) {
			t.Errorf("query %d (%+v): %v; want an answer or store.ErrQueryLimit", i, worst[i%len(worst)], err)
		}
		t.Logf("query %d %+v: %v", i, worst[i%len(worst)], err)
	}
	if !srv.Running() {
		t.Fatal("ClickHouse died")
	}
	peak, err := srv.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ClickHouse peak RSS after eight parallel worst-case queries: %d MiB (limit %d MiB a query)", peak>>20, limit>>20)
	if bound := base + 8*limit + 512<<20; peak > bound {
		t.Errorf("ClickHouse peak RSS %d MiB, want at most %d MiB", peak>>20, bound>>20)
	}
	// Pages, however deep, are answered within the limits.
	for _, q := range worst[1:3] {
		tl, err := s.Timeline(ctx, q)
		if err != nil || len(tl) != q.Limit {
			t.Errorf("page %+v: %d entries, %v", q, len(tl), err)
		}
	}
	if out, err := exec.Command("clickhouse-client", append(srv.ClientArgs(), "--query", "SELECT 1")...).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("ClickHouse does not answer after the queries: %v %s", err, out)
	}
}
