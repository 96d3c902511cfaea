package clickhouse_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, clickhouse.Config{BatchAge: 20 * time.Millisecond})
	})
}

func TestMigrationsFromEmptyAndAgain(t *testing.T) {
	ctx := context.Background()
	s := open(t, clickhouse.Config{})
	want := []int{}
	for v := 1; v <= clickhouse.LatestMigration(); v++ {
		want = append(want, v)
	}
	got, err := s.AppliedMigrations(ctx)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("after first open: %v, %v; want %v", got, err, want)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if got, err := s.AppliedMigrations(ctx); err != nil || !slices.Equal(got, want) {
		t.Fatalf("after second migrate: %v, %v; want %v", got, err, want)
	}
}

func TestConcurrentMigrators(t *testing.T) {
	dsn := server.DSN(newDB())
	const n = 3
	stores := make([]*clickhouse.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = clickhouse.Open(context.Background(), clickhouse.Config{DSN: dsn})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	got, err := stores[0].AppliedMigrations(context.Background())
	if err != nil || len(got) != clickhouse.LatestMigration() {
		t.Fatalf("applied after concurrent migrations: %v, %v", got, err)
	}
	// The store works after racing migrations.
	recs := storetest.LoadSample(t)[:50]
	if err := stores[1].Write(context.Background(), recs, nil); err != nil {
		t.Fatal(err)
	}
	tl, err := stores[2].Timeline(context.Background(), store.Query{})
	if err != nil || len(tl) != len(storetest.ExpectedRequests(recs)) {
		t.Fatalf("timeline after concurrent migrations: %d entries, %v", len(tl), err)
	}
}
