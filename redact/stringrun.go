package redact

import "encoding/binary"

// plainRun returns the index of the first byte of data at or after i that
// ends a string's plain run: a quote, a backslash or a control character
// (below 0x20), or len(data) when there is none. Both string readers
// (parser.string, quietScanner.string) looked at every byte of every
// string three times over; it looks at eight at once, with the bit tricks
// of "Bit Twiddling Hacks" (hasless, haszero), which are exact for whether
// a word holds such a byte, and lets the byte loop find which.
func plainRun(data []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; i+8 <= len(data); i += 8 {
		x := binary.LittleEndian.Uint64(data[i:])
		q := x ^ ('"' * ones)
		b := x ^ ('\\' * ones)
		if ((x-0x20*ones)&^x|(q-ones)&^q|(b-ones)&^b)&highs != 0 {
			break
		}
	}
	for ; i < len(data); i++ {
		if c := data[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}
