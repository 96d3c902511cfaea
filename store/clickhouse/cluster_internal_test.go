package clickhouse

import (
	"strings"
	"testing"
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
