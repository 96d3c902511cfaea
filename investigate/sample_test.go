package investigate

import (
	"context"
	"sync"
	"testing"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/redact"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

const samplePath = "../testdata/apiserver-1.36-basic-intrusion.log"

var (
	sampleOnce  sync.Once
	sampleStore *memory.Store
	sampleErr   error
)

// loadSample runs the basic-intrusion sample through the real pipeline
// into the real memory store, once for every test of the package.
func loadSample(t *testing.T) store.Store {
	t.Helper()
	sampleOnce.Do(func() {
		st := memory.New()
		set, err := rules.Load("")
		if err != nil {
			sampleErr = err
			return
		}
		eng, err := detect.NewEngine(set)
		if err != nil {
			sampleErr = err
			return
		}
		p := pipeline.New(redact.NewRandom(), eng, incident.New(0), st)
		ctx := context.Background()
		r := &ingest.FileReader{Prepare: p.Prepare}
		err = r.ReadPath(ctx, samplePath, func(b ingest.Batch) error {
			_, err := p.Process(ctx, b)
			return err
		})
		if err != nil {
			sampleErr = err
			return
		}
		sampleErr = st.WriteIncidents(ctx, p.Incidents())
		sampleStore = st
	})
	if sampleErr != nil {
		t.Fatalf("load %s: %v", samplePath, sampleErr)
	}
	return sampleStore
}
