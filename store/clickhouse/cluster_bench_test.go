package clickhouse_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/store/clickhouse"
)

// BenchmarkClusterTimeline10M is BenchmarkTimeline10M on the test cluster
// (ZooKeeper and four clickhouse-server, two shards of two replicas, all on
// this machine's cores): the same 10 million generated events
// (KAUDIT_BENCH_EVENTS overrides the count), written through the
// Distributed tables so that every row lands on the shard kaudit would put
// it on and is replicated, then the same queries through the Distributed
// tables. Not part of `make test`:
//
//	go test -run '^$' -bench ClusterTimeline10M -benchtime 20x -timeout 60m ./store/clickhouse/
func BenchmarkClusterTimeline10M(b *testing.B) {
	n := benchEvents()
	c := sharedCluster(b)
	ctx := context.Background()
	db := fmt.Sprintf("kaudit_bench_%d", n)
	s, err := clickhouse.Open(ctx, clickhouse.Config{DSN: c.DSN(db), Cluster: c.Name, Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	conn, err := ch.Open(&ch.Options{Addr: []string{c.Nodes[0].Addr()}, Auth: ch.Auth{Database: db}, ReadTimeout: 60 * time.Minute,
		Settings: ch.Settings{"insert_distributed_sync": 1, "prefer_localhost_replica": 0}})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if err := conn.Exec(ctx, benchGenerate, n, n); err != nil {
		b.Fatalf("generate: %v", err)
	}
	for _, fill := range []string{
		"INSERT INTO events_impersonated (" + narrowCols + ") SELECT " + narrowCols + " FROM events WHERE impersonated_user != ''",
		"INSERT INTO events_by_object (" + narrowCols + ") SELECT " + narrowCols + " FROM events",
		"INSERT INTO events_by_source (source_ip, " + narrowCols + ") SELECT source_ips[1], " + narrowCols + " FROM events",
		"INSERT INTO event_index (ts, time_us, audit_id, stage, user, version) SELECT ts, time_us, audit_id, stage, user, version FROM events",
	} {
		if err := conn.Exec(ctx, fill); err != nil {
			b.Fatalf("generate: %v", err)
		}
	}
	b.Logf("generated %d events through the Distributed tables in %s", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := c.SyncReplicas(db); err != nil {
		b.Fatal(err)
	}
	// Let replication and merges settle on every node, so that they do not
	// share the cores with the timed queries.
	for i := 0; i < 1200; i++ {
		busy := 0
		for _, node := range c.Nodes {
			out, err := node.Query("SELECT (SELECT count() FROM system.merges) + (SELECT count() FROM system.replication_queue)")
			if err != nil {
				b.Fatal(err)
			}
			v, _ := strconv.Atoi(strings.TrimSpace(out))
			busy += v
		}
		if busy == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	b.Logf("replicas synchronised and merges done in %s", time.Since(start).Round(time.Millisecond))
	for _, node := range c.Nodes {
		out, _ := node.Query(fmt.Sprintf("SELECT sum(rows), count() FROM system.parts WHERE database = '%s' AND table = 'events_local' AND active", db))
		f := strings.Fields(out)
		if len(f) == 2 {
			b.Logf("events: node %s holds %s rows in %s parts", node.Addr(), f[0], f[1])
		}
	}
	benchTimelineQueries(b, s, conn, "")
}
