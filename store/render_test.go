package store

import (
	"bytes"
	"reflect"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/ingest"
)

// A Renderer's rows are RowOf's, byte for byte, for strings Marshal
// escapes or repairs (HTML characters, invalid UTF-8, a line break), row
// after row through the one buffer.
func TestRendererRendersRowOf(t *testing.T) {
	events := []*auditv1.Event{
		{AuditID: "a", Verb: "get", UserAgent: "<script>&amp;</script>", RequestURI: "/api/v1/x?q=\xff\xfe"},
		{AuditID: "b", Verb: "create", User: authnv1.UserInfo{Username: "eve\n"}, SourceIPs: []string{"10.0.0.1"},
			RequestObject: &runtime.Unknown{Raw: []byte(`{"kind":"Pod", "spec" : {"x":"<&>"}}`)}},
		{AuditID: "c", Annotations: map[string]string{"authorization.k8s.io/decision": "allow", "z": "\u2028"}},
	}
	r := NewRenderer()
	var kept [][]byte
	for _, ev := range events {
		rec := &ingest.Record{Event: ev, Location: "test"}
		got, err := r.Row(rec)
		if err != nil {
			t.Fatal(err)
		}
		want, err := RowOf(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("event %s:\n got %+v\nwant %+v", ev.AuditID, got, want)
		}
		kept = append(kept, bytes.Clone(got.JSON))
	}
	for i, ev := range events {
		want, _ := RowOf(&ingest.Record{Event: ev})
		if !bytes.Equal(kept[i], want.JSON) {
			t.Fatalf("event %s changed after later rows: %s", ev.AuditID, kept[i])
		}
	}
}
