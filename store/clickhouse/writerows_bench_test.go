package clickhouse_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/kaudit/kaudit/store/clickhouse"
)

// BenchmarkWriteRows is the spool flusher's write: rendered rows of the
// sample (fresh audit ids), a flush of KAUDIT_BENCH_ROWS rows (default
// 40,000, about a 64 MiB flush) per op, into every table. It reports
// kaudit's own CPU per stored row (cpu_ns/row: this process's, while
// ns/op includes waiting for ClickHouse), ClickHouse's (ch_cpu_ns/row: its
// inserts and the merges they started, as far as they went) and kaudit's
// allocations per flush; what each table costs ClickHouse is
// BenchmarkCopyInsertCost's.
//
//	go test -run '^$' -bench WriteRows -benchtime 20x ./store/clickhouse/
func BenchmarkWriteRows(b *testing.B) {
	n := benchSize("KAUDIT_BENCH_ROWS", 40_000)
	rows := sampleRows(b, n)
	s, err := clickhouse.Open(context.Background(), clickhouse.Config{DSN: server.DSN(fmt.Sprintf("kaudit_writerows_%d", os.Getpid()))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	cpu0, ch0 := cpuOf(os.Getpid()), cpuOf(server.Pid()) // this process, and ClickHouse
	for b.Loop() {
		if err := s.WriteRows(context.Background(), rows, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuOf(os.Getpid())-cpu0).Nanoseconds())/float64(b.N*n), "cpu_ns/row")
	b.ReportMetric(float64((cpuOf(server.Pid())-ch0).Nanoseconds())/float64(b.N*n), "ch_cpu_ns/row")
}
