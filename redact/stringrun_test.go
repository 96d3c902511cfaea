package redact

import (
	"math/rand"
	"testing"
)

// plainRun stops where a byte-by-byte scan stops, at every offset of
// strings mixing plain bytes with each byte it must stop at and the bytes
// next to them (0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff).
func TestPlainRunStopsWhereByteScanStops(t *testing.T) {
	naive := func(data []byte, i int) int {
		for ; i < len(data); i++ {
			if c := data[i]; c == '"' || c == '\\' || c < 0x20 {
				return i
			}
		}
		return i
	}
	alphabet := []byte{'a', 'Z', '0', ' ', '!', '#', '[', ']', '"', '\\', 0x00, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xc3, 0xff}
	rng := rand.New(rand.NewSource(5))
	for n := 0; n < 20000; n++ {
		data := make([]byte, rng.Intn(40))
		for i := range data {
			if rng.Intn(8) == 0 {
				data[i] = alphabet[rng.Intn(len(alphabet))]
			} else {
				data[i] = 'a' + byte(rng.Intn(26))
			}
		}
		for i := 0; i <= len(data); i++ {
			if got, want := plainRun(data, i), naive(data, i); got != want {
				t.Fatalf("plainRun(%q, %d) = %d, want %d", data, i, got, want)
			}
		}
	}
}
