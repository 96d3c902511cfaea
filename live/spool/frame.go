package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
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

var frameMagic = []byte("KSP2")

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
	copy(out, frameMagic)
	binary.BigEndian.PutUint32(out[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(out[8:], crc32.Checksum(payload, castagnoli))
	copy(out[frameHeader:], payload)
	return out
}

// frameInPlace writes the frame header into the first frameHeader bytes
// of e, for the payload after them.
func frameInPlace(e []byte) {
	payload := e[frameHeader:]
	copy(e, frameMagic)
	binary.BigEndian.PutUint32(e[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(e[8:], crc32.Checksum(payload, castagnoli))
}

// unframe checks an entry read at index and returns its payload.
func unframe(index uint64, data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, frameMagic) {
		if len(data) > 0 && data[0] == '{' {
			return data, nil // written before frames: unverified
		}
		return nil, &CorruptError{Index: index, Data: data, Reason: "no frame"}
	}
	if len(data) < frameHeader {
		return nil, &CorruptError{Index: index, Data: data, Reason: "frame cut short"}
	}
	n := binary.BigEndian.Uint32(data[4:])
	payload := data[frameHeader:]
	if uint64(n) != uint64(len(payload)) {
		return nil, &CorruptError{Index: index, Data: data, Reason: fmt.Sprintf("frame says %d bytes, holds %d", n, len(payload))}
	}
	if sum := crc32.Checksum(payload, castagnoli); sum != binary.BigEndian.Uint32(data[8:]) {
		return nil, &CorruptError{Index: index, Data: data, Reason: "checksum mismatch"}
	}
	return payload, nil
}

// salvage finds the complete, verified frames in damaged bytes (what a
// repair cut off after a broken WAL length prefix), whatever the WAL
// framing around them says.
func salvage(b []byte) [][]byte {
	var out [][]byte
	for i := 0; i+frameHeader <= len(b); {
		j := bytes.Index(b[i:], frameMagic)
		if j < 0 {
			break
		}
		i += j
		if i+frameHeader <= len(b) {
			n := int(binary.BigEndian.Uint32(b[i+4:]))
			if end := i + frameHeader + n; n >= 0 && end <= len(b) && end >= i+frameHeader {
				payload := b[i+frameHeader : end]
				if crc32.Checksum(payload, castagnoli) == binary.BigEndian.Uint32(b[i+8:]) {
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
