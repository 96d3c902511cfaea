package clickhouse_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

// server is the package's ClickHouse; each test works in its own database.
var server *chtest.Server

func TestMain(m *testing.M) {
	s, err := chtest.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: ClickHouse for the tests:", err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	closeCluster()
	os.Exit(code)
}

var dbSeq atomic.Int64

// newDB names a database no other test uses.
func newDB() string { return fmt.Sprintf("kaudit_test_%d_%d", os.Getpid(), dbSeq.Add(1)) }

// open opens a store on a fresh database of the package's server.
func open(t *testing.T, cfg clickhouse.Config) *clickhouse.Store {
	t.Helper()
	if cfg.DSN == "" {
		cfg.DSN = server.DSN(newDB())
	}
	cfg.Logf = t.Logf
	s, err := clickhouse.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// serverEvent is the server's count of event (system.events: inserts,
// parts written without sorting) since it started.
func serverEvent(t testing.TB, conn ch.Conn, event string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT sum(value) FROM system.events WHERE event = ?", event).Scan(&n); err != nil {
		t.Fatalf("system.events %s: %v", event, err)
	}
	return n
}

// hasTable reports whether the connection's database holds table (a
// table or a view).
func hasTable(ctx context.Context, conn ch.Conn, table string) bool {
	var n uint64
	_ = conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", table).Scan(&n)
	return n > 0
}
