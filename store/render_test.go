package store

import (
	"bytes"
	"math/rand"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/ingesttest"
)

// marshaled is the row of rec as json.Marshal writes its event: what a
// Renderer must render.
func marshaled(t testing.TB, rec *ingest.Record) Row {
	t.Helper()
	raw, err := json.Marshal(rec.Event)
	if err != nil {
		t.Fatal(err)
	}
	r := columnsOf(rec)
	r.JSON = raw
	return r
}

// A Renderer's rows are marshaled's, byte for byte, for strings Marshal
// escapes or repairs (HTML characters, invalid UTF-8, a line break), zero
// timestamps and timestamps in another zone or past the microsecond, row
// after row through the one buffer.
func TestRendererRendersMarshal(t *testing.T) {
	events := []*auditv1.Event{
		{AuditID: "a", Verb: "get", UserAgent: "<script>&amp;</script>", RequestURI: "/api/v1/x?q=\xff\xfe"},
		{AuditID: "b", Verb: "create", User: authnv1.UserInfo{Username: "eve\n"}, SourceIPs: []string{"10.0.0.1"},
			RequestObject: &runtime.Unknown{Raw: []byte(`{"kind":"Pod", "spec" : {"x":"<&>"}}`)}},
		{AuditID: "c", Annotations: map[string]string{"authorization.k8s.io/decision": "allow", "z": "\u2028"}},
		{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"}, Level: "RequestResponse", Stage: "ResponseComplete",
			RequestURI: "/api/v1/namespaces/ns/pods/p", Verb: "delete", User: authnv1.UserInfo{Username: "u", Groups: []string{"g"}},
			AuthenticationMetadata: &auditv1.AuthenticationMetadata{ImpersonationConstraint: "impersonate:serviceaccount"},
			SourceIPs:              []string{"10.0.0.2"}, UserAgent: "kubectl", Annotations: map[string]string{"a": "b"},
			RequestObject: &runtime.Unknown{Raw: []byte(`{"kind":"DeleteOptions"}`)}, ResponseObject: &runtime.Unknown{Raw: []byte(`{"kind":"Status"}`)},
			AuditID: "d", RequestReceivedTimestamp: metav1.NewMicroTime(time.Date(2026, 11, 30, 23, 59, 59, 123456789, time.FixedZone("x", -5*3600))),
			StageTimestamp:   metav1.NewMicroTime(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)),
			ImpersonatedUser: &authnv1.UserInfo{Username: "sa", Extra: map[string]authnv1.ExtraValue{"k": {"v"}}},
			ObjectRef:        &auditv1.ObjectReference{Resource: "pods", Namespace: "ns", Name: "p"},
			ResponseStatus:   &metav1.Status{Code: 403, Message: "forbidden <x>"}},
	}
	// The last event sets every field, so that one set forgets fails.
	full := reflect.ValueOf(events[len(events)-1]).Elem()
	for i := range full.NumField() {
		if full.Field(i).IsZero() {
			t.Fatalf("the last event leaves %s unset", full.Type().Field(i).Name)
		}
	}
	r := NewRenderer()
	var kept [][]byte
	for _, ev := range events {
		rec := &ingest.Record{Event: ev, Location: "test"}
		got, err := r.Row(rec)
		if err != nil {
			t.Fatal(err)
		}
		if want := marshaled(t, rec); !reflect.DeepEqual(got, want) {
			t.Fatalf("event %s:\n got %+v\nwant %+v", ev.AuditID, got, want)
		}
		kept = append(kept, bytes.Clone(got.JSON))
	}
	for i, ev := range events {
		if want := marshaled(t, &ingest.Record{Event: ev}); !bytes.Equal(kept[i], want.JSON) {
			t.Fatalf("event %s changed after later rows: %s", ev.AuditID, kept[i])
		}
	}
}

// On every event of the fixtures, as the apiserver writes them, a
// Renderer's JSON is json.Marshal's.
func TestRendererRendersFixtures(t *testing.T) {
	paths, err := filepath.Glob("../testdata/*.log")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	r, n := NewRenderer(), 0
	for _, p := range paths {
		for _, ev := range ingesttest.Events(t, p) {
			got, err := r.JSON(ev)
			if err != nil {
				t.Fatal(err)
			}
			if want := marshaled(t, &ingest.Record{Event: ev}); !bytes.Equal(got, want.JSON) {
				t.Fatalf("%s: event %s:\n got %s\nwant %s", p, ev.AuditID, got, want.JSON)
			}
			n++
		}
	}
	t.Logf("%d events rendered as json.Marshal writes them", n)
}

// eventJSON has auditv1.Event's fields, in its order, with its JSON names
// and types, but for the timestamps: a field the apiserver's type gains
// fails this test rather than going missing from stored events.
func TestEventJSONMirrorsEvent(t *testing.T) {
	want, got := reflect.TypeFor[auditv1.Event](), reflect.TypeFor[eventJSON]()
	if want.NumField() != got.NumField() {
		t.Fatalf("auditv1.Event has %d fields, eventJSON %d", want.NumField(), got.NumField())
	}
	for i := range want.NumField() {
		w, g := want.Field(i), got.Field(i)
		if w.Name != g.Name || w.Tag.Get("json") != g.Tag.Get("json") || w.Anonymous != g.Anonymous {
			t.Fatalf("field %d: auditv1.Event has %s %q, eventJSON %s %q", i, w.Name, w.Tag.Get("json"), g.Name, g.Tag.Get("json"))
		}
		if w.Type != g.Type && !(w.Type == reflect.TypeFor[metav1.MicroTime]() && g.Type == reflect.TypeFor[*string]()) {
			t.Fatalf("field %s: auditv1.Event's is %v, eventJSON's %v", w.Name, w.Type, g.Type)
		}
	}
}

// BenchmarkRenderSample renders every event of a fixture, as the
// write-ahead path does; BenchmarkMarshalSample marshals them with
// json.Marshal, as it did before.
func BenchmarkRenderSample(b *testing.B) {
	evs := ingesttest.Events(b, "../testdata/apiserver-1.36-basic-intrusion.log")
	r := NewRenderer()
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			if _, err := r.Row(&ingest.Record{Event: ev}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

func BenchmarkMarshalSample(b *testing.B) {
	evs := ingesttest.Events(b, "../testdata/apiserver-1.36-basic-intrusion.log")
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			if _, err := json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// appendMicroTime writes what MicroTime's layout writes, for times of any
// zone, with and without fractions, at the edges of four-digit years and
// beyond them.
func TestAppendMicroTimeAgreesWithFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+1800), time.FixedZone("west", -8*3600)}
	rng := rand.New(rand.NewSource(1))
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 30, 23, 30, 0, 0, time.FixedZone("ahead", 3600)),
	}
	for range 100000 {
		times = append(times, time.Unix(rng.Int63n(1<<36)-1<<35, rng.Int63n(1e9)).In(zones[rng.Intn(len(zones))]))
	}
	for _, tm := range times {
		want := tm.UTC().Format(metav1.RFC3339Micro)
		if got := string(appendMicroTime(nil, tm)); got != want {
			t.Fatalf("%v: %q, want %q", tm, got, want)
		}
	}
}

// microTimes reuses the text of a second from one time to the next: the
// text stays what MicroTime writes for times in the same second and not,
// in either slot, across zones and past four-digit years, and a slot's
// text is left as it was when the other slot is written.
func TestMicroTimesTextAgreesWithFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+1800), time.FixedZone("west", -8*3600)}
	rng := rand.New(rand.NewSource(2))
	var m microTimes
	base := time.Date(2026, 11, 30, 23, 59, 58, 0, time.UTC)
	odd := []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 5000, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), {}}
	var last [2]string
	for range 100000 {
		var tm time.Time
		switch rng.Intn(10) {
		case 0:
			tm = odd[rng.Intn(len(odd))]
		case 1:
			tm = time.Unix(rng.Int63n(1<<36)-1<<35, rng.Int63n(1e9))
		default: // a few seconds around midnight, nanoseconds apart
			tm = base.Add(time.Duration(rng.Int63n(3e9)))
		}
		tm = tm.In(zones[rng.Intn(len(zones))])
		i := rng.Intn(2)
		got := m.text(i, tm)
		if tm.IsZero() {
			if got != nil {
				t.Fatalf("zero time: %q, want nil", *got)
			}
			continue
		}
		if want := tm.UTC().Format(metav1.RFC3339Micro); *got != want {
			t.Fatalf("%v in slot %d: %q, want %q", tm, i, *got, want)
		}
		if o := 1 - i; last[o] != "" && m.str[o] != last[o] {
			t.Fatalf("slot %d changed from %q to %q when slot %d was written", o, last[o], m.str[o], i)
		}
		last[i] = strings.Clone(*got) // the slot's text as written, not its bytes
	}
}
