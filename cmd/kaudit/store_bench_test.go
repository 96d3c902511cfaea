package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

// BenchmarkReplayStoreVsRawLoad measures, in one run on the same file (the
// sample repeated KAUDIT_BENCH_COPIES times, default 200, about 225,000
// events, each copy with fresh audit ids so that nothing deduplicates),
// `kaudit replay --store` (decode, redact, every rule, correlation, every
// event stored) against clickhouse-client loading the same lines raw into a
// table of one String column: the cost of merely keeping the bytes.
//
//	go test -run '^$' -bench ReplayStoreVsRawLoad -benchtime 3x -timeout 30m ./cmd/kaudit/
func BenchmarkReplayStoreVsRawLoad(b *testing.B) {
	copies := 200
	if v, err := strconv.Atoi(os.Getenv("KAUDIT_BENCH_COPIES")); err == nil && v > 0 {
		copies = v
	}
	path, events := writeCopies(b, copies)
	srv := chtest.Start(b)
	ctx := context.Background()
	conn, err := ch.Open(&ch.Options{Addr: []string{srv.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	b.Setenv("KAUDIT_REDACT_KEY", "bench")
	var rawTime, kauditTime time.Duration
	for i := 0; b.Loop(); i++ {
		table := fmt.Sprintf("raw_%d", i)
		if err := conn.Exec(ctx, "CREATE TABLE "+table+" (line String) ENGINE = MergeTree ORDER BY tuple()"); err != nil {
			b.Fatal(err)
		}
		load := fmt.Sprintf(`sed 's/\\/\\\\/g' %s | clickhouse-client --host 127.0.0.1 --port %d --query "INSERT INTO %s FORMAT TabSeparated"`, path, srv.TCPPort, table)
		start := time.Now()
		if out, err := exec.Command("bash", "-o", "pipefail", "-c", load).CombinedOutput(); err != nil {
			b.Fatalf("raw load: %v\n%s", err, out)
		}
		rawTime += time.Since(start)
		var loaded uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&loaded); err != nil || loaded != uint64(events) {
			b.Fatalf("raw load: %d rows, want %d (%v)", loaded, events, err)
		}

		dsn := srv.DSN(fmt.Sprintf("kaudit_%d", i))
		start = time.Now()
		var stderr bytes.Buffer
		if code := run([]string{"replay", "--store", dsn, path}, nil, io.Discard, &stderr); code != 0 {
			b.Fatalf("replay --store: exit %d: %s", code, stderr.String())
		}
		kauditTime += time.Since(start)
		var stored uint64
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count() FROM kaudit_%d.events", i)).Scan(&stored); err != nil || stored != uint64(events) {
			b.Fatalf("replay --store: %d rows stored, want %d (%v)", stored, events, err)
		}
	}
	n := float64(b.N * events)
	rawRate, kRate := n/rawTime.Seconds(), n/kauditTime.Seconds()
	b.ReportMetric(rawRate, "raw-events/s")
	b.ReportMetric(kRate, "kaudit-events/s")
	b.ReportMetric(kRate/rawRate, "kaudit/raw")
	b.Logf("%d events per run; raw clickhouse-client load %.0f events/s, kaudit replay --store %.0f events/s (%.2f of raw)", events, rawRate, kRate, kRate/rawRate)
}

// writeCopies writes the sample copies times, each copy's audit ids made
// unique by replacing their first four hex digits with the copy number.
func writeCopies(b *testing.B, copies int) (string, int) {
	b.Helper()
	data, err := os.ReadFile(sample)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "copies.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	key := []byte(`"auditID":"`)
	events := 0
	for c := 0; c < copies; c++ {
		prefix := []byte(fmt.Sprintf("%04x", c))
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if i := bytes.Index(line, key); i >= 0 {
				j := i + len(key)
				line = append(append(append([]byte{}, line[:j]...), prefix...), line[j+4:]...)
			}
			w.Write(line)
			events++
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path, events
}
