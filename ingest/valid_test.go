package ingest

import (
	"bytes"
	stdjson "encoding/json"
	"math/rand"
	"os"
	"strings"
	"testing"
)

// validJSON gives encoding/json's verdict on lists mangled at random
// (bytes changed, dropped, inserted: escapes, numbers, literals, control
// and invalid UTF-8 bytes), so that a body the webhook refuses as
// malformed is exactly one it refused before.
func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	base := []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"a":"x\u00e9\n","b":[1,2.5e3,-0,true,false,null],"c":{"d":"\\\"q"}},{"e":-12.5E-3}]}`)
	rng := rand.New(rand.NewSource(17))
	valid := 0
	for i := 0; i < 50000; i++ {
		d := append([]byte(nil), base...)
		for k := rng.Intn(3); k >= 0; k-- {
			d = mangle(rng, d, rng.Intn(len(d)))
		}
		got, want := validJSON(d), stdjson.Valid(d)
		if got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", d, got, want)
		}
		if want {
			valid++
		}
	}
	if valid == 0 {
		t.Fatal("no mangled document stayed valid: the corpus tests one side only")
	}
}

// A list written as the apiserver writes it is not checked whole before
// its items are decoded: each item's decoding checks it. The verdict must
// stay encoding/json's all the same: lists of real events, mangled at
// random and where a mangling is likeliest to slip through (between the
// items, in the head, at the end), are refused whole as malformed exactly
// when encoding/json refuses them, and a list it accepts loses none of its
// items (each is an event or a bad item).
func TestListVerdictAgreesWithEncodingJSON(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	rng := rand.New(rand.NewSource(23))
	var valid, invalid, partly int
	for i := 0; i < 20000; i++ {
		var doc bytes.Buffer
		doc.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
		var seams []int // where an item ends, the head ends, the document ends
		for k := rng.Intn(3); k >= 0; k-- {
			seams = append(seams, doc.Len())
			doc.Write(lines[rng.Intn(len(lines))])
			seams = append(seams, doc.Len())
			if k > 0 {
				doc.WriteByte(',')
			}
		}
		doc.WriteString("]}")
		seams = append(seams, doc.Len()-2, doc.Len()-1, 63, 64, 65)
		d := doc.Bytes()
		for k := rng.Intn(2); k >= 0; k-- {
			p := rng.Intn(len(d))
			if rng.Intn(2) == 0 { // near a seam
				p = min(max(seams[rng.Intn(len(seams))]+rng.Intn(5)-2, 0), len(d)-1)
			}
			d = mangle(rng, d, p)
		}
		b, items, err := DecodeBatch(d, "list")
		want := stdjson.Valid(d)
		refused := err != nil && strings.HasPrefix(err.Error(), "malformed JSON")
		if refused == want || refused && len(b.Records) > 0 {
			t.Fatalf("encoding/json says valid=%v, DecodeBatch: %d events, %v: %q", want, len(b.Records), err, d)
		}
		if !want {
			invalid++
			continue
		}
		valid++
		var list struct{ Items []stdjson.RawMessage }
		if err == nil && stdjson.Unmarshal(d, &list) == nil && len(list.Items) != len(b.Records)+len(items) {
			t.Fatalf("%d items, DecodeBatch: %d events and %d bad: %q", len(list.Items), len(b.Records), len(items), d)
		}
		if len(items) > 0 && len(b.Records) > 0 {
			partly++
		}
	}
	if valid == 0 || invalid == 0 || partly == 0 {
		t.Fatalf("the mangled lists test one side only: %d valid (%d with bad items beside good ones), %d invalid", valid, partly, invalid)
	}
	t.Logf("%d valid (%d with bad items beside good ones), %d invalid", valid, partly, invalid)
}

// mangleBytes are what mangle puts into a document: JSON's structure,
// escapes, numbers, literals, blanks, control and invalid UTF-8 bytes.
var mangleBytes = []byte("{}[]\",:\\ \t\n0123456789.eE+-truefalsnx\x00\x1f\xff")

// mangle changes, drops or inserts one byte of d at p, at random.
func mangle(rng *rand.Rand, d []byte, p int) []byte {
	switch c := mangleBytes[rng.Intn(len(mangleBytes))]; rng.Intn(3) {
	case 0:
		d[p] = c
	case 1:
		d = append(d[:p], d[p+1:]...)
	default:
		d = append(d[:p], append([]byte{c}, d[p:]...)...)
	}
	return d
}
