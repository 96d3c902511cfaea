package clickhouse_test

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/storetest"
)

// Times before 1970 or after 2105 do not fit ClickHouse's DateTime (or,
// on 18.16.1, its date tables): ts and the partition take the nearest end
// of the range instead of wrapping around, while time_us, the event JSON and every query keep them exact.
func TestTimesOutsideDateTimeRange(t *testing.T) {
	ctx := context.Background()
	db := newDB()
	s := open(t, clickhouse.Config{DSN: server.DSN(db)})
	sample := storetest.LoadSample(t)
	early := time.Date(1960, 1, 2, 3, 4, 5, 6000, time.UTC)
	late := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	var recs []ingest.Record
	for _, c := range []struct {
		id string
		at time.Time
	}{{"early", early}, {"late", late}} {
		r := storetest.Copy(t, sample[0], c.id, c.at)
		r.Event.StageTimestamp.Time = c.at
		recs = append(recs, r)
	}
	f := detect.Finding{Type: "finding", Rule: "event-dated-ahead", Severity: "medium", AuditID: "late", Stage: string(recs[1].Event.Stage),
		Time: late.Format(detect.TimeFormat), At: late, User: "mallory"}
	if err := s.Write(ctx, recs, []detect.Finding{f}); err != nil {
		t.Fatal(err)
	}
	inc := incident.Incident{ID: "inc-early", Severity: "medium", Actors: []string{"mallory"}, StartTime: early, EndTime: early,
		Start: early.Format(detect.TimeFormat), End: early.Format(detect.TimeFormat)}
	if err := s.WriteIncidents(ctx, []incident.Incident{inc}); err != nil {
		t.Fatal(err)
	}

	query := func(q string) string {
		out, err := exec.Command("clickhouse-client", append(server.ClientArgs(), "--database", db, "--query", q)...).CombinedOutput()
		if err != nil {
			t.Fatalf("clickhouse-client %q: %v: %s", q, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	got := query("SELECT audit_id, toUnixTimestamp(ts), time_us FROM events ORDER BY audit_id FORMAT TSV")
	want := "early\t0\t" + strconv.FormatInt(early.UnixMicro(), 10) + "\nlate\t4291747199\t" + strconv.FormatInt(late.UnixMicro(), 10)
	if got != want {
		t.Errorf("events ts and time_us:\n%s\nwant\n%s", got, want)
	}
	for table, want := range map[string]string{
		"events": "19700101\n21051231", "events_by_object": "19700101\n21051231", "event_index": "19700101\n21051231",
		"findings": "21051231", "incidents": "19700101",
	} {
		if got := query("SELECT DISTINCT partition FROM system.parts WHERE database = '" + db + "' AND table = '" + table + "' AND active ORDER BY partition FORMAT TSV"); got != want {
			t.Errorf("partitions of %s: %q, want %q", table, got, want)
		}
	}

	tl, err := s.Timeline(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var times []string
	for _, e := range tl {
		times = append(times, e.AuditID+" "+e.Time)
	}
	if wantTimes := []string{"early " + early.Format(detect.TimeFormat), "late " + late.Format(detect.TimeFormat)}; !slices.Equal(times, wantTimes) {
		t.Errorf("timeline times %v, want %v", times, wantTimes)
	}
	for _, c := range []struct {
		q    store.Query
		want string
	}{
		{store.Query{Since: time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC)}, "late"},
		{store.Query{Until: time.Date(1965, 1, 1, 0, 0, 0, 0, time.UTC)}, "early"},
	} {
		tl, err := s.Timeline(ctx, c.q)
		if err != nil || len(tl) != 1 || tl[0].AuditID != c.want {
			t.Errorf("window %v..%v: %v %v, want %s", c.q.Since, c.q.Until, tl, err, c.want)
		}
	}
	for id, at := range map[string]time.Time{"early": early, "late": late} {
		stages, err := s.Event(ctx, id)
		if err != nil || len(stages) != 1 || !strings.Contains(string(stages[0]), at.Format("2006-01-02T15:04:05.999999Z")) {
			t.Errorf("event %s JSON does not keep its exact time %s: %v %s", id, at, err, stages)
		}
	}
	incs, err := s.Incidents(ctx, store.IncidentQuery{})
	if err != nil || len(incs) != 1 || !incs[0].StartTime.Equal(early) {
		t.Errorf("incident start read back as %v (%v), want %s", incs, err, early)
	}
}
