package clickhouse_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
	"github.com/kaudit/kaudit/store/storetest"
)

// cluster is the package's ClickHouse cluster (two shards of two
// replicas), started by the first test that needs it; tests that kill its
// nodes start their own.
var (
	cluster     *chtest.Cluster
	clusterOnce sync.Once
	clusterErr  error
)

func sharedCluster(t testing.TB) *chtest.Cluster {
	t.Helper()
	clusterOnce.Do(func() {
		start := time.Now()
		cluster, clusterErr = chtest.NewCluster()
		if clusterErr == nil {
			fmt.Fprintf(os.Stderr, "ClickHouse cluster (ZooKeeper, 2 shards x 2 replicas) started in %s\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if clusterErr != nil {
		t.Fatalf("ClickHouse cluster: %v", clusterErr)
	}
	return cluster
}

func closeCluster() {
	if cluster != nil {
		if err := cluster.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// openCluster opens a store in cluster mode on a fresh database of c.
func openCluster(t *testing.T, c *chtest.Cluster, db string, cfg clickhouse.Config) *clickhouse.Store {
	t.Helper()
	if db == "" {
		db = newDB()
	}
	cfg.DSN, cfg.Cluster, cfg.Logf = c.DSN(db), c.Name, t.Logf
	s, err := clickhouse.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open store on the cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

func TestClusterConformance(t *testing.T) {
	c := sharedCluster(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openCluster(t, c, "", clickhouse.Config{BatchAge: 20 * time.Millisecond})
	})
}

// query runs a statement on one node and returns its output's fields.
func query(t *testing.T, s *chtest.Server, q string) []string {
	t.Helper()
	out, err := s.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return strings.Fields(out)
}

// logicalTables are the tables kaudit reads and writes.
var logicalTables = []string{"schema_migrations", "events", "events_impersonated", "events_by_object", "events_by_source", "event_index", "findings", "incidents"}

// On every node, each table is a Replicated table T_local and a
// Distributed table T over it, sharded as cluster.go says; migrating again,
// and migrating from three kaudits at once through different nodes, is
// harmless.
func TestClusterSchema(t *testing.T) {
	c := sharedCluster(t)
	db := newDB()
	s := openCluster(t, c, db, clickhouse.Config{})
	keys := map[string]string{"events": "sipHash64(user)", "events_impersonated": "sipHash64(impersonated_user)", "incidents": "sipHash64(id)"}
	for _, n := range c.Nodes {
		for _, table := range logicalTables {
			got := query(t, n, fmt.Sprintf("SELECT name, engine FROM system.tables WHERE database = '%s' AND name IN ('%s', '%s_local') ORDER BY name", db, table, table))
			if len(got) != 4 || got[0] != table || got[1] != "Distributed" || got[2] != table+"_local" || !strings.HasPrefix(got[3], "Replicated") {
				t.Fatalf("node %s, table %s: %v; want a Distributed %[2]s over a Replicated %[2]s_local", n.Addr(), table, got)
			}
		}
		full, err := n.Query(fmt.Sprintf("SELECT engine_full FROM system.tables WHERE database = '%s' AND name = 'events'", db))
		if err != nil || !strings.Contains(full, keys["events"]) {
			t.Fatalf("events on %s: %q, %v; want sharded by %s", n.Addr(), full, err, keys["events"])
		}
	}
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := clickhouse.Open(ctx, clickhouse.Config{DSN: c.DSNFrom(i+1, "race_"+db), Cluster: c.Name})
			if err == nil {
				err = st.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
	}
	other := openCluster(t, c, "race_"+db, clickhouse.Config{})
	if got, err := other.AppliedMigrations(ctx); err != nil || len(got) != clickhouse.LatestMigration() {
		t.Fatalf("applied after concurrent migrations: %v, %v", got, err)
	}
}

// Rows land on the shard of their sort key's head, each replica of a
// shard holds the same rows, redeliveries collapse on their shard, and a
// block inserted twice is stored once (replicated deduplication).
func TestClusterShardsAndDeduplication(t *testing.T) {
	c := sharedCluster(t)
	db := newDB()
	s := openCluster(t, c, db, clickhouse.Config{BatchAge: 20 * time.Millisecond})
	ctx := context.Background()
	recs := storetest.LoadSample(t)
	for range 2 { // delivered twice
		if err := s.Write(ctx, recs, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SyncReplicas(db); err != nil {
		t.Fatal(err)
	}
	total := 0
	users := map[string]int{}
	for sh := 1; sh <= 2; sh++ {
		var replicas []string
		for _, n := range c.Shard(sh) {
			replicas = append(replicas, strings.Join(query(t, n, "SELECT count(), sum(cityHash64(audit_id, stage, version)) FROM "+db+".events_local"), " "))
		}
		if replicas[0] != replicas[1] {
			t.Fatalf("shard %d: replicas differ: %v", sh, replicas)
		}
		n := c.Shard(sh)[0]
		f := query(t, n, "SELECT count() FROM "+db+".events_local FINAL")
		var rows int
		fmt.Sscan(f[0], &rows)
		if rows == 0 {
			t.Fatalf("shard %d holds no event: sharding put everything on one shard", sh)
		}
		total += rows
		for _, u := range query(t, n, "SELECT DISTINCT user FROM "+db+".events_local") {
			users[u]++
		}
	}
	if total != len(recs) {
		t.Fatalf("the shards hold %d events once merged, want %d: a request is on two shards", total, len(recs))
	}
	for u, n := range users {
		if n != 1 {
			t.Fatalf("user %s has rows on %d shards; want one", u, n)
		}
	}
	got := query(t, c.Nodes[2], "SELECT count(), uniqExact(audit_id, stage) FROM "+db+".events FINAL")
	if got[0] != fmt.Sprint(len(recs)) || got[1] != got[0] {
		t.Fatalf("through Distributed: %v; want %d rows, each (audit_id, stage) once", got, len(recs))
	}

	// One block inserted twice through the Distributed table (as a retried
	// insert whose first attempt succeeded): the replicas keep it once.
	insert := "INSERT INTO " + db + ".events (ts, time_us, audit_id, stage, user, version) VALUES " +
		"(toDateTime(1763769600), 1763769600000000, 'dedup-1', 'ResponseComplete', 'dedup-a', 1), " +
		"(toDateTime(1763769600), 1763769600000001, 'dedup-2', 'ResponseComplete', 'dedup-b', 1), " +
		"(toDateTime(1763769600), 1763769600000002, 'dedup-3', 'ResponseComplete', 'dedup-c', 1)"
	for range 2 {
		if _, err := c.Nodes[0].Query(insert, "insert_distributed_sync=1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := query(t, c.Nodes[3], "SELECT count() FROM "+db+".events WHERE audit_id LIKE 'dedup-%'"); got[0] != "3" {
		t.Fatalf("a block inserted twice: %v rows (without FINAL), want 3", got)
	}
}

// Retention drops the old days from every replica of every shard.
func TestClusterRetentionDropsOldDaysEverywhere(t *testing.T) {
	c := sharedCluster(t)
	db := newDB()
	s := openCluster(t, c, db, clickhouse.Config{RetentionDays: 7, BatchAge: 20 * time.Millisecond})
	ctx := context.Background()
	sample := storetest.LoadSample(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var recs []ingest.Record
	for _, age := range []int{30, 8, 1} {
		at := now.AddDate(0, 0, -age)
		for i := range 40 { // many users, so that every day has rows on both shards
			recs = append(recs, storetest.Copy(t, sample[i*20], fmt.Sprintf("age-%02d-%d", age, i), at.Add(time.Duration(i)*time.Second)))
		}
	}
	if err := s.Write(ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SyncReplicas(db); err != nil {
		t.Fatal(err)
	}
	day := func(age int) string { return now.AddDate(0, 0, -age).Format("20060102") }
	partitions := func(n *chtest.Server) []string {
		return query(t, n, fmt.Sprintf("SELECT DISTINCT partition FROM system.parts WHERE database = '%s' AND table = 'events_local' AND active ORDER BY partition", db))
	}
	for _, n := range c.Nodes {
		if got := partitions(n); len(got) != 3 {
			t.Fatalf("before retention, %s holds the days %v; want 3 days on every node", n.Addr(), got)
		}
	}
	dropped, err := s.ApplyRetention(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"events", "events_by_object", "events_by_source", "event_index"} {
		for _, age := range []int{30, 8} {
			if !slices.Contains(dropped, table+"/"+day(age)) {
				t.Fatalf("dropped %v; want %s/%s among them", dropped, table, day(age))
			}
		}
	}
	for _, n := range c.Nodes {
		if got := partitions(n); !slices.Equal(got, []string{day(1)}) {
			t.Fatalf("after retention, %s holds the days %v; want only %s", n.Addr(), got, day(1))
		}
	}
	tl, err := s.Timeline(ctx, store.Query{})
	if err != nil || len(tl) != 40 {
		t.Fatalf("timeline after retention: %d entries, %v; want the 40 of the last day", len(tl), err)
	}
	if dropped, err := s.ApplyRetention(ctx, now); err != nil || len(dropped) != 0 {
		t.Fatalf("second retention: %v, %v", dropped, err)
	}
}

// The first replica of shard 1, which is also the node both stores are
// connected to, is killed while batches are written and queries run, and
// restarted: every write succeeds (failing over to the other nodes), every
// query answers, from the surviving replica while the first is down, a
// store opens meanwhile, and every event is stored exactly once, on both
// replicas.
func TestClusterReplicaKilledMidStream(t *testing.T) {
	c := chtest.StartCluster(t) // its own cluster: this test kills a node
	db := "kill"
	cfg := clickhouse.Config{BatchAge: 20 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, RetryFor: 2 * time.Minute}
	w := openCluster(t, c, db, cfg)
	r := openCluster(t, c, db, cfg)
	ctx := context.Background()
	sample := storetest.LoadSample(t)
	const batches, perBatch = 30, 400
	var written sync.WaitGroup
	progress := make(chan int, batches)
	var writeErr error
	written.Add(1)
	go func() {
		defer written.Done()
		defer close(progress)
		for b := range batches {
			recs := make([]ingest.Record, perBatch)
			for i := range recs {
				ev := *sample[(b*perBatch+i)%len(sample)].Event
				ev.AuditID = types.UID(fmt.Sprintf("kill-%03d-%03d", b, i))
				recs[i] = ingest.Record{Event: &ev, Location: "kill"}
			}
			if writeErr = w.Write(ctx, recs, nil); writeErr != nil {
				return
			}
			progress <- b
		}
	}()

	var queries, duringOutage, failures atomic.Int64
	var firstFailure atomic.Value
	var down atomic.Bool
	stop := make(chan struct{})
	var read sync.WaitGroup
	read.Add(1)
	go func() {
		defer read.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := r.Timeline(ctx, store.Query{Actor: "mallory"})
			if err == nil {
				_, _, err = r.Span(ctx)
			}
			queries.Add(1)
			if err != nil {
				failures.Add(1)
				firstFailure.CompareAndSwap(nil, err.Error())
			} else if down.Load() {
				duringOutage.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	killed := c.Nodes[0]
	for b := range progress {
		switch b {
		case batches / 3:
			killed.Kill()
			down.Store(true)
			t.Logf("killed %s (shard 1, replica 1) after %d batches", killed.Addr(), b+1)
			// A kaudit starting now finds the schema in place and sends
			// no ON CLUSTER statement (which would wait for the dead node
			// and fail).
			openCluster(t, c, db, cfg)
		case 2 * batches / 3:
			down.Store(false)
			if err := killed.Restart(); err != nil {
				t.Fatal(err)
			}
			t.Logf("restarted it after %d batches", b+1)
		}
	}
	written.Wait()
	close(stop)
	read.Wait()
	if writeErr != nil {
		t.Fatalf("a write failed: %v", writeErr)
	}
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d queries failed, the first: %v", n, queries.Load(), firstFailure.Load())
	}
	if duringOutage.Load() == 0 {
		t.Fatal("no query ran while the replica was down")
	}
	t.Logf("%d queries, %d of them answered while the replica was down", queries.Load(), duringOutage.Load())

	if err := c.SyncReplicas(db); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(batches * perBatch)
	if got := query(t, c.Nodes[1], "SELECT count(), uniqExact(audit_id, stage) FROM kill.events FINAL"); got[0] != want || got[1] != want {
		t.Fatalf("after the restart: %v rows, distinct (audit_id, stage); want %s of each", got, want)
	}
	for sh := 1; sh <= 2; sh++ {
		var replicas []string
		for _, n := range c.Shard(sh) {
			replicas = append(replicas, strings.Join(query(t, n, "SELECT count(), uniqExact(audit_id, stage) FROM kill.events_local FINAL"), " "))
		}
		if replicas[0] != replicas[1] {
			t.Fatalf("shard %d: replicas differ after the restart: %v", sh, replicas)
		}
	}
}

// A cluster the server does not know stops Open with the key's value
// named, and so does a name that cannot be a cluster's.
func TestClusterUnknown(t *testing.T) {
	c := sharedCluster(t)
	for _, name := range []string{"nosuch", "bad name"} {
		_, err := clickhouse.Open(context.Background(), clickhouse.Config{DSN: c.DSN(newDB()), Cluster: name})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("cluster %q: %v; want an error naming it", name, err)
		}
	}
	// The database exists already: the check does not rest on DDL.
	db := newDB()
	openCluster(t, c, db, clickhouse.Config{})
	if _, err := clickhouse.Open(context.Background(), clickhouse.Config{DSN: c.DSN(db), Cluster: "nosuch"}); err == nil || !strings.Contains(err.Error(), "remote_servers") {
		t.Fatalf("unknown cluster on an existing database: %v", err)
	}
}
