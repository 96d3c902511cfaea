package memory_test

import (
	"testing"

	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
	"github.com/kaudit/kaudit/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
