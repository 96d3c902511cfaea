package clickhouse

// Cluster mode (Config.Cluster, the store.cluster key): the same schema
// and the same queries on a ClickHouse cluster.
//
// Every table of schema.go becomes two, on every node of the cluster:
//
//   - T_local, Replicated<engine> with the schema's columns, partitions and
//     sort key, its ZooKeeper path /clickhouse/tables/{shard}/DB/T (the
//     {shard} and {replica} macros come from each node's configuration),
//     so that the replicas of a shard hold the same rows;
//   - T, Distributed over T_local, under the name kaudit's queries and
//     inserts use, sharded by the head of T's own sort key (shardingKeys).
//
// So every statement of query.go, baseline.go and object.go runs unchanged,
// through the Distributed tables: each shard answers from its own primary
// index and the node kaudit is connected to merges the answers. Their
// aggregation by audit id with argMax(…, version) is global, and since
// every copy of a row shares its sort key, and so its shard, ReplacingMergeTree
// collapses redeliveries on that shard as on one server.
//
// Migrations run ON CLUSTER, retention drops partitions ON CLUSTER, and
// inserts into the Distributed tables are synchronous
// (insert_distributed_sync=1): Write returns only once every shard has its
// rows, which is what kaudit's acknowledgements (webhook, Kafka offsets)
// promise. Everything here exists in ClickHouse 18.16.1 with ZooKeeper and
// in current releases with ClickHouse Keeper; see deploy/scale-out.md.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// shardingKeys is the sharding expression of each table's Distributed
// table: the head of the table's sort key, so that each lookup of the
// analyst's (an actor's requests, an object's, a source's, a request by
// audit id) finds its rows on one shard, through that shard's primary
// index, and so that every copy of a row (a redelivery, a second stage)
// lands on the shard holding the first.
//
// events by user and events_impersonated by impersonated user: together,
// one actor's timeline (requests made as the actor, and made as someone
// impersonating the actor) is on one shard, the shard of the actor.
var shardingKeys = map[string]string{
	"schema_migrations":   "version",
	"events":              "sipHash64(user)",
	"events_impersonated": "sipHash64(impersonated_user)",
	"events_by_object":    "sipHash64(resource, namespace, name)",
	"events_by_source":    "sipHash64(source_ip)",
	"event_index":         "sipHash64(audit_id)",
	"findings":            "sipHash64(audit_id)",
	"incidents":           "sipHash64(id)",
	// live/notify's outbox and lease (migration 4 on main): the versions of
	// one delivery share (receiver, id), those of one lease its name.
	"notifications": "sipHash64(receiver, id)",
	"notify_lease":  "sipHash64(name)",
}

// clusterDDLTimeout is how long an ON CLUSTER statement waits for every
// node to run it (distributed_ddl_task_timeout, 180 s by default). Past it
// the statement fails here, but stays in the cluster's DDL queue: nodes
// that were down run it when they come back.
const clusterDDLTimeout = 60 * time.Second

// clusterSettings are the settings cluster mode gives every query unless
// the DSN sets them:
//   - insert_distributed_sync=1: an INSERT into a Distributed table returns
//     once every shard stored its rows (not once they are queued on the
//     receiving node's disk), so that Write's nil means stored;
//   - prefer_localhost_replica=0: the node kaudit is connected to reads and
//     writes its own shard through the same replica choice as the other
//     shards (wantLoadBalancing), not through itself, so that kaudits
//     entering the cluster through different nodes agree on which replica
//     of a shard is read and written.
var clusterSettings = map[string]any{
	"insert_distributed_sync":  1,
	"prefer_localhost_replica": 0,
}

// wantLoadBalancing is the load_balancing kaudit's user needs in its
// profile on the server (clickhouse-go cannot send a setting whose value
// is a string to 18.16.1): reads and writes then go to the first live
// replica of each shard in remote_servers' order, so that a query sees
// what the last Write stored (read your writes) while that replica is up,
// and the next replica takes over when it is not. With the default,
// random, a query right after a write may read the replica that has not
// fetched it yet.
const wantLoadBalancing = "in_order"

var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// checkClusterName refuses what cannot be a cluster of remote_servers.
func checkClusterName(cluster string) error {
	if !clusterNameRE.MatchString(cluster) {
		return fmt.Errorf("store cluster %q: not a cluster name of remote_servers (letters, digits, _ . -)", cluster)
	}
	return nil
}

// setClusterOptions checks the cluster's name and adds clusterSettings to
// the connection's settings.
func setClusterOptions(cluster string, opts *ch.Options) error {
	if err := checkClusterName(cluster); err != nil {
		return err
	}
	if opts.Settings == nil {
		opts.Settings = ch.Settings{}
	}
	for k, v := range clusterSettings {
		if _, ok := opts.Settings[k]; !ok {
			opts.Settings[k] = v
		}
	}
	return nil
}

// ddlContext gives an ON CLUSTER statement its timeout.
func ddlContext(ctx context.Context) context.Context {
	return ch.Context(ctx, ch.WithSettings(ch.Settings{"distributed_ddl_task_timeout": int(clusterDDLTimeout.Seconds())}))
}

// onCluster is the ON CLUSTER clause of a cluster's statements ("" on one
// server).
func onCluster(cluster string) string {
	if cluster == "" {
		return ""
	}
	return " ON CLUSTER " + quoteIdent(cluster)
}

// quoteString quotes a string literal for DDL.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// localTable is the name of a table's Replicated half.
func localTable(table string) string { return table + "_local" }

var (
	createTableRE = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS (\w+) (\(.*\))\s*ENGINE = (\w*MergeTree)\(([^)]*)\)(.*)$`)
	alterTableRE  = regexp.MustCompile(`(?s)^ALTER TABLE (\w+) (.*)$`)
	dropTableRE   = regexp.MustCompile(`^DROP TABLE IF EXISTS (\w+)$`)
	columnAlterRE = regexp.MustCompile(`(?i)\b(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN\b`)
	dropColumnRE  = regexp.MustCompile(`(?i)\bDROP COLUMN\b`)
)

// clusterStatement is one statement of a migration as a cluster runs it.
type clusterStatement struct {
	sql string
	// creates names the table the statement creates ("" when it creates
	// none): when the node kaudit is connected to has it, the statement
	// ran before and is not sent again (an ON CLUSTER statement waits for
	// every node, so a kaudit restarting while a node is down would
	// otherwise wait for it).
	creates string
}

// clusterStatements turns a statement of schema.go (written for one server)
// into the statements that do the same on cluster, for database db:
//
//   - CREATE TABLE IF NOT EXISTS T (…) ENGINE = XMergeTree(args) … becomes
//     T_local, ReplicatedXMergeTree('/clickhouse/tables/{shard}/DB/T',
//     '{replica}', args) with the same columns, partitions and key, then T,
//     Distributed over it by shardingKeys[T];
//   - ALTER TABLE T … alters T_local and, for column changes, T (added
//     columns on T_local first, dropped ones on T first);
//   - DROP TABLE IF EXISTS T drops T, then T_local;
//   - CREATE MATERIALIZED VIEW is nothing: on a cluster kaudit inserts the
//     copies of events itself (schema.go, migration 5, says why); so is
//     DROP TABLE IF EXISTS of a view (named …_fill, viewSuffix).
//
// Any other statement is an error: teach this function before a migration
// uses it.
func clusterStatements(db, cluster, stmt string) ([]clusterStatement, error) {
	stmt = strings.TrimSpace(stmt)
	qdb, on := quoteIdent(db), onCluster(cluster)
	name := func(t string) string { return qdb + "." + quoteIdent(t) }
	if m := createTableRE.FindStringSubmatch(stmt); m != nil {
		table, columns, engine, args, rest := m[1], m[2], m[3], strings.TrimSpace(m[4]), m[5]
		key, ok := shardingKeys[table]
		if !ok {
			return nil, fmt.Errorf("store cluster: table %s has no sharding key (shardingKeys in store/clickhouse/cluster.go)", table)
		}
		repl := quoteString("/clickhouse/tables/{shard}/"+db+"/"+table) + ", '{replica}'"
		if args != "" {
			repl += ", " + args
		}
		local := localTable(table)
		return []clusterStatement{
			{sql: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s %s ENGINE = Replicated%s(%s)%s", name(local), on, columns, engine, repl, rest), creates: local},
			{sql: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s ENGINE = Distributed(%s, %s, %s, %s)",
				name(table), on, name(local), quoteString(cluster), quoteString(db), quoteString(local), key), creates: table},
		}, nil
	}
	if strings.HasPrefix(stmt, "CREATE MATERIALIZED VIEW ") {
		return nil, nil
	}
	if m := alterTableRE.FindStringSubmatch(stmt); m != nil {
		table, change := m[1], m[2]
		local := clusterStatement{sql: fmt.Sprintf("ALTER TABLE %s%s %s", name(localTable(table)), on, change)}
		if !columnAlterRE.MatchString(change) {
			return []clusterStatement{local}, nil
		}
		dist := clusterStatement{sql: fmt.Sprintf("ALTER TABLE %s%s %s", name(table), on, change)}
		if dropColumnRE.MatchString(change) {
			return []clusterStatement{dist, local}, nil
		}
		return []clusterStatement{local, dist}, nil
	}
	if m := dropTableRE.FindStringSubmatch(stmt); m != nil {
		table := m[1]
		if strings.HasSuffix(table, viewSuffix) {
			return nil, nil // a view, which a cluster never had
		}
		return []clusterStatement{
			{sql: fmt.Sprintf("DROP TABLE IF EXISTS %s%s", name(table), on)},
			{sql: fmt.Sprintf("DROP TABLE IF EXISTS %s%s", name(localTable(table)), on)},
		}, nil
	}
	first, _, _ := strings.Cut(stmt, "\n")
	return nil, fmt.Errorf("store cluster: no cluster form for the statement %q (clusterStatements in store/clickhouse/cluster.go)", first)
}

// execSchema runs a schema statement of schema.go: as it is on one server,
// in its cluster form on a cluster.
func (s *Store) execSchema(ctx context.Context, stmt string) error {
	if s.cfg.Cluster == "" {
		return s.execIdempotent(ctx, stmt)
	}
	stmts, err := clusterStatements(s.db, s.cfg.Cluster, stmt)
	if err != nil {
		return err
	}
	for _, st := range stmts {
		if st.creates != "" {
			ok, err := s.tableExists(ctx, st.creates)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		if err := s.execIdempotent(ddlContext(ctx), st.sql); err != nil {
			return err
		}
	}
	return nil
}

// checkCluster checks that the node kaudit reached knows the cluster, and
// warns when kaudit's profile does not read and write the replicas in
// order (wantLoadBalancing).
func (s *Store) checkCluster(ctx context.Context) error {
	var nodes uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ?", s.cfg.Cluster).Scan(&nodes); err != nil {
		return fmt.Errorf("store cluster %s: %w", s.cfg.Cluster, err)
	}
	if nodes == 0 {
		return fmt.Errorf("store cluster %s: the ClickHouse kaudit reached has no such cluster in remote_servers (SELECT DISTINCT cluster FROM system.clusters)", s.cfg.Cluster)
	}
	var lb string
	if err := s.conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'load_balancing'").Scan(&lb); err != nil {
		return fmt.Errorf("store cluster %s: read load_balancing: %w", s.cfg.Cluster, err)
	}
	if lb != wantLoadBalancing {
		s.cfg.Logf("store cluster: load_balancing is %q in this user's profile; set <load_balancing>%s</load_balancing> there (deploy/scale-out.md), "+
			"else a query right after a write may read a replica that has not fetched it yet", lb, wantLoadBalancing)
	}
	return nil
}

// tableExists reports whether the node kaudit is connected to has the
// table in the store's database.
func (s *Store) tableExists(ctx context.Context, table string) (bool, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", s.db, table).Scan(&n); err != nil {
		return false, fmt.Errorf("look for table %s: %w", table, err)
	}
	return n > 0, nil
}

// createDatabaseStmt creates the store's database, on every node of a
// cluster.
func createDatabaseStmt(db, cluster string) string {
	return "CREATE DATABASE IF NOT EXISTS " + quoteIdent(db) + onCluster(cluster)
}

// partitionsQuery lists the partitions of a table holding data: from
// system.parts of the node itself, or of one replica of every shard of a
// cluster (replicas of a shard hold the same partitions).
func (s *Store) partitionsQuery(table string) (string, []any) {
	if s.cfg.Cluster == "" {
		return "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active", []any{s.db, table}
	}
	return "SELECT DISTINCT partition FROM cluster(?, system.parts) WHERE database = ? AND table = ? AND active",
		[]any{s.cfg.Cluster, s.db, localTable(table)}
}

// errRetentionQueued is returned by ApplyRetention when a drop ON CLUSTER
// did not finish on every node within clusterDDLTimeout (a node is down):
// the nodes that answered dropped the partition, the others will when they
// come back, and the next round of retention goes on with the rest.
var errRetentionQueued = errors.New("not every node of the cluster answered within " + clusterDDLTimeout.String() +
	"; the drop stays queued for them (they run it when they are back) and retention resumes at its next round")

// dropPartition drops one daily partition of a table: on the server, or on
// every replica of every shard of a cluster.
func (s *Store) dropPartition(ctx context.Context, table string, day int) error {
	if s.cfg.Cluster == "" {
		return s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %d", table, day))
	}
	err := s.conn.Exec(ddlContext(ctx), fmt.Sprintf("ALTER TABLE %s.%s%s DROP PARTITION %d",
		quoteIdent(s.db), quoteIdent(localTable(table)), onCluster(s.cfg.Cluster), day))
	var ex *ch.Exception
	if errors.As(err, &ex) && ex.Code == 159 { // TIMEOUT_EXCEEDED: distributed_ddl_task_timeout
		return fmt.Errorf("%w (%s)", errRetentionQueued, ex.Message)
	}
	return err
}

// firstRetention applies retention when the store opens: at once on one
// server; in the background on a cluster, where dropping ON CLUSTER waits
// for every node and one node down must not keep kaudit from starting.
func (s *Store) firstRetention(ctx context.Context) error {
	if s.cfg.Cluster == "" {
		_, err := s.ApplyRetention(ctx, time.Now())
		return err
	}
	s.bgDone.Add(1)
	go func() {
		defer s.bgDone.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if dropped, err := s.ApplyRetention(ctx, time.Now()); err != nil {
			s.cfg.Logf("%v", err)
		} else if len(dropped) > 0 {
			s.cfg.Logf("retention: dropped %v", dropped)
		}
	}()
	return nil
}

// readRetries are the waits before each new attempt of a read whose
// connection broke (the node kaudit was connected to went away): the next
// attempt takes another pooled connection or connects to the next node of
// the DSN. The waits matter: in the first milliseconds after a server is
// killed, its listening socket may still complete a connection that then
// breaks, and its other connections may not read as closed yet.
var readRetries = []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second}

// retryRead waits before attempt number attempt (1: the first retry) of a
// read that failed with err, and reports whether to make it.
func retryRead(ctx context.Context, attempt int, err error) bool {
	if attempt > len(readRetries) || !brokenConnection(err) {
		return false
	}
	t := time.NewTimer(readRetries[attempt-1])
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// failoverConn is the connection of cluster mode: a query whose
// connection broke before it returned a row is run again, on a new
// connection (to the next live node of the DSN), so that losing the node
// kaudit reads through costs the analyst nothing. Writes are retried by
// the writer, and DDL is not retried here.
type failoverConn struct{ driver.Conn }

// brokenConnection reports whether err says the connection failed, not
// the query: the server did not answer (an answer is an *ch.Exception).
func brokenConnection(err error) bool {
	if err == nil {
		return false
	}
	var ex *ch.Exception
	if errors.As(err, &ex) {
		return false
	}
	var op *net.OpError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) || errors.As(err, &op)
}

func (c failoverConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	for retry := 0; ; retry++ {
		rows, err := c.Conn.Query(ctx, query, args...)
		if err == nil {
			return &failoverRows{Rows: rows, conn: c, ctx: ctx, query: query, args: args, retry: retry}, nil
		}
		if !retryRead(ctx, retry+1, err) {
			return nil, err
		}
	}
}

func (c failoverConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	for retry := 0; ; retry++ {
		row := c.Conn.QueryRow(ctx, query, args...)
		if !retryRead(ctx, retry+1, row.Err()) {
			return row
		}
	}
}

// failoverRows runs its query again when the connection breaks before the
// first row: a result cut after rows were read returns the error.
type failoverRows struct {
	driver.Rows
	conn  failoverConn
	ctx   context.Context
	query string
	args  []any
	retry int
	read  bool
	err   error
	// stale: Rows was closed after its connection broke, and running the
	// query again failed too.
	stale bool
}

func (r *failoverRows) Next() bool {
	for {
		if r.err == nil {
			if r.Rows.Next() {
				r.read = true
				return true
			}
			if r.err = r.Rows.Err(); r.err == nil {
				return false // the end of the result
			}
		}
		if r.read || !retryRead(r.ctx, r.retry+1, r.err) {
			return false
		}
		r.retry++
		if !r.stale {
			_ = r.Rows.Close()
		}
		rows, err := r.conn.Conn.Query(r.ctx, r.query, r.args...)
		if err != nil {
			r.err, r.stale = err, true
			continue
		}
		r.Rows, r.err, r.stale = rows, nil, false
	}
}

func (r *failoverRows) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.Rows.Err()
}

func (r *failoverRows) Close() error {
	if r.stale {
		return nil
	}
	return r.Rows.Close()
}
