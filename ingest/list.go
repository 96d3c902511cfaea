package ingest

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strconv"

	json "github.com/goccy/go-json"
)

// An EventList is read one item at a time: its items are found in place,
// without copying them or decoding the list whole, and a source may weigh
// each item before it is decoded (the webhook counts decoded batches
// against its in-flight budget, so that a body of a million tiny items is
// refused before it becomes a million events).

// ItemHook is called with the raw bytes of each item of a list, and of a
// lone event, before it is decoded. An error stops the decoding.
type ItemHook func(item []byte) error

// DecodeBatchFunc is DecodeBatch calling before ahead of each item's
// decoding (nil: none). When before fails, it returns what was decoded so
// far and the hook's error.
func DecodeBatchFunc(data []byte, loc string, before ItemHook) (b Batch, items []ItemError, err error) {
	single := func() (Batch, []ItemError, error) {
		if before != nil {
			if err := before(data); err != nil {
				return Batch{}, nil, err
			}
		}
		ev, err := DecodeEvent(data)
		if err != nil {
			return Batch{}, nil, err
		}
		return Batch{Records: []Record{{Event: ev, Location: loc}}}, nil, nil
	}
	if !looksLikeList(data) {
		return single()
	}
	// A list is found in place, not decoded whole, and a document that is
	// not JSON is refused whole, as decoding it whole did. A list written
	// as the apiserver writes it is checked as it is decoded: its head is,
	// and each item is by its own decoding, which refuses all that
	// encoding/json refuses (TestListVerdictAgreesWithEncodingJSON). Only
	// when that finds something amiss (a bad item, a separator out of
	// place) is the whole document checked, to tell a bad item from a
	// document that is not JSON: that pass over every byte was a seventh
	// of decoding a list.
	if arr, ok := apiserverItems(data); ok {
		b, items, end, err := decodeItems(arr, loc, before)
		if end.clean && len(items) == 0 && err == nil {
			return b, nil, nil
		}
		if !validJSON(data) {
			return Batch{}, nil, malformed(data)
		}
		if end.last {
			return b, items, err
		}
		// The items were not the document's last member after all: read
		// it as any other list (its items are weighed again).
	} else if !validJSON(data) {
		return Batch{}, nil, malformed(data)
	}
	head, err := listHead(data)
	if err != nil {
		return Batch{}, nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if head.kind != KindEventList {
		// Not a list after all ("EventList" appeared elsewhere).
		return single()
	}
	if head.apiVersion != "" && head.apiVersion != APIVersion {
		return Batch{}, nil, fmt.Errorf("apiVersion %q, want %q", head.apiVersion, APIVersion)
	}
	b, items, _, err = decodeItems(head.items, loc, before)
	return b, items, err
}

// apiserverHead starts every list the apiserver's webhook sends, before
// its metadata and items.
var apiserverHead = []byte(`{"kind":"EventList","apiVersion":"` + APIVersion + `","metadata":`)

// apiserverItems finds the items of a list written as the apiserver writes
// it (kind, apiVersion, metadata, items) without reading them: from their
// opening bracket to the document's last one, which closes them when they
// are the last member (decodeItems says whether they were). A list
// written otherwise is read by listHead, whose pass over the items, to
// find what comes after them, was an eighth of decoding a list. The
// metadata must be JSON: the rest of the head is the prefix itself.
func apiserverItems(data []byte) (arr []byte, ok bool) {
	if !bytes.HasPrefix(data, apiserverHead) {
		return nil, false
	}
	end, err := skipValue(data, len(apiserverHead)) // the metadata
	if err != nil || !bytes.HasPrefix(data[end:], []byte(`,"items":[`)) || !json.Valid(data[len(apiserverHead):end]) {
		return nil, false
	}
	start := end + len(`,"items":`)
	tail := bytes.TrimRight(data, " \t\r\n")
	if !bytes.HasSuffix(tail, []byte("]}")) || len(tail)-1 <= start {
		return nil, false
	}
	return data[start : len(tail)-1], true
}

// arrayEnd is how the array decodeItems read ended: at the end of its
// input (last), and with exactly one comma between elements and nothing
// else but white space (clean).
type arrayEnd struct{ last, clean bool }

// decodeItems decodes the elements of the JSON array at the start of arr,
// calling before ahead of each, and reports how the array ended.
func decodeItems(arr []byte, loc string, before ItemHook) (b Batch, items []ItemError, end arrayEnd, err error) {
	n, clean, err := eachElement(arr, func(i int, raw []byte) error {
		if before != nil {
			if err := before(raw); err != nil {
				return err
			}
		}
		at := loc + "#" + strconv.Itoa(i)
		ev, err := DecodeEvent(raw)
		if err != nil {
			items = append(items, ItemError{Index: i, Reason: err.Error()})
			b.Bad = append(b.Bad, BadInput{Location: at, Reason: err.Error()})
			return nil
		}
		b.Records = append(b.Records, Record{Event: ev, Location: at})
		return nil
	})
	return b, items, arrayEnd{last: err != nil || n == len(arr), clean: err == nil && clean && n == len(arr)}, err
}

// validJSON is encoding/json's verdict on a document, found six times
// faster: goccy's grammar check (allocating nothing) accepts every
// document encoding/json accepts, and a document it refuses is refused
// only when encoding/json refuses it too. On the webhook path the
// encoding/json scan alone cost a third of decoding a list.
func validJSON(data []byte) bool {
	return json.Valid(data) || stdjson.Valid(data)
}

// malformed describes why data is not JSON, in the decoder's words.
func malformed(data []byte) error {
	var v struct{}
	err := json.Unmarshal(data, &v)
	if err == nil {
		err = errors.New("not a JSON document")
	}
	return fmt.Errorf("malformed JSON: %w", shortJSONError(err))
}

// listDoc is what the list's own members say: the last of each, as the
// apiserver's decoder reads a duplicated key.
type listDoc struct {
	kind, apiVersion string
	items            []byte // the items array as written, or nil
}

// listHead reads the top-level members of a JSON object (valid JSON, as
// checked before) without decoding the items.
func listHead(data []byte) (listDoc, error) {
	var d listDoc
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return d, errors.New("not an object")
	}
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] != '}' {
		kEnd, err := skipString(data, i)
		if err != nil {
			return d, err
		}
		key, err := unquote(data[i:kEnd])
		if err != nil {
			return d, err
		}
		i = skipSpace(data, kEnd)
		i = skipSpace(data, i+1) // the colon
		vEnd, err := skipValue(data, i)
		if err != nil {
			return d, err
		}
		val := data[i:vEnd]
		switch key {
		case "kind", "apiVersion":
			s := ""
			if len(val) > 0 && val[0] == '"' {
				if s, err = unquote(val); err != nil {
					return d, err
				}
			}
			if key == "kind" {
				d.kind = s
			} else {
				d.apiVersion = s
			}
		case "items":
			d.items = nil
			if len(val) > 0 && val[0] == '[' {
				d.items = val
			}
		}
		i = skipSpace(data, vEnd)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return d, nil
}

// eachElement calls f with each element of the JSON array at the start of
// arr, in order, and returns where the array ends. It reads a comma out of
// place (missing, doubled, trailing) as the decoder's own reading did,
// and reports whether there was none (clean).
func eachElement(arr []byte, f func(i int, raw []byte) error) (end int, clean bool, err error) {
	if len(arr) == 0 {
		return 0, true, nil
	}
	clean = arr[0] == '['
	i := skipSpace(arr, 1)
	for n := 0; i < len(arr) && arr[i] != ']'; n++ {
		end, err := skipValue(arr, i)
		if err == nil && end == i {
			// A closing brace where an element belongs: no element to
			// hand on, and none past it either.
			err = fmt.Errorf("want a value at byte %d", i)
		}
		if err != nil {
			return 0, false, err
		}
		if err := f(n, arr[i:end]); err != nil {
			return 0, false, err
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
			clean = clean && i < len(arr) && arr[i] != ']'
		} else {
			clean = clean && i < len(arr) && arr[i] == ']'
		}
	}
	return i + 1, clean, nil
}

// unquote decodes a JSON string literal; the common one without escapes
// costs a conversion only.
func unquote(lit []byte) (string, error) {
	if len(lit) >= 2 && bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", err
	}
	return s, nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

var errTruncated = errors.New("unexpected end of JSON")

// skipString returns the end of the string literal starting at i.
func skipString(data []byte, i int) (int, error) {
	if i >= len(data) || data[i] != '"' {
		return 0, fmt.Errorf("want a string at byte %d", i)
	}
	// Jump from quote to quote (IndexByte is vectorized); a quote ends
	// the string unless an odd run of backslashes escapes it.
	for i++; i < len(data); i++ {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			break
		}
		i += j
		k := i - 1
		for k >= 0 && data[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 {
			return i + 1, nil
		}
	}
	return 0, errTruncated
}

// skipValue returns the end of the JSON value starting at i.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errTruncated
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				end, err := skipString(data, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errTruncated
	}
	for ; i < len(data); i++ {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i, nil
		}
	}
	return i, nil
}
