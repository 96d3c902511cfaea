package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Every statement of every migration has a cluster form, and each table
// kaudit creates has a sharding key.
func TestEveryMigrationHasAClusterForm(t *testing.T) {
	stmts := []string{migrationsTable}
	for _, m := range migrations {
		stmts = append(stmts, m.statements...)
	}
	created := map[string]bool{}
	for _, stmt := range stmts {
		got, err := clusterStatements("kaudit", "prod", stmt)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range got {
			if !strings.Contains(st.sql, " ON CLUSTER `prod` ") {
				t.Fatalf("not ON CLUSTER: %s", st.sql)
			}
			if st.creates != "" {
				created[st.creates] = true
			}
		}
	}
	for _, table := range append([]string{"schema_migrations"}, retainedTables...) {
		if !created[table] || !created[table+"_local"] {
			t.Errorf("table %s: the cluster form creates %v; want %[1]s and %[1]s_local", table, created)
		}
	}
}

func TestClusterStatements(t *testing.T) {
	for _, c := range []struct {
		stmt string
		want []string
	}{
		{
			"CREATE TABLE IF NOT EXISTS incidents (\n\tstart DateTime('UTC'),\n\tid String,\n\tversion UInt64\n) ENGINE = ReplacingMergeTree(version)\nPARTITION BY toYYYYMMDD(start)\nORDER BY id",
			[]string{
				"CREATE TABLE IF NOT EXISTS `k`.`incidents_local` ON CLUSTER `c` (\n\tstart DateTime('UTC'),\n\tid String,\n\tversion UInt64\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/k/incidents', '{replica}', version)\nPARTITION BY toYYYYMMDD(start)\nORDER BY id",
				"CREATE TABLE IF NOT EXISTS `k`.`incidents` ON CLUSTER `c` AS `k`.`incidents_local` ENGINE = Distributed('c', 'k', 'incidents_local', sipHash64(id))",
			},
		},
		{
			"ALTER TABLE events ADD COLUMN x String",
			[]string{"ALTER TABLE `k`.`events_local` ON CLUSTER `c` ADD COLUMN x String", "ALTER TABLE `k`.`events` ON CLUSTER `c` ADD COLUMN x String"},
		},
		{
			"ALTER TABLE events DROP COLUMN x",
			[]string{"ALTER TABLE `k`.`events` ON CLUSTER `c` DROP COLUMN x", "ALTER TABLE `k`.`events_local` ON CLUSTER `c` DROP COLUMN x"},
		},
		{
			"ALTER TABLE events DROP PARTITION 20261122",
			[]string{"ALTER TABLE `k`.`events_local` ON CLUSTER `c` DROP PARTITION 20261122"},
		},
		{
			"DROP TABLE IF EXISTS events_by_source",
			[]string{"DROP TABLE IF EXISTS `k`.`events_by_source` ON CLUSTER `c`", "DROP TABLE IF EXISTS `k`.`events_by_source_local` ON CLUSTER `c`"},
		},
		{
			// kaudit inserts the copies itself on a cluster: no view.
			"CREATE MATERIALIZED VIEW IF NOT EXISTS event_index_fill TO event_index AS\nSELECT " + indexColumns + " FROM events",
			nil,
		},
		{
			// Nor a view to drop.
			"DROP TABLE IF EXISTS events_by_source_fill",
			nil,
		},
	} {
		got, err := clusterStatements("k", "c", c.stmt)
		if err != nil {
			t.Fatalf("%s: %v", c.stmt, err)
		}
		var sqls []string
		for _, st := range got {
			sqls = append(sqls, st.sql)
		}
		if strings.Join(sqls, "\n;\n") != strings.Join(c.want, "\n;\n") {
			t.Errorf("%s:\n got  %q\n want %q", c.stmt, sqls, c.want)
		}
	}
	for _, bad := range []string{
		"CREATE TABLE IF NOT EXISTS mystery (x String) ENGINE = MergeTree() ORDER BY x",
		"INSERT INTO events SELECT * FROM events",
		"RENAME TABLE events TO events_old",
	} {
		if _, err := clusterStatements("k", "c", bad); err == nil || !strings.Contains(err.Error(), "cluster.go") {
			t.Errorf("%s: %v; want an error naming cluster.go", bad, err)
		}
	}
}

func TestClusterName(t *testing.T) {
	for name, ok := range map[string]bool{"kaudit": true, "prod-eu.1": true, "": false, "a b": false, "x`y": false, "-x": false} {
		if err := checkClusterName(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// fakeConn answers Query with the results it is given, in turn.
type fakeConn struct {
	driver.Conn
	results []fakeResult
	calls   int
}

type fakeResult struct {
	err  error     // of Query
	rows *fakeRows // else
}

func (c *fakeConn) Query(context.Context, string, ...any) (driver.Rows, error) {
	r := c.results[c.calls]
	c.calls++
	if r.err != nil {
		return nil, r.err
	}
	return r.rows, nil
}

// fakeRows yields n rows, then err.
type fakeRows struct {
	driver.Rows
	n      int
	err    error
	closed int
}

func (r *fakeRows) Next() bool {
	if r.n == 0 {
		return false
	}
	r.n--
	return true
}
func (r *fakeRows) Err() error   { return r.err }
func (r *fakeRows) Close() error { r.closed++; return nil }

func TestFailoverConnRunsAReadAgainOnABrokenConnection(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	ctx := context.Background()
	count := func(rows driver.Rows) (int, error) {
		n := 0
		for rows.Next() {
			n++
		}
		err := rows.Err()
		rows.Close()
		return n, err
	}

	// Broken at Query, then broken before the first row, then answered.
	broken := &fakeRows{err: fmt.Errorf("query processing: %w", io.EOF)}
	c := &fakeConn{results: []fakeResult{{err: reset}, {rows: broken}, {err: reset}, {rows: &fakeRows{n: 3}}}}
	rows, err := failoverConn{c}.Query(ctx, "SELECT")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := count(rows); n != 3 || err != nil || c.calls != 4 || broken.closed != 1 {
		t.Fatalf("%d rows, %v after %d calls (broken rows closed %d times); want 3 rows after 4 calls", n, err, c.calls, broken.closed)
	}

	// An answer of the server is not retried.
	ex := &ch.Exception{Code: 60, Message: "Table kaudit.nosuch doesn't exist"}
	c = &fakeConn{results: []fakeResult{{err: ex}}}
	if _, err := (failoverConn{c}).Query(ctx, "SELECT"); err != ex || c.calls != 1 {
		t.Fatalf("%v after %d calls; want the exception after 1", err, c.calls)
	}

	// Cut after rows were read: the error, not a second result.
	c = &fakeConn{results: []fakeResult{{rows: &fakeRows{n: 2, err: io.EOF}}}}
	rows, _ = failoverConn{c}.Query(ctx, "SELECT")
	if n, err := count(rows); n != 2 || !errors.Is(err, io.EOF) || c.calls != 1 {
		t.Fatalf("%d rows, %v after %d calls; want 2 rows and EOF after 1", n, err, c.calls)
	}

	// Broken every time: the last error, after every retry.
	results := make([]fakeResult, len(readRetries)+1)
	for i := range results {
		results[i] = fakeResult{err: reset}
	}
	c = &fakeConn{results: results}
	if _, err := (failoverConn{c}).Query(ctx, "SELECT"); !errors.Is(err, syscall.ECONNRESET) || c.calls != len(results) {
		t.Fatalf("%v after %d calls; want ECONNRESET after %d", err, c.calls, len(results))
	}
}

// TestRereadStartsOver: a cluster-mode read cut part-way by a broken
// connection is read again from the start, and its partial answer dropped;
// a single server's read, or an answer of the server, is not.
func TestRereadStartsOver(t *testing.T) {
	ctx := context.Background()
	cut := fmt.Errorf("timeline query: %w", io.EOF)
	read := func(errs ...error) (func() ([]int, error), *int) {
		calls := 0
		return func() ([]int, error) {
			calls++
			if calls <= len(errs) {
				return []int{1}, errs[calls-1] // a partial answer
			}
			return []int{1, 2, 3}, nil
		}, &calls
	}

	f, calls := read(cut, cut)
	got, err := reread(ctx, &Store{cfg: Config{Cluster: "c"}}, f)
	if err != nil || len(got) != 3 || *calls != 3 {
		t.Fatalf("cluster: %v, %v after %d calls; want the whole answer after 3", got, err, *calls)
	}

	f, calls = read(cut)
	if _, err := reread(ctx, &Store{}, f); !errors.Is(err, io.EOF) || *calls != 1 {
		t.Fatalf("single server: %v after %d calls; want EOF after 1", err, *calls)
	}

	ex := &ch.Exception{Code: 241, Message: "Memory limit exceeded"}
	f, calls = read(ex)
	if _, err := reread(ctx, &Store{cfg: Config{Cluster: "c"}}, f); err != ex || *calls != 1 {
		t.Fatalf("server's answer: %v after %d calls; want the exception after 1", err, *calls)
	}
}
