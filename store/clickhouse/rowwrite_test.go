package clickhouse_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/clickhouse/chtest"
)

// The array columns are handed to the driver through pointers written in
// place (stringArrays), and string columns are sized before they are
// filled (reserve): every row must still store its own text, groups and
// addresses, whatever the lengths of the rows before it, in events and in
// the copies, across blocks of an insert.
func TestWriteRowsStoresEachRowsColumns(t *testing.T) {
	db := newDB()
	s := open(t, clickhouse.Config{DSN: server.DSN(db)})
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var rows []store.Row
	want := map[string][2][]string{}
	for i := range 5000 { // more than a block of the insert
		id := fmt.Sprintf("req-%05d", i)
		groups := make([]string, (i*7)%13) // 0..12: shorter and longer than the row before
		for g := range groups {
			groups[g] = fmt.Sprintf("group-%d-%d", i, g)
		}
		ips := []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250)}
		if i%3 == 0 {
			ips = append(ips, "192.0.2.1")
		}
		rows = append(rows, store.Row{At: at.Add(time.Duration(i) * time.Millisecond), AuditID: id, Stage: "ResponseComplete",
			User: "alice", Groups: groups, SourceIPs: ips, Verb: "get", Resource: "pods", Namespace: "ns", Name: id,
			RequestURI: "/api/v1/namespaces/ns/pods/" + id,
			JSON:       []byte(`{"auditID":"` + id + `"}`)})
		want[id] = [2][]string{groups, ips}
	}
	if err := s.WriteRows(context.Background(), rows, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := ch.Open(&ch.Options{Addr: []string{server.Addr()}, Auth: ch.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The insert sized its string columns beforehand (reserve): what it
	// stored is still each row's own text.
	events, err := conn.Query(context.Background(), "SELECT audit_id, event, request_uri FROM events")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for events.Next() {
		var id, event, uri string
		if err := events.Scan(&id, &event, &uri); err != nil {
			t.Fatal(err)
		}
		if event != `{"auditID":"`+id+`"}` || uri != "/api/v1/namespaces/ns/pods/"+id {
			t.Fatalf("events %s: event %q, request_uri %q", id, event, uri)
		}
		n++
	}
	if err := events.Err(); err != nil || n != len(rows) {
		t.Fatalf("events: %d rows (%v), want %d", n, err, len(rows))
	}
	for _, table := range []string{"events", "events_by_object", "events_by_source"} {
		got, err := conn.Query(context.Background(), "SELECT audit_id, groups, source_ips FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for got.Next() {
			var id string
			var groups, ips []string
			if err := got.Scan(&id, &groups, &ips); err != nil {
				t.Fatal(err)
			}
			w := want[id]
			if !slices.Equal(groups, w[0]) && !(len(groups) == 0 && len(w[0]) == 0) || !slices.Equal(ips, w[1]) {
				t.Fatalf("%s %s: groups %q, source_ips %q, want %q, %q", table, id, groups, ips, w[0], w[1])
			}
			n++
		}
		if err := got.Err(); err != nil {
			t.Fatal(err)
		}
		wantRows := len(rows)
		if table == "events_by_source" {
			wantRows += (len(rows) + 2) / 3
		}
		if n != wantRows {
			t.Fatalf("%s: %d rows, want %d", table, n, wantRows)
		}
	}
}

// WriteRows hands ClickHouse the events' rows in the order of the table's
// key, as ClickHouse compares it (bytes, not letters; microseconds; then
// audit id and stage), so that the server does not sort them again. The
// server says whether it had to: MergeTreeDataWriterBlocksAlreadySorted
// counts the parts it wrote without sorting. Only the events insert can
// count: the copies' keys (audit id first, name first) run backwards here.
func TestWriteRowsSendsEventsInTheirKeysOrder(t *testing.T) {
	srv := chtest.Start(t) // its own server: the counter is the server's
	db := newDB()
	s := open(t, clickhouse.Config{DSN: srv.DSN(db)})
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// ClickHouse's order, written out: 'A' before 'a', a prefix first, a
	// microsecond apart, the stages of one request, UTF-8 after ASCII.
	sorted := []struct {
		user, stage string
		at          time.Time
		same        bool // the same request as the row before
	}{
		{"Alice", "ResponseComplete", at.Add(9 * time.Second), false},
		{"alice", "ResponseComplete", at.Add(time.Second), false},
		{"alice", "RequestReceived", at.Add(2 * time.Second), false},
		{"alice", "ResponseComplete", at.Add(2 * time.Second), true},
		{"alice2", "ResponseComplete", at, false},
		{"bob", "ResponseComplete", at.Add(time.Microsecond), false},
		{"bob", "ResponseComplete", at.Add(2 * time.Microsecond), false},
		{"system:serviceaccount:kube-system:x", "ResponseComplete", at.Add(-time.Hour), false},
		{"ärger", "ResponseComplete", at, false},
	}
	var rows []store.Row
	id := 99
	for _, r := range sorted {
		if !r.same {
			id-- // audit ids fall as the key rises: event_index's order is not events'
		}
		aid := fmt.Sprintf("id-%02d", id)
		rows = append(rows, store.Row{At: r.at, AuditID: aid, Stage: r.stage, User: r.user, Verb: "get",
			Resource: "pods", Namespace: "ns", Name: aid, JSON: []byte(`{"auditID":"` + aid + `"}`)})
	}
	slices.Reverse(rows)
	conn, err := ch.Open(&ch.Options{Addr: []string{srv.Addr()}, Auth: ch.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const alreadySorted = "MergeTreeDataWriterBlocksAlreadySorted"
	before := serverEvent(t, conn, alreadySorted)
	if err := s.WriteRows(context.Background(), rows, nil); err != nil {
		t.Fatal(err)
	}
	if got := serverEvent(t, conn, alreadySorted) - before; got != 1 {
		t.Errorf("%d parts were written without sorting, want 1 (events'): the rows did not reach ClickHouse in its key's order", got)
	}
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM events").Scan(&n); err != nil || n != uint64(len(rows)) {
		t.Errorf("events holds %d rows (%v), want %d", n, err, len(rows))
	}
}

// On one server kaudit sends each flush's events in one INSERT, and
// ClickHouse fills the four copies from it (the views of migration 5):
// every copy holds what kaudit inserted into it before, an impersonated
// request in events_impersonated, a row per source address in
// events_by_source, every request in events_by_object and event_index.
func TestServerFillsTheCopiesFromOneInsert(t *testing.T) {
	srv := chtest.Start(t) // its own server: the counter of inserts is the server's
	db := newDB()
	s := open(t, clickhouse.Config{DSN: srv.DSN(db)})
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var rows []store.Row
	wantSources, wantImpersonated := map[string]string{}, map[string]string{}
	for i := range 300 {
		id := fmt.Sprintf("req-%03d", i)
		r := store.Row{At: at.Add(time.Duration(i) * time.Second), AuditID: id, Stage: "ResponseComplete",
			User: fmt.Sprintf("user-%d", i%7), Verb: "get", Resource: "secrets", Namespace: "ns", Name: id,
			JSON: []byte(`{"auditID":"` + id + `"}`)}
		for a := range i % 4 { // no address, one, two, three
			r.SourceIPs = append(r.SourceIPs, fmt.Sprintf("10.0.%d.%d", a, i))
		}
		for _, ip := range r.SourceIPs { // each row holds every address
			wantSources[id+" "+ip] = strings.Join(r.SourceIPs, ",")
		}
		if i%10 == 0 {
			r.ImpersonatedUser = "admin-" + id
			wantImpersonated[id] = r.ImpersonatedUser
		}
		rows = append(rows, r)
	}
	conn, err := ch.Open(&ch.Options{Addr: []string{srv.Addr()}, Auth: ch.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := serverEvent(t, conn, "InsertQuery")
	if err := s.WriteRows(context.Background(), rows, nil); err != nil {
		t.Fatal(err)
	}
	if got := serverEvent(t, conn, "InsertQuery") - before; got != 1 {
		t.Errorf("%d INSERT queries for a flush of events without findings, want 1: kaudit sent copies the server fills", got)
	}
	pairs := func(query string) map[string]string {
		t.Helper()
		got, err := conn.Query(context.Background(), query)
		if err != nil {
			t.Fatal(err)
		}
		defer got.Close()
		out := map[string]string{}
		for got.Next() {
			var k, v string
			if err := got.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			if _, dup := out[k]; dup {
				t.Fatalf("%s: %q twice", query, k)
			}
			out[k] = v
		}
		if err := got.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	sources := pairs("SELECT audit_id || ' ' || source_ip, arrayStringConcat(source_ips, ',') FROM events_by_source")
	if len(sources) != len(wantSources) {
		t.Errorf("events_by_source: %d rows, want %d (one per address)", len(sources), len(wantSources))
	}
	for k, want := range wantSources {
		if got, ok := sources[k]; !ok || got != want {
			t.Errorf("events_by_source %q: addresses %q (a row: %v), want %q", k, got, ok, want)
		}
	}
	imp := pairs("SELECT audit_id, impersonated_user FROM events_impersonated")
	if fmt.Sprint(imp) != fmt.Sprint(wantImpersonated) {
		t.Errorf("events_impersonated: %v, want %v", imp, wantImpersonated)
	}
	index := pairs("SELECT audit_id, user || ' ' || toString(time_us) FROM event_index")
	objects := pairs("SELECT audit_id, name FROM events_by_object")
	for i, r := range rows {
		if want := fmt.Sprintf("user-%d %d", i%7, r.At.UnixMicro()); index[r.AuditID] != want {
			t.Errorf("event_index %s: %q, want %q", r.AuditID, index[r.AuditID], want)
		}
		if objects[r.AuditID] != r.Name {
			t.Errorf("events_by_object %s: name %q, want %q", r.AuditID, objects[r.AuditID], r.Name)
		}
	}
	if len(index) != len(rows) || len(objects) != len(rows) {
		t.Errorf("event_index %d rows, events_by_object %d, want %d each", len(index), len(objects), len(rows))
	}
}
