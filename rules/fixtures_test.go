package rules

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"
)

// TestFixturesAreTheRepositoryLogs checks that the gzip logs the rule tests
// embed are byte for byte the real apiserver logs kept in testdata/, so the
// rule tests run on exactly what the apiserver wrote.
func TestFixturesAreTheRepositoryLogs(t *testing.T) {
	names, err := fs.Glob(FS, "testdata/*.log.gz")
	if err != nil || len(names) == 0 {
		t.Fatalf("no embedded fixtures: %v", err)
	}
	for _, n := range names {
		f, err := FS.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		got, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		plain := "../testdata/" + strings.TrimSuffix(path.Base(n), ".gz")
		want, err := os.ReadFile(plain)
		if err != nil {
			t.Fatalf("%s has no plain copy: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: run testdata/scenarios/record.sh again or gzip -9n the log", n, plain)
		}
	}
}
