package live

import (
	"context"
	"testing"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/store/memory"
)

// The learner relearns from the store what the file taught, follows the
// receiver's clock, and leaves out the settle period: what happens in the
// last hour is not yet routine.
func TestLearnerLearnsFromTheStore(t *testing.T) {
	mem := memory.New()
	p := newPipeline(t)
	a, err := New(Config{Store: mem, Pipeline: p})
	if err != nil {
		t.Fatal(err)
	}
	bs, _ := batches(t, 300)
	var last time.Time
	for _, b := range bs {
		if err := a.Accept(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			if at := detect.EventTime(r.Event); at.After(last) {
				last = at
			}
		}
	}
	l := &Learner{Store: mem, Pipeline: p, Settle: time.Hour, Now: func() time.Time { return last.Add(2 * time.Hour) }}
	b, err := l.Learn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.Events == 0 || len(b.Identities) == 0 {
		t.Fatal("nothing learned from the store")
	}
	if _, ok := b.Identities["mallory"]; !ok {
		t.Error("mallory's allowed requests not learned")
	}
	l.Now = func() time.Time { return last.Add(30 * time.Minute) }
	if b, err = l.Learn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.Events != 0 {
		t.Errorf("%d requests of the last hour learned, inside the settle period", b.Events)
	}
}
