package clickhouse_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/storetest"
)

func TestRetentionDropsWholeOldDays(t *testing.T) {
	ctx := context.Background()
	s := open(t, clickhouse.Config{RetentionDays: 7})
	sample := storetest.LoadSample(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ages := []int{30, 8, 7, 1} // days before now
	var recs []ingest.Record
	for _, age := range ages {
		at := now.AddDate(0, 0, -age)
		for i := range 5 {
			recs = append(recs, storetest.Copy(t, sample[i], fmt.Sprintf("age-%02d-%d", age, i), at.Add(time.Duration(i)*time.Second)))
		}
	}
	if err := s.Write(ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
	old := incident.Incident{ID: "inc-old", Severity: "high", Actors: []string{"x"}, StartTime: now.AddDate(0, 0, -30)}
	old.Start, old.End = old.StartTime.Format(time.RFC3339Nano), old.StartTime.Format(time.RFC3339Nano)
	recent := old
	recent.ID, recent.StartTime = "inc-recent", now.AddDate(0, 0, -1)
	recent.Start, recent.End = recent.StartTime.Format(time.RFC3339Nano), recent.StartTime.Format(time.RFC3339Nano)
	if err := s.WriteIncidents(ctx, []incident.Incident{old, recent}); err != nil {
		t.Fatal(err)
	}

	dropped, err := s.ApplyRetention(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	day := func(age int) string { return now.AddDate(0, 0, -age).Format("20060102") }
	var want []string
	for _, table := range []string{"events", "events_by_object", "events_by_source", "event_index"} {
		want = append(want, table+"/"+day(30), table+"/"+day(8))
	}
	want = append(want, "incidents/"+day(30))
	slices.Sort(dropped)
	slices.Sort(want)
	if !slices.Equal(dropped, want) {
		t.Fatalf("dropped %v, want %v", dropped, want)
	}
	tl, err := s.Timeline(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 10 || tl[0].AuditID != "age-07-0" || tl[9].AuditID != "age-01-4" {
		t.Fatalf("after retention: %d entries, first %v", len(tl), tl)
	}
	incs, err := s.Incidents(ctx, store.IncidentQuery{})
	if err != nil || len(incs) != 1 || incs[0].ID != "inc-recent" {
		t.Fatalf("incidents after retention: %v, %v", incs, err)
	}
	// Again: nothing left to drop.
	if dropped, err := s.ApplyRetention(ctx, now); err != nil || len(dropped) != 0 {
		t.Fatalf("second retention: %v, %v", dropped, err)
	}
}
