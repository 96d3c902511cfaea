package live

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/store"
)

// A row entry is how the write-ahead path spools a batch: each event as the
// store will keep it (store.Row: its columns and its redacted JSON,
// rendered once), then the batch's findings as JSON. Reading it back for
// the store costs a pass over length-prefixed fields, with every string
// pointing into the entry, instead of decoding each event's JSON into an
// auditv1.Event and marshaling it again.
//
//	"KRW1" | rows (uvarint) | row... | findings JSON length (uvarint) | findings JSON
//	row: time (varint unix seconds, uvarint nanoseconds) | code (varint) | strings (uvarint length, bytes)
//	     audit id, stage, user, groups (count, strings), impersonated user,
//	     source IPs (count, strings), user agent, verb, API group, resource,
//	     subresource, namespace, name, request URI, decision, location, JSON
//
// The JSON entries of version 1 (codec.go), written by the store-first
// path and by earlier kaudits, start with '{' and are still read.
var rowMagic = []byte("KRW1")

// isRowEntry tells a row entry from a JSON one.
func isRowEntry(data []byte) bool { return bytes.HasPrefix(data, rowMagic) }

// entryBufs are the buffers row entries are rendered into, reused once the
// spool wrote them: a webhook batch makes an entry of half a megabyte.
var entryBufs = sync.Pool{New: func() any { return new([]byte) }}

// renderers render the rows of concurrent batches, each into a buffer of
// its own that the next row reuses.
var renderers = sync.Pool{New: func() any { return store.NewRenderer() }}

// encodeRows renders a judged batch as a row entry after spool.Headroom
// bytes of room for its frame, in a buffer of entryBufs: release it once
// the spool has the entry.
func encodeRows(recs []ingest.Record, findings []detect.Finding) (entry *[]byte, n int, err error) {
	entry = entryBufs.Get().(*[]byte)
	buf := append((*entry)[:0], make([]byte, spool.Headroom)...)
	if need := len(buf) + 1600*len(recs) + 64; cap(buf) < need { // events average 1.3 KB
		buf = append(make([]byte, 0, need), buf...)
	}
	defer func() { *entry = buf }()
	buf = append(buf, rowMagic...)
	buf = binary.AppendUvarint(buf, uint64(len(recs)))
	rend := renderers.Get().(*store.Renderer)
	defer renderers.Put(rend)
	for i := range recs {
		r, err := rend.Row(&recs[i])
		if err != nil {
			releaseEntry(entry)
			return nil, 0, err
		}
		buf = appendRow(buf, &r)
	}
	fj := []byte("[]")
	if len(findings) > 0 {
		var err error
		if fj, err = json.Marshal(findings); err != nil {
			releaseEntry(entry)
			return nil, 0, fmt.Errorf("marshal findings: %w", err)
		}
	}
	buf = appendBytes(buf, fj)
	return entry, len(recs), nil
}

// releaseEntry returns an entry's buffer for reuse; a very large one is
// let go, so that one huge batch does not stay in memory.
func releaseEntry(entry *[]byte) {
	if cap(*entry) <= 8<<20 {
		entryBufs.Put(entry)
	}
}

func appendRow(buf []byte, r *store.Row) []byte {
	// Seconds and nanoseconds apart: a time past 2262 (a hostile or
	// badly skewed event) overflows unix nanoseconds.
	buf = binary.AppendVarint(buf, r.At.Unix())
	buf = binary.AppendUvarint(buf, uint64(r.At.Nanosecond()))
	buf = binary.AppendVarint(buf, int64(r.Code))
	buf = appendStrings(buf, r.AuditID, r.Stage, r.User)
	buf = appendList(buf, r.Groups)
	buf = appendStrings(buf, r.ImpersonatedUser)
	buf = appendList(buf, r.SourceIPs)
	buf = appendStrings(buf, r.UserAgent, r.Verb, r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name,
		r.RequestURI, r.Decision, r.Location)
	return appendBytes(buf, r.JSON)
}

func appendStrings(buf []byte, ss ...string) []byte {
	for _, s := range ss {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	return buf
}

func appendList(buf []byte, ss []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ss)))
	return appendStrings(buf, ss...)
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// rowReader reads a row entry; the first error sticks.
type rowReader struct {
	data []byte
	err  error
}

var errShortEntry = errors.New("row entry cut short")

func (r *rowReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *rowReader) varint() int64 {
	v, n := binary.Varint(r.data)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *rowReader) fail() {
	if r.err == nil {
		r.err = errShortEntry
	}
	r.data = nil
}

// bytes returns the next length-prefixed field, pointing into the entry.
func (r *rowReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.data)) {
		r.fail()
		return nil
	}
	b := r.data[:n:n]
	r.data = r.data[n:]
	return b
}

// str is the next field as a string sharing the entry's bytes: the entry
// is never modified once read.
func (r *rowReader) str() string {
	b := r.bytes()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (r *rowReader) list() []string {
	n := r.uvarint()
	if n > uint64(len(r.data)) { // every element takes at least a byte
		r.fail()
		return []string{}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

// rowFields is how many fields encodeRows writes for each row.
const rowFields = 20

// decodeRows reads a row entry, appending its rows to rows.
func decodeRows(data []byte, rows []store.Row) ([]store.Row, []detect.Finding, error) {
	r := &rowReader{data: data[len(rowMagic):]}
	n := r.uvarint()
	if n > uint64(len(r.data)) {
		return rows, nil, errShortEntry
	}
	// Every row takes at least one byte per field: a damaged count cannot
	// make this reserve more than the entry could hold.
	rows = slices.Grow(rows, int(min(n, uint64(len(r.data))/rowFields)))
	for i := uint64(0); i < n && r.err == nil; i++ {
		var row store.Row
		sec := r.varint()
		row.At = time.Unix(sec, int64(r.uvarint())).UTC()
		row.Code = int32(r.varint())
		row.AuditID, row.Stage, row.User = r.str(), r.str(), r.str()
		row.Groups = r.list()
		row.ImpersonatedUser = r.str()
		row.SourceIPs = r.list()
		row.UserAgent, row.Verb, row.APIGroup, row.Resource = r.str(), r.str(), r.str(), r.str()
		row.Subresource, row.Namespace, row.Name = r.str(), r.str(), r.str()
		row.RequestURI, row.Decision, row.Location = r.str(), r.str(), r.str()
		row.JSON = r.bytes()
		rows = append(rows, row)
	}
	fj := r.bytes()
	if r.err != nil {
		return rows, nil, fmt.Errorf("decode spool entry: %w", r.err)
	}
	var findings []detect.Finding
	if err := json.Unmarshal(fj, &findings); err != nil {
		return rows, nil, fmt.Errorf("decode spool entry: findings: %w", err)
	}
	return rows, findings, nil
}
