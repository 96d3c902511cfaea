package clickhouse

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/store"
)

// eventsOrder ranks users before it sorts: the rows it orders must come
// out in the order of the whole key, compared as strings byte by byte,
// whatever the users' names (shared heads, one a prefix of another, case,
// UTF-8) and however the times and audit ids tie.
func TestEventsOrderIsTheOrderOfTheWholeKey(t *testing.T) {
	users := []string{"system:serviceaccount:kube-system:a", "system:serviceaccount:kube-system:ab", "system:node:n1",
		"Alice", "alice", "ärger", "", "system:serviceaccount:kube-system:"}
	stages := []string{"ResponseComplete", "RequestReceived", "Panic"}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		rows := make([]store.Row, rng.IntN(300))
		for i := range rows {
			rows[i] = store.Row{User: users[rng.IntN(len(users))], At: at.Add(time.Duration(rng.IntN(20)) * time.Microsecond),
				AuditID: fmt.Sprintf("id-%d", rng.IntN(30)), Stage: stages[rng.IntN(len(stages))]}
		}
		keyOf := func(r *store.Row) string {
			return fmt.Sprintf("%q %d %q %q", r.User, r.At.UnixMicro(), r.AuditID, r.Stage)
		}
		want := slices.Clone(rows)
		slices.SortFunc(want, func(a, b store.Row) int {
			return cmp.Or(strings.Compare(a.User, b.User), cmp.Compare(a.At.UnixMicro(), b.At.UnixMicro()),
				strings.Compare(a.AuditID, b.AuditID), strings.Compare(a.Stage, b.Stage))
		})
		order := eventsOrder(rows)
		if len(order) != len(rows) {
			t.Fatalf("round %d: %d indexes for %d rows", round, len(order), len(rows))
		}
		used := make([]bool, len(rows))
		for j, i := range order {
			if used[i] {
				t.Fatalf("round %d: row %d twice", round, i)
			}
			used[i] = true
			if got, w := keyOf(&rows[i]), keyOf(&want[j]); got != w {
				t.Fatalf("round %d, position %d: %s, want %s", round, j, got, w)
			}
		}
	}
}

// BenchmarkEventsOrder orders a flush of 40,000 rows from 60 controllers
// whose names share their first 45 bytes, as a cluster's service accounts
// do.
//
//	go test -run '^$' -bench EventsOrder ./store/clickhouse/
func BenchmarkEventsOrder(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rows := make([]store.Row, 40_000)
	for i := range rows {
		rows[i] = store.Row{User: fmt.Sprintf("system:serviceaccount:kube-system:controller-%d", rng.IntN(60)),
			At:      at.Add(time.Duration(rng.IntN(2_000_000)) * time.Microsecond),
			AuditID: fmt.Sprintf("%08x-1111-2222-3333-444455556666", rng.Uint32()), Stage: "ResponseComplete"}
	}
	b.ReportAllocs()
	for b.Loop() {
		eventsOrder(rows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}
