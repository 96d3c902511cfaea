package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

// BenchmarkReplayStoreClusterVsServer measures `kaudit replay --store` on
// the same file (the sample repeated KAUDIT_BENCH_COPIES times, default
// 200, about 225,000 events with fresh audit ids per copy) into one
// clickhouse-server and into the test cluster (store.cluster: ZooKeeper and
// four clickhouse-server, two shards of two replicas, synchronous inserts
// through the Distributed tables), alternating in the same run; each
// database's schema is created before the clock starts. All of it
// shares this machine's cores: the cluster does the work of two servers
// (every row is written twice, once per replica) on the cores of one.
//
//	go test -run '^$' -bench ReplayStoreClusterVsServer -benchtime 3x -timeout 30m ./cmd/kaudit/
func BenchmarkReplayStoreClusterVsServer(b *testing.B) {
	copies := 200
	if v, err := strconv.Atoi(os.Getenv("KAUDIT_BENCH_COPIES")); err == nil && v > 0 {
		copies = v
	}
	path, events := writeCopies(b, copies)
	srv := chtest.Start(b)
	start := time.Now()
	cl := chtest.StartCluster(b)
	b.Logf("cluster started in %s", time.Since(start).Round(time.Millisecond))
	b.Setenv("KAUDIT_REDACT_KEY", "bench")
	stored := func(n *chtest.Server, db string) string {
		out, err := n.Query("SELECT uniqExact(audit_id, stage) FROM " + db + ".events")
		if err != nil {
			b.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	replay := func(dsn, cluster string) time.Duration {
		b.Setenv("KAUDIT_STORE_CLUSTER", cluster)
		// The schema first, untimed: ON CLUSTER statements take a few
		// seconds that say nothing of the write rate.
		st, err := clickhouse.Open(context.Background(), clickhouse.Config{DSN: dsn, Cluster: cluster})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		var stderr bytes.Buffer
		start := time.Now()
		if code := run([]string{"replay", "--store", dsn, path}, nil, io.Discard, &stderr); code != 0 {
			b.Fatalf("replay --store: exit %d: %s", code, stderr.String())
		}
		return time.Since(start)
	}
	var serverTime, clusterTime time.Duration
	for i := 0; b.Loop(); i++ {
		db := fmt.Sprintf("kaudit_%d", i)
		serverTime += replay(srv.DSN(db), "")
		if got := stored(srv, db); got != strconv.Itoa(events) {
			b.Fatalf("server: %s events stored, want %d", got, events)
		}
		clusterTime += replay(cl.DSN(db), cl.Name)
		if got := stored(cl.Nodes[3], db); got != strconv.Itoa(events) {
			b.Fatalf("cluster: %s events stored, want %d", got, events)
		}
	}
	n := float64(b.N * events)
	sRate, cRate := n/serverTime.Seconds(), n/clusterTime.Seconds()
	b.ReportMetric(sRate, "server-events/s")
	b.ReportMetric(cRate, "cluster-events/s")
	b.ReportMetric(cRate/sRate, "cluster/server")
	b.Logf("%d events per run; replay --store into one server %.0f events/s, into the 2x2 cluster %.0f events/s (%.2f of one server)", events, sRate, cRate, cRate/sRate)
}
