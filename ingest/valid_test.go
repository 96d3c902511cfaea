package ingest

import (
	stdjson "encoding/json"
	"math/rand"
	"testing"
)

// validJSON gives encoding/json's verdict on lists mangled at random
// (bytes changed, dropped, inserted: escapes, numbers, literals, control
// and invalid UTF-8 bytes), so that a body the webhook refuses as
// malformed is exactly one it refused before.
func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	base := []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"a":"x\u00e9\n","b":[1,2.5e3,-0,true,false,null],"c":{"d":"\\\"q"}},{"e":-12.5E-3}]}`)
	rng := rand.New(rand.NewSource(17))
	alpha := []byte("{}[]\",:\\ \t\n0123456789.eE+-truefalsnx\x00\x1f\xff")
	valid := 0
	for i := 0; i < 50000; i++ {
		d := append([]byte(nil), base...)
		for k := rng.Intn(3); k >= 0; k-- {
			p := rng.Intn(len(d))
			switch c := alpha[rng.Intn(len(alpha))]; rng.Intn(3) {
			case 0:
				d[p] = c
			case 1:
				d = append(d[:p], d[p+1:]...)
			default:
				d = append(d[:p], append([]byte{c}, d[p:]...)...)
			}
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
