package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var auditIDPrefix = regexp.MustCompile(`"auditID":"[0-9a-f]{8}`)

// BenchmarkReplay measures whole replay (decode, redact, every rule,
// correlation, JSON output) on the sample repeated 50 times.
func BenchmarkReplay(b *testing.B) {
	data, err := os.ReadFile(sample)
	if err != nil {
		b.Fatal(err)
	}
	copies := 50
	if n, err := strconv.Atoi(os.Getenv("KAUDIT_BENCH_COPIES")); err == nil && n > 0 {
		copies = n
	}
	path := filepath.Join(b.TempDir(), "big.log")
	// Each copy gets audit ids of its own, so that copies are distinct
	// requests rather than redeliveries (which the correlator folds).
	var big strings.Builder
	for i := 0; i < copies; i++ {
		big.WriteString(auditIDPrefix.ReplaceAllString(string(data), fmt.Sprintf(`"auditID":"%08x`, i)))
	}
	if err := os.WriteFile(path, []byte(big.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	events := copies * strings.Count(string(data), "\n")
	b.Setenv("KAUDIT_REDACT_KEY", "bench")
	b.SetBytes(int64(len(data) * copies))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := run([]string{"replay", "--format", "json", path}, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}
