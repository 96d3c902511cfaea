package clickhouse_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kaudit/kaudit/store/clickhouse"
)

// BenchmarkWriteRows is the spool flusher's write: rendered rows of the
// sample (fresh audit ids), a flush of KAUDIT_BENCH_ROWS rows (default
// 40,000, about a 64 MiB flush) per op, into every table. It reports
// kaudit's own CPU per stored row (cpu_ns/row: this process's, while
// ns/op includes waiting for ClickHouse) and its allocations per flush;
// ClickHouse's side is BenchmarkCopyInsertCost's.
//
//	go test -run '^$' -bench WriteRows -benchtime 20x ./store/clickhouse/
func BenchmarkWriteRows(b *testing.B) {
	n := 40_000
	if v, err := strconv.Atoi(os.Getenv("KAUDIT_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	rows := sampleRows(b, n)
	s, err := clickhouse.Open(context.Background(), clickhouse.Config{DSN: server.DSN(fmt.Sprintf("kaudit_writerows_%d", os.Getpid()))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if err := s.WriteRows(context.Background(), rows, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N*n), "cpu_ns/row")
}

// processCPU is this process's user and system CPU time: kaudit's side of
// a write, ClickHouse being another process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
