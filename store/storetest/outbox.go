package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/kaudit/kaudit/store"
)

// checkOutbox: a delivery keeps its furthest state whatever the order of
// writes, reads filter on creation time, and the lease goes to one holder
// at a time.
//
// Long because it is one scenario of the conformance suite, its steps in
// order.
func checkOutbox(t *testing.T, st store.Store) {
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(rcv, id string, seq int, state string, updated time.Time) store.Delivery {
		return store.Delivery{Receiver: rcv, ID: id, IncidentID: "inc-1", Seq: seq, State: state, Attempts: 1,
			NextAttempt: t0.Add(time.Minute), LastError: "", Created: t0, Updated: updated,
			Notification: []byte(`{"id":"` + id + `"}`)}
	}
	old := mk("am", "inc-0-1", 1, store.DeliveryPending, t0)
	old.Created = t0.Add(-time.Hour)
	if err := st.PutDeliveries(ctx, []store.Delivery{
		mk("am", "inc-1-1", 1, store.DeliveryPending, t0),
		mk("hook", "inc-1-1", 1, store.DeliveryPending, t0),
		mk("am", "inc-1-2", 2, store.DeliveryPending, t0),
		old,
	}); err != nil {
		t.Fatal(err)
	}
	// Sent, then a late pending version written after it: sent stays.
	sent := mk("am", "inc-1-1", 1, store.DeliverySent, t0.Add(time.Second))
	retry := mk("hook", "inc-1-1", 1, store.DeliveryPending, t0.Add(2*time.Second))
	retry.Attempts, retry.LastError = 2, "connection refused"
	late := mk("am", "inc-1-1", 1, store.DeliveryPending, t0.Add(3*time.Second))
	for _, d := range []store.Delivery{sent, retry, late} {
		if err := st.PutDeliveries(ctx, []store.Delivery{d}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Deliveries(ctx, t0.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("deliveries since t0-1m: %d, want 3: %+v", len(got), got)
	}
	want := []struct {
		rcv, id, state string
		attempts       int
	}{{"am", "inc-1-1", store.DeliverySent, 1}, {"am", "inc-1-2", store.DeliveryPending, 1}, {"hook", "inc-1-1", store.DeliveryPending, 2}}
	for i, w := range want {
		g := got[i]
		if g.Receiver != w.rcv || g.ID != w.id || g.State != w.state || g.Attempts != w.attempts {
			t.Fatalf("delivery %d: %s/%s %s attempts %d, want %s/%s %s attempts %d", i, g.Receiver, g.ID, g.State, g.Attempts, w.rcv, w.id, w.state, w.attempts)
		}
		if !g.Created.Equal(t0) || g.IncidentID != "inc-1" || string(g.Notification) != `{"id":"`+w.id+`"}` || !g.NextAttempt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("delivery %d read back as %+v", i, g)
		}
	}
	if got[2].LastError != "connection refused" {
		t.Fatalf("last error %q", got[2].LastError)
	}
	if all, _ := st.Deliveries(ctx, t0.Add(-2*time.Hour)); len(all) != 4 {
		t.Fatalf("deliveries since t0-2h: %d, want 4", len(all))
	}

	ttl := 2 * time.Second
	if ok, err := st.Lease(ctx, "notify", "a", ttl); err != nil || !ok {
		t.Fatalf("first claim of a free lease: %v %v", ok, err)
	}
	if ok, err := st.Lease(ctx, "notify", "b", ttl); err != nil || ok {
		t.Fatalf("b got a's lease: %v %v", ok, err)
	}
	if ok, err := st.Lease(ctx, "notify", "a", ttl); err != nil || !ok {
		t.Fatalf("a's renewal: %v %v", ok, err)
	}
	if ok, err := st.Lease(ctx, "other", "b", ttl); err != nil || !ok {
		t.Fatalf("another lease name: %v %v", ok, err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if ok, err := st.Lease(ctx, "notify", "b", ttl); err != nil || !ok {
		t.Fatalf("b after a's lease expired: %v %v", ok, err)
	}
	if ok, err := st.Lease(ctx, "notify", "a", ttl); err != nil || ok {
		t.Fatalf("a took the lease back from b: %v %v", ok, err)
	}
}
