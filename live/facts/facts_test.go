package facts

import (
	"reflect"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest/ingesttest"
)

// A request reduced to facts and rebuilt from their JSON reads, for the
// correlator, as the event itself did: the same touch, the same links. The
// sample holds bindings and a token request, whose bodies must survive.
func TestReducedRequestCorrelatesAsTheEvent(t *testing.T) {
	evs := ingesttest.Events(t, "../../testdata/apiserver-1.36-basic-intrusion.log")
	links := 0
	for _, ev := range evs {
		if !correlated(ev) {
			continue
		}
		raw, err := json.Marshal(reduce(ev))
		if err != nil {
			t.Fatal(err)
		}
		var r request
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		back := r.event()
		if got, want := incident.TouchOf(back), incident.TouchOf(ev); !reflect.DeepEqual(got, want) {
			t.Fatalf("event %s: touch %+v from facts, %+v from the event", ev.AuditID, got, want)
		}
		want := incident.LinksOf(ev)
		if got := incident.LinksOf(back); len(got) != len(want) {
			t.Fatalf("event %s: %d links from facts, %d from the event", ev.AuditID, len(got), len(want))
		}
		links += len(want)
		if detect.ActorOf(back) != detect.ActorOf(ev) {
			t.Fatalf("event %s: actor %q from facts, %q from the event", ev.AuditID, detect.ActorOf(back), detect.ActorOf(ev))
		}
	}
	if links == 0 {
		t.Fatal("the sample holds no link: the test would prove nothing")
	}
}
