// Package ingesttest reads audit-log fixtures for the tests of the stages
// after ingest (detection, correlation, the pipeline, the rule library), so
// that each of them decodes real apiserver logs the same way.
package ingesttest

import (
	"bufio"
	"os"
	"testing"

	"github.com/kaudit/kaudit/ingest"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Events decodes every line of a JSON-lines audit log; a line that does not
// decode fails the test, since fixtures are real apiserver output.
func Events(tb testing.TB, path string) []*auditv1.Event {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), ingest.DefaultMaxLine)
	var out []*auditv1.Event
	for line := 1; sc.Scan(); line++ {
		ev, err := ingest.DecodeEvent(sc.Bytes())
		if err != nil {
			tb.Fatalf("%s:%d: %v", path, line, err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return out
}
