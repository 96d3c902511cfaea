package live

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/store"
)

// A row entry reads back as the rows a store.Renderer renders and the findings
// given, times exact even past 2262; an entry cut anywhere is an error,
// never rows made up.
func TestRowEntryRoundTrip(t *testing.T) {
	bs, _ := batches(t, 1000)
	recs := bs[0].Records
	far := recs[0].Event.DeepCopy()
	far.AuditID = "far-future"
	far.RequestReceivedTimestamp = metav1.NewMicroTime(time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC))
	recs = append(recs, ingest.Record{Event: far, Location: "x#far"})
	findings := []detect.Finding{{Rule: "r1", AuditID: "a", Stage: "ResponseComplete", Severity: "high"}}
	entry, n, err := encodeRows(recs, findings)
	if err != nil || n != len(recs) {
		t.Fatalf("encode: %d rows, %v", n, err)
	}
	data := (*entry)[spool.Headroom:]
	if !isRowEntry(data) {
		t.Fatal("not recognised as a row entry")
	}
	rows, fs, err := decodeRows(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(recs) || len(fs) != 1 || fs[0].Rule != "r1" {
		t.Fatalf("%d rows, findings %+v", len(rows), fs)
	}
	rend := store.NewRenderer()
	for i := range recs {
		want, err := rend.Row(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rows[i], want) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, rows[i], want)
		}
	}
	if got := rows[len(rows)-1].At; !got.Equal(far.RequestReceivedTimestamp.Time) {
		t.Fatalf("far time read back as %v", got)
	}
	for _, cut := range []int{len(rowMagic) + 1, len(data) / 3, len(data) - 1} {
		if _, _, err := decodeRows(data[:cut], nil); err == nil {
			t.Fatalf("an entry cut at %d of %d bytes decoded", cut, len(data))
		}
	}
	releaseEntry(entry)
}

// AppendReserved frames the entry in its headroom: the spool reads back
// the payload, checksum verified.
func TestAppendReservedReadsBack(t *testing.T) {
	sp := openSpool(t)
	e := append(make([]byte, spool.Headroom), "payload"...)
	if err := sp.AppendReserved(e); err != nil {
		t.Fatal(err)
	}
	copy(e[spool.Headroom:], "changed") // the spool kept no reference
	_, data, ok, err := sp.Peek()
	if err != nil || !ok || string(data) != "payload" {
		t.Fatalf("read back %q, %v, %v", data, ok, err)
	}
	if err := sp.AppendReserved([]byte("short")); err == nil {
		t.Fatal("an entry without headroom was taken")
	}
}
