package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
)

// Every entry is framed with a checksum, verified whenever it is read: a
// flipped bit, or an edit of the same length, in an entry on disk is found
// and reported instead of being stored (or lost) silently. The frame is
//
//	"KSP2" | payload length (uint32, big endian) | CRC-32C of the payload | payload
//
// inside the WAL's own framing. Entries written before frames existed are
// JSON and start with '{': they are read as they are, unverified, and are
// gone once the first drain after an upgrade stored them.
//
// An entry of packMin bytes or more is packed: compressed with S2, framed
//
//	"KSP3" | framed length (uint32) | CRC-32C of what follows | payload length (uint32) | S2 block
//
// the checksum covering the compressed bytes, so that damage is found
// before anything is decompressed. Under load the spool's writes were 7%
// of kaudit's CPU, copying 70 MB/s of row entries into the page cache,
// and its reads another 1%; S2 shrinks a webhook batch's entry about
// tenfold for less CPU than that copying took, and the same disk holds
// ten times the batches through a store outage.

var frameMagic = []byte("KSP2")

// packedMagic starts the frame of a packed entry.
var packedMagic = []byte("KSP3")

// packMin is the smallest payload packed: below it, compressing saves
// little and the payload is written as it is.
const packMin = 4 << 10

// maxPayload is the largest payload a packed frame may hold.
const maxPayload = 1 << 30

// packedBufs are the buffers pack writes into, reused once the entry is
// written: a webhook batch's entry is half a megabyte.
var packedBufs = sync.Pool{New: func() any { return new([]byte) }}

// pack frames payload packed, in a buffer of packedBufs: give it back
// once the entry is written. ok is false for a payload too large to pack.
func pack(payload []byte) (framed *[]byte, ok bool) {
	bound := s2.MaxEncodedLen(len(payload))
	if bound < 0 || len(payload) > maxPayload {
		return nil, false
	}
	framed = packedBufs.Get().(*[]byte)
	const head = frameHeader + 4
	b := slices.Grow((*framed)[:0], head+bound)[:head+bound]
	z := s2.Encode(b[head:], payload)
	b = b[:head+len(z)]
	binary.BigEndian.PutUint32(b[frameHeader:], uint32(len(payload)))
	writeHeader(b, packedMagic)
	*framed = b
	return framed, true
}

// payloadSize is the size of the payload of data, an entry as written:
// what reading it takes in memory. A packed frame says it, and is
// believed only when its checksum holds and its block agrees: a damaged
// length (Open reads every entry's) must not become an allocation of
// gigabytes. A damaged entry counts as its size on disk, until reading
// it reports the damage.
func payloadSize(data []byte) int64 {
	if payload, reason := verify(data); reason == "" {
		if !bytes.HasPrefix(data, packedMagic) {
			return int64(len(payload))
		}
		if n, _, err := packedLen(payload); err == nil {
			return int64(n)
		}
	}
	return int64(len(data))
}

// verify returns what a frame of either kind holds after its header, or
// why its frame does not hold (reason, empty when it does).
func verify(data []byte) (payload []byte, reason string) {
	switch {
	case !bytes.HasPrefix(data, frameMagic) && !bytes.HasPrefix(data, packedMagic):
		return nil, "no frame"
	case len(data) < frameHeader:
		return nil, "frame cut short"
	}
	payload = data[frameHeader:]
	if n := binary.BigEndian.Uint32(data[4:]); uint64(n) != uint64(len(payload)) {
		return nil, fmt.Sprintf("frame says %d bytes, holds %d", n, len(payload))
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(data[8:]) {
		return nil, "checksum mismatch"
	}
	return payload, ""
}

const frameHeader = 12

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CorruptError is an entry whose checksum or frame does not hold: it
// changed on disk after it was written. Data is the entry as read, for a
// person to look at.
type CorruptError struct {
	Index  uint64
	Data   []byte
	Reason string
}

// Error says which entry and why.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("spool entry %d is corrupt: %s", e.Index, e.Reason)
}

// frame wraps an entry's payload.
func frame(payload []byte) []byte {
	out := make([]byte, frameHeader+len(payload))
	copy(out[frameHeader:], payload)
	frameInPlace(out)
	return out
}

// frameInPlace writes the frame header into the first frameHeader bytes
// of e, for the payload after them.
func frameInPlace(e []byte) { writeHeader(e, frameMagic) }

// writeHeader writes a frame header of either kind into the first
// frameHeader bytes of e: magic, the length of what follows, its CRC-32C.
func writeHeader(e, magic []byte) {
	rest := e[frameHeader:]
	copy(e, magic)
	binary.BigEndian.PutUint32(e[4:], uint32(len(rest)))
	binary.BigEndian.PutUint32(e[8:], crc32.Checksum(rest, castagnoli))
}

// unframe checks an entry read at index and returns its payload: data's
// own bytes, or for a packed entry its payload decompressed and appended
// to opened, which it returns grown.
func unframe(index uint64, data, opened []byte) (payload, grown []byte, err error) {
	payload, reason := verify(data)
	switch {
	case reason == "no frame" && len(data) > 0 && data[0] == '{':
		return data, opened, nil // written before frames: unverified
	case reason != "":
		return nil, opened, &CorruptError{Index: index, Data: data, Reason: reason}
	case !bytes.HasPrefix(data, packedMagic):
		return payload, opened, nil
	}
	at := len(opened)
	if grown, err = unpack(payload, opened); err != nil {
		return nil, opened, &CorruptError{Index: index, Data: data, Reason: err.Error()}
	}
	return grown[at:], grown, nil
}

// packedLen reads a packed frame's payload: the length it says it
// unpacks to, and its S2 block, believed only when the block agrees and
// the length is at most maxPayload.
func packedLen(payload []byte) (n int, block []byte, err error) {
	if len(payload) < 4 {
		return 0, nil, fmt.Errorf("packed frame cut short")
	}
	n, block = int(binary.BigEndian.Uint32(payload)), payload[4:]
	if m, err := s2.DecodedLen(block); err != nil || m != n || n > maxPayload {
		return 0, nil, fmt.Errorf("packed frame says %d bytes, its block %d (%v)", n, m, err)
	}
	return n, block, nil
}

// unpack decompresses a packed frame's payload (its length, then the S2
// block), checked, and appends it to dst.
func unpack(payload, dst []byte) ([]byte, error) {
	n, block, err := packedLen(payload)
	if err != nil {
		return nil, err
	}
	at := len(dst)
	dst = slices.Grow(dst, n)[:at+n]
	if out, err := s2.Decode(dst[at:], block); err != nil || len(out) != n {
		return nil, fmt.Errorf("packed frame: %v", err)
	}
	return dst, nil
}

// nextFrame is where the next frame of either kind starts in b (-1: none).
func nextFrame(b []byte) int {
	i, j := bytes.Index(b, frameMagic), bytes.Index(b, packedMagic)
	if i < 0 || j >= 0 && j < i {
		return j
	}
	return i
}

// salvage finds the complete, verified frames in damaged bytes (what a
// repair cut off after a broken WAL length prefix), whatever the WAL
// framing around them says.
func salvage(b []byte) [][]byte {
	var out [][]byte
	for i := 0; i+frameHeader <= len(b); {
		j := nextFrame(b[i:])
		if j < 0 {
			break
		}
		i += j
		if i+frameHeader <= len(b) {
			n := int(binary.BigEndian.Uint32(b[i+4:]))
			if end := i + frameHeader + n; n >= 0 && end <= len(b) && end >= i+frameHeader {
				if payload, _, err := unframe(0, b[i:end], nil); err == nil {
					out = append(out, append([]byte(nil), payload...))
					i = end
					continue
				}
			}
		}
		i++
	}
	return out
}
