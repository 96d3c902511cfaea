package live

import (
	"context"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// One webhook batch dated far ahead must not stop live incidents: the
// publisher prunes with the receiver's clock as the bound, the event is
// stored with a clock-skew finding, and the real attack that follows still
// forms its incident.
func TestFutureDatedBatchDoesNotStopLiveIncidents(t *testing.T) {
	bs, _ := batches(t, 100)
	var last time.Time
	for _, b := range bs {
		for _, r := range b.Records {
			if at := detect.EventTime(r.Event); at.After(last) {
				last = at
			}
		}
	}
	mem := memory.New()
	p := newPipeline(t)
	acc, err := New(Config{Pipeline: p, Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close(context.Background())
	pub := &Publisher{Pipeline: p, Store: mem, Limits: DefaultLimits, Now: func() time.Time { return last.Add(time.Minute) }}
	ctx := context.Background()

	skewed := bs[0].Records[0].Event.DeepCopy()
	skewed.AuditID = types.UID("from-the-future")
	skewed.RequestReceivedTimestamp.Time = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	skewed.StageTimestamp = skewed.RequestReceivedTimestamp
	if err := acc.Accept(ctx, ingest.Batch{Records: []ingest.Record{{Event: skewed, Location: "webhook:test"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if err := acc.Accept(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	incs, err := pub.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mallory := false
	for _, inc := range incs {
		mallory = mallory || slices.Contains(inc.Actors, "mallory")
	}
	if !mallory {
		t.Fatalf("no incident for mallory after an event dated 9999: %d incidents", len(incs))
	}
	d, err := mem.Timeline(ctx, store.Query{AuditID: "from-the-future"})
	if err != nil || len(d) != 1 {
		t.Fatalf("the future-dated event is not stored: %v %v", d, err)
	}
	found := false
	for _, f := range p.Findings() {
		found = found || f.AuditID == "from-the-future" && f.Rule == "event-dated-ahead" && f.Severity == "medium"
	}
	if !found {
		t.Fatal("no event-dated-ahead finding for the event dated 9999")
	}
}
