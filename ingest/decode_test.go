package ingest

import (
	"bufio"
	"bytes"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

const sample = "../testdata/apiserver-1.36-basic-intrusion.log"

func TestDecodeRealSample(t *testing.T) {
	f, err := os.Open(sample)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	n, withObjects := 0, 0
	stages := map[string]int{}
	for sc.Scan() {
		ev, err := DecodeEvent(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
		stages[string(ev.Stage)]++
		if ev.RequestObject != nil || ev.ResponseObject != nil {
			withObjects++
		}
		if ev.User.Username == "" || ev.RequestReceivedTimestamp.IsZero() {
			t.Fatalf("line %d decoded without user or time: %+v", n, ev)
		}
	}
	if n != 1129 {
		t.Errorf("decoded %d events, want 1129", n)
	}
	// The sample's policy omits RequestReceived; watches have ResponseStarted.
	if stages["RequestReceived"] != 0 || stages["ResponseStarted"] == 0 || stages["ResponseComplete"] == 0 {
		t.Errorf("unexpected stage counts %v", stages)
	}
	if withObjects == 0 {
		t.Error("no event carried a request or response object")
	}
}

func TestDecodeEventRejects(t *testing.T) {
	good := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z","stageTimestamp":"2026-11-22T09:53:17.903735Z"}`
	if _, err := DecodeEvent([]byte(good)); err != nil {
		t.Fatalf("good event rejected: %v", err)
	}
	cases := map[string]struct{ line, want string }{
		"malformed":      {`{"kind":"Event",`, "malformed JSON"},
		"not an object":  {`[1,2,3]`, "malformed JSON"},
		"wrong kind":     {strings.Replace(good, `"kind":"Event"`, `"kind":"Pod"`, 1), `kind "Pod"`},
		"wrong version":  {strings.Replace(good, `audit.k8s.io/v1`, `audit.k8s.io/v1beta1`, 1), `apiVersion "audit.k8s.io/v1beta1"`},
		"no audit id":    {strings.Replace(good, `"auditID":"a1",`, ``, 1), "missing auditID"},
		"no stage":       {strings.Replace(good, `"stage":"ResponseComplete",`, ``, 1), "missing stage"},
		"unknown stage":  {strings.Replace(good, `ResponseComplete`, `Done`, 1), `unknown stage "Done"`},
		"no timestamp":   {strings.Replace(good, `"requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z",`, ``, 1), "missing requestReceivedTimestamp"},
		"bad timestamp":  {strings.Replace(good, `2026-11-22T09:53:17.903302Z`, `yesterday`, 1), "malformed JSON"},
		"list as event":  {`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`, "EventList"},
		"empty document": {``, "malformed JSON"},
	}
	for name, c := range cases {
		_, err := DecodeEvent([]byte(c.line))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.want)
		}
	}
}

func TestDecodeBatchListWithBadItem(t *testing.T) {
	// What the webhook backend sends: items carry no kind/apiVersion.
	doc := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[
{"level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z","stageTimestamp":"2026-11-22T09:53:17.903735Z"},
{"level":"Metadata","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z"},
{"level":"Metadata","auditID":"a3","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z","stageTimestamp":"2026-11-22T09:53:17.903735Z"}]}`
	b, bad, err := DecodeBatch([]byte(doc), "body")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 2 || b.Records[0].Event.AuditID != "a1" || b.Records[1].Event.AuditID != "a3" {
		t.Errorf("good items = %v", b.Records)
	}
	if b.Records[0].Location != "body#0" || b.Records[1].Location != "body#2" {
		t.Errorf("good items located at %s and %s, want their index in the list as sent", b.Records[0].Location, b.Records[1].Location)
	}
	if len(bad) != 1 || bad[0].Index != 1 || !strings.Contains(bad[0].Reason, "auditID") {
		t.Errorf("bad items = %+v", bad)
	}
	if len(b.Bad) != 1 || b.Bad[0].Location != "body#1" {
		t.Errorf("bad inputs = %+v", b.Bad)
	}
	if _, _, err := DecodeBatch([]byte(`{"kind":"EventList","apiVersion":"v9","items":[]}`), "x"); err == nil {
		t.Error("a list of another apiVersion was accepted")
	}
}

// FuzzDecodeBatch checks that no input makes the decoder panic, and that
// what it accepts is valid.
func FuzzDecodeBatch(f *testing.F) {
	data, err := os.ReadFile(sample)
	if err != nil {
		f.Fatal(err)
	}
	for i, line := range strings.SplitN(string(data), "\n", 20) {
		if i < 19 {
			f.Add([]byte(line))
		}
	}
	f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"x"}]}`))
	f.Add([]byte(`{"kind":"EventList","items":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _, err := DecodeBatch(b, "fuzz")
		if err != nil {
			return
		}
		for _, rec := range got.Records {
			if err := Validate(rec.Event); err != nil {
				t.Fatalf("accepted an invalid event: %v", err)
			}
		}
	})
}

// skipString jumps from quote to quote: it must end every string where a
// byte-by-byte scan of escapes does, and refuse the same unterminated ones.
func TestSkipStringAgreesWithScan(t *testing.T) {
	scan := func(data []byte, i int) (int, error) {
		for i++; i < len(data); i++ {
			switch data[i] {
			case '\\':
				i++
			case '"':
				return i + 1, nil
			}
		}
		return 0, errTruncated
	}
	for _, s := range []string{`""`, `"a"`, `"\""`, `"\\"`, `"\\\""`, `"\\\\"x`, `"a\\\\\"b"c"`, `"\"`, `"abc`, `"\\\"`,
		`"\u0022"`, `"x\\"y"`, `"` + strings.Repeat(`\\`, 40) + `"`, `"` + strings.Repeat(`\\`, 41) + `"`} {
		got, gerr := skipString([]byte(s), 0)
		want, werr := scan([]byte(s), 0)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Errorf("%s: skipString %d %v, scan %d %v", s, got, gerr, want, werr)
		}
	}
}

// The items of a list are those encoding/json finds, however the list is
// written: spaces anywhere, items before kind, items given twice (the last
// counts), items that are not an array, brackets inside strings, members
// after the items of a list that starts as the apiserver writes one.
func TestListItemsAreEncodingJSONs(t *testing.T) {
	item := func(id string) string {
		return `{"level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete","requestURI":"/api?q=[]{}","verb":"get",` +
			`"user":{"username":"u","groups":["a","b"]},"requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z","stageTimestamp":"2026-11-22T09:53:17.903735Z"}`
	}
	docs := []string{
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + item("a") + `,` + item("b") + `]}`,
		"{ \"items\" :\n[ " + item("a") + " ,\t" + item("b") + " ] , \"kind\" : \"EventList\" }",
		`{"kind":"EventList","items":[` + item("x") + `],"items":[` + item("a") + `,` + item("b") + `,` + item("c") + `]}`,
		`{"kind":"EventList","items":[` + item("x") + `],"items":null}`,
		`{"kind":"EventList","items":[ ]}`,
		`{"kind":"EventList","items":"[` + `]","metadata":{"items":[1,2]}}`,
		// The apiserver's own layout, read in one pass, and documents that
		// start like it but go on after the items.
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + item("a") + `,` + item("b") + `]}` + "\n",
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[]}`,
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + item("x") + `],"items":[` + item("a") + `,` + item("b") + `]}`,
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + item("a") + `],"other":[1]}`,
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + item("x") + `],"items":null,"other":[]}`,
	}
	for _, doc := range docs {
		var want struct {
			Items []struct {
				AuditID string `json:"auditID"`
			} `json:"items"`
		}
		if err := stdjson.Unmarshal([]byte(doc), &want); err != nil {
			// "items" given as a string: encoding/json refuses the type,
			// kaudit reads no items.
			want.Items = nil
		}
		b, bad, err := DecodeBatch([]byte(doc), "body")
		if err != nil || len(bad) > 0 {
			t.Fatalf("%s: %v %v", doc, bad, err)
		}
		if len(b.Records) != len(want.Items) {
			t.Fatalf("%s: %d items, encoding/json finds %d", doc, len(b.Records), len(want.Items))
		}
		for i, r := range b.Records {
			if string(r.Event.AuditID) != want.Items[i].AuditID {
				t.Fatalf("%s: item %d is %s, want %s", doc, i, r.Event.AuditID, want.Items[i].AuditID)
			}
		}
	}
}

// DecodeEvent reads what the apiserver's own type reads with
// encoding/json, on every line of every fixture: its shortcuts (timestamps
// parsed directly, bodies kept without a second copy) change nothing.
func TestDecodeEventAgreesWithEncodingJSON(t *testing.T) {
	paths, err := filepath.Glob("../testdata/*.log")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	n, bodies := 0, 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			got, err := DecodeEvent(line)
			if err != nil {
				t.Fatalf("%s line %d: %v", p, i+1, err)
			}
			var want auditv1.Event
			if err := stdjson.Unmarshal(line, &want); err != nil {
				t.Fatalf("%s line %d: encoding/json: %v", p, i+1, err)
			}
			// Callers reuse the buffer (a file's lines, the webhook's
			// bodies): the event must not change with it.
			for j := range line {
				line[j] = 'x'
			}
			// MicroTime decodes into the local zone; the instant is what counts.
			if !got.RequestReceivedTimestamp.Equal(&want.RequestReceivedTimestamp) || !got.StageTimestamp.Equal(&want.StageTimestamp) {
				t.Fatalf("%s line %d: times %v %v, want %v %v", p, i+1, got.RequestReceivedTimestamp, got.StageTimestamp, want.RequestReceivedTimestamp, want.StageTimestamp)
			}
			want.RequestReceivedTimestamp, want.StageTimestamp = got.RequestReceivedTimestamp, got.StageTimestamp
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("%s line %d:\n got  %+v\n want %+v", p, i+1, got, &want)
			}
			if got.RequestObject != nil || got.ResponseObject != nil {
				bodies++
			}
			n++
		}
	}
	if n < 10000 || bodies < 1000 {
		t.Fatalf("compared %d events, %d with bodies: fixtures missing?", n, bodies)
	}
}

// scale records how a list was weighed; items refuses nothing, and it
// takes a list in one pass unless oneByOne is set.
type scale struct {
	oneByOne         bool
	items, itemBytes int
	lists            int // List calls that took the list
	settled          [][2]int
}

func (s *scale) Item(raw []byte) error { s.items++; s.itemBytes += len(raw); return nil }
func (s *scale) List(int, int) bool {
	if s.oneByOne {
		return false
	}
	s.lists++
	return true
}
func (s *scale) Settle(items, bytes int) { s.settled = append(s.settled, [2]int{items, bytes}) }

// A list of good events is decoded in one pass, into what decoding it item
// by item makes of it, and weighed as its items one by one would have
// been; a list with a bad item (null, no audit ID, a field of the wrong
// type) falls back to item by item, gives the one pass's weight back, and
// reports its bad items as before.
func TestOnePassDecodesAsItemByItem(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	list := func(items [][]byte) []byte {
		return []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + string(bytes.Join(items, []byte(","))) + `]}`)
	}
	for lo := 0; lo < len(lines); lo += 400 {
		body := list(lines[lo:min(lo+400, len(lines))])
		one, byItem := &scale{}, &scale{oneByOne: true}
		b1, bad1, err1 := DecodeBatchFunc(body, "w", one)
		b2, bad2, err2 := DecodeBatchFunc(body, "w", byItem)
		if err1 != nil || err2 != nil || len(bad1)+len(bad2) != 0 {
			t.Fatalf("list at %d: %v %v %v %v", lo, err1, err2, bad1, bad2)
		}
		if !reflect.DeepEqual(b1, b2) {
			t.Fatalf("list at %d: the one pass decoded %d records, item by item %d, not the same", lo, len(b1.Records), len(b2.Records))
		}
		if one.lists != 1 || one.items != 0 || len(one.settled) != 1 || one.settled[0] != [2]int{byItem.items, byItem.itemBytes} {
			t.Fatalf("list at %d: one pass weighed %d lists, %d items, settled %v; item by item: %d items of %d bytes", lo, one.lists, one.items, one.settled, byItem.items, byItem.itemBytes)
		}
	}
	good := lines[:3]
	for name, bad := range map[string]string{
		"null":          `null`,
		"no audit id":   `{"stage":"ResponseComplete","requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z"}`,
		"wrong type":    strings.Replace(string(good[0]), `"verb":"`, `"verb":7,"x":"`, 1),
		"an event list": `{"kind":"EventList","auditID":"a","stage":"ResponseComplete","requestReceivedTimestamp":"2026-11-22T09:53:17.903302Z"}`,
	} {
		body := list([][]byte{good[0], []byte(bad), good[1], good[2]})
		one, byItem := &scale{}, &scale{oneByOne: true}
		b1, bad1, err1 := DecodeBatchFunc(body, "w", one)
		b2, bad2, err2 := DecodeBatchFunc(body, "w", byItem)
		if err1 != nil || err2 != nil || len(b1.Records) != 3 || len(bad1) != 1 || bad1[0].Index != 1 {
			t.Fatalf("%s: %d records, bad %v, %v", name, len(b1.Records), bad1, err1)
		}
		if !reflect.DeepEqual(b1, b2) || !reflect.DeepEqual(bad1, bad2) {
			t.Fatalf("%s: the one pass's fallback decoded otherwise than item by item: %v against %v", name, bad1, bad2)
		}
		if len(one.settled) != 1 || one.settled[0] != [2]int{} || one.items != 4 {
			t.Fatalf("%s: settled %v and weighed %d items; want the list given back and 4 items weighed", name, one.settled, one.items)
		}
	}
}
