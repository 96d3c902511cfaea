package investigate

import (
	"context"
	"sync"
	"testing"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
	"github.com/kaudit/kaudit/store/storetest"
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
		p := storetest.RunPipeline(t, storetest.LoadSample(t), 500, st)
		sampleErr = st.WriteIncidents(context.Background(), p.Incidents())
		sampleStore = st
	})
	if sampleErr != nil {
		t.Fatalf("load %s: %v", samplePath, sampleErr)
	}
	return sampleStore
}
