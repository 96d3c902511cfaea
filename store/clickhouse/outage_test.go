package clickhouse_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
	"github.com/kaudit/kaudit/store/storetest"
)

// TestServerGoesAwayAndComesBack kills ClickHouse while batches are being
// written, restarts it on the same data and ports, and checks that every
// batch landed, once: a synchronous Write (the webhook's) blocks through the
// outage and returns nil only when stored; asynchronous writes (replay's)
// are held and sent on Flush.
func TestServerGoesAwayAndComesBack(t *testing.T) {
	srv := chtest.Start(t) // its own server: this test kills it
	ctx := context.Background()
	recs := storetest.LoadSample(t)
	third := len(recs) / 3
	a, b, c := recs[:third], recs[third:2*third], recs[2*third:]

	failures := make(chan string, 100)
	cfg := clickhouse.Config{
		DSN: srv.DSN("kaudit"), BatchAge: 10 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, RetryFor: 3 * time.Minute,
		Logf: func(format string, args ...any) {
			msg := fmt.Sprintf(format, args...)
			t.Log(msg)
			select {
			case failures <- msg:
			default:
			}
		},
	}
	s, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(ctx, a, nil); err != nil {
		t.Fatal(err)
	}

	// Synchronous write during the outage.
	srv.Kill()
	errc := make(chan error, 1)
	go func() { errc <- s.Write(ctx, b, nil) }()
	if msg := <-failures; !strings.Contains(msg, "retrying") {
		t.Fatalf("expected a retry, got %q", msg)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write through the outage: %v", err)
	}

	// Asynchronous writes: the server dies between buffering and sending.
	cfg.Async = true
	as, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	srv.Kill()
	for len(failures) > 0 {
		<-failures
	}
	half := len(c) / 2
	for _, part := range [][]ingest.Record{c[:half], c[half:]} {
		if err := as.Write(ctx, part, nil); err != nil {
			t.Fatalf("async write: %v", err)
		}
	}
	<-failures
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := as.Flush(ctx); err != nil {
		t.Fatalf("flush after the outage: %v", err)
	}

	want := storetest.ExpectedRequests(recs)
	got, err := s.Timeline(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("after the outage: %d requests, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].AuditID != want[i].AuditID || got[i].Stage != want[i].Stage {
			t.Fatalf("entry %d: %s/%s, want %s/%s", i, got[i].AuditID, got[i].Stage, want[i].AuditID, want[i].Stage)
		}
	}
	// Each (audit id, stage) is stored once: the batches were sent to a
	// dead server, so no attempt half-succeeded.
	conn, err := ch.Open(&ch.Options{Addr: []string{srv.Addr()}, Auth: ch.Auth{Database: "kaudit"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rows, distinct uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(audit_id, stage) FROM events").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != uint64(len(recs)) || distinct != uint64(len(recs)) {
		t.Fatalf("events table holds %d rows, %d distinct; want %d", rows, distinct, len(recs))
	}
}
