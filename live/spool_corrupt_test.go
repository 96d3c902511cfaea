package live

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/memory"
)

// A spooled batch changed on disk (the same length, so that its JSON still
// reads) is not stored as it reads now: the drainer finds the bad
// checksum, sets the entry aside for a person, counts and logs it, and
// stores the batches around it.
func TestChangedSpoolEntryIsSetAsideNotStored(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	st := &flaky{Store: memory.New()}
	st.down.Store(true)
	p := newPipeline(t)
	a, err := New(Config{Store: st, Spool: sp, Pipeline: p, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	bs, _ := batches(t, 100)
	for _, b := range bs[:3] {
		if err := a.Accept(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	a.Close(context.Background())
	sp.Close()

	// Rename the user of the second batch's first event, keeping the
	// length. The entry is packed, but S2 keeps the bytes it cannot match
	// earlier ones with as they are: the audit ID, and what follows it.
	victim := bs[1].Records[0].Event
	seg := filepath.Join(dir, "00000000000000000001")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	id := []byte(`"auditID":"` + string(victim.AuditID) + `"`)
	i := bytes.Index(data, id)
	j := bytes.Index(data[i:], []byte(`"username":"`)) + i + len(`"username":"`)
	copy(data[j:], bytes.Repeat([]byte("x"), len(victim.User.Username)))
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}

	sp, err = spool.Open(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var logs bytes.Buffer
	m := NewMetrics(nil, nil, nil)
	mem := memory.New()
	a, err = New(Config{Store: mem, Spool: sp, Pipeline: newPipeline(t), Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for n, _ := sp.Stats(); n > 0; n, _ = sp.Stats() {
		if time.Now().After(deadline) {
			t.Fatal("the spool was not drained")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := testutil.ToFloat64(m.SpoolCorrupt); got != 1 {
		t.Fatalf("kaudit_spool_corrupt_total %v, want 1", got)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "corrupt-*.entry"))
	if len(aside) != 1 || !strings.Contains(logs.String(), "corrupt") {
		t.Fatalf("set aside %v; log:\n%s", aside, logs.String())
	}
	ctx := context.Background()
	for i, b := range bs[:3] {
		tl, _ := mem.Timeline(ctx, store.Query{AuditID: string(b.Records[0].Event.AuditID)})
		if stored := len(tl) == 1; stored != (i != 1) {
			t.Errorf("batch %d stored %v", i, stored)
		}
	}
	if tl, _ := mem.Timeline(ctx, store.Query{Actor: strings.Repeat("x", len(victim.User.Username))}); len(tl) != 0 {
		t.Fatal("the changed event was stored as it reads now")
	}
}
