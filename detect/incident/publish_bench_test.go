package incident_test

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest/ingesttest"
	"github.com/kaudit/kaudit/rules"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// BenchmarkPruneAndIncidents is what the live publisher does every tick
// while findings arrive (live.Publisher): prune the correlator to the
// serve limits, then rebuild every incident. The state is that of the
// webhook load benchmark (cmd/kaudit-load): copies of the intrusion
// sample, a second apart, with fresh audit ids, their batches of 400
// arriving a little out of order as 32 senders deliver them. Each op
// first adds one more copy, as a tick does.
func BenchmarkPruneAndIncidents(b *testing.B) {
	e := builtinEngine(b)
	c := incident.New(0, rules.Tactics())
	limits := incident.Limits{Window: 2 * time.Hour, MaxFindings: 5000, MaxTouchesPerActor: 10000, MaxLinks: 10000, MaxSkew: 10 * time.Minute}
	logged := ingesttest.Events(b, sample)
	base := logged[0].RequestReceivedTimestamp.Time
	rng := rand.New(rand.NewSource(1))
	copyN := 0
	feed := func() {
		shift := time.Duration(copyN) * time.Second
		evs := make([]*auditv1.Event, len(logged))
		for i, s := range logged {
			ev := s.DeepCopy()
			ev.AuditID = types.UID(fmt.Sprintf("%06d-%s", copyN, s.AuditID))
			ev.RequestReceivedTimestamp.Time = ev.RequestReceivedTimestamp.Add(shift)
			ev.StageTimestamp.Time = ev.StageTimestamp.Add(shift)
			evs[i] = ev
		}
		// Batches of 400 swapped with their neighbour now and then.
		for lo := 0; lo+800 <= len(evs); lo += 800 {
			if rng.Intn(2) == 0 {
				a, bb := evs[lo:lo+400], evs[lo+400:lo+800]
				for i := range a {
					a[i], bb[i] = bb[i], a[i]
				}
			}
		}
		for _, ev := range evs {
			fs, judged, err := e.Evaluate(ev, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if judged {
				c.Observe(ev)
			}
			c.Add(fs...)
		}
		copyN++
	}
	now := func() time.Time { return base.Add(time.Duration(copyN) * time.Second) }
	for range 400 {
		feed()
	}
	c.Prune(limits, now())
	f, t, l := c.Size()
	b.Logf("state: %d findings, %d requests, %d links", f, t, l)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		feed()
		b.StartTimer()
		c.Prune(limits, now())
		if len(c.Incidents()) == 0 {
			b.Fatal("no incidents")
		}
	}
}
