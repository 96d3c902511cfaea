package clickhouse_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

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
