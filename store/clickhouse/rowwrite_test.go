package clickhouse_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
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
