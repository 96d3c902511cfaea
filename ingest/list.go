package ingest

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strconv"

	json "github.com/goccy/go-json"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// An EventList is found in place, without copying its items. A source may
// weigh what decoding it will cost before it is done (the webhook counts
// decoded batches against its in-flight budget, so that a body of a
// million tiny items is refused before it becomes a million events).

// Weigher weighs what decoding will cost before it is done.
type Weigher interface {
	// Item is called with the raw bytes of each item of a list, and of a
	// lone event, before it is decoded. An error stops the decoding.
	Item(raw []byte) error
	// List is asked before the items of a list, bytes in all, are decoded
	// in one pass, with the most items they can hold: true takes their
	// weight at once; false (it cannot be had now) has them decoded one
	// by one instead, each weighed by Item.
	List(maxItems, bytes int) bool
	// Settle follows a List that returned true, with what was decoded:
	// items items of bytes bytes in all, whose weight is kept, the rest
	// of what List took being given back; or 0 and 0 when the one pass
	// failed (the items are then decoded one by one, each weighed by
	// Item).
	Settle(items, bytes int)
}

// DecodeBatchFunc is DecodeBatch weighing what it decodes with w (nil:
// not weighed). When w refuses an item, it returns what was decoded so far
// and w's error.
func DecodeBatchFunc(data []byte, loc string, w Weigher) (b Batch, items []ItemError, err error) {
	single := func() (Batch, []ItemError, error) {
		if w != nil {
			if err := w.Item(data); err != nil {
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
	// A document that is not JSON is refused whole. A list written as the
	// apiserver writes it is checked as it is decoded: its head is, and its
	// items by their decoding (in one pass, decodeAll, or one by one),
	// which refuses all that encoding/json refuses
	// (TestListVerdictAgreesWithEncodingJSON). Only when that finds
	// something amiss (a bad item, a separator out of place) is the whole
	// document checked, to tell a bad item from a document that is not
	// JSON: that pass over every byte was a seventh of decoding a list.
	if arr, ok := apiserverItems(data); ok {
		if b, ok := decodeAll(arr, loc, w); ok {
			return b, nil, nil
		}
		b, items, end, err := decodeItems(arr, loc, w)
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
	b, items, _, err = decodeItems(head.items, loc, w)
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

// decodeAll decodes the items of arr, a JSON array and nothing else, in
// one pass, when every one of them is a good event: ok is false otherwise,
// and for a list the weigher will not take at once. Finding each item's
// end before decoding it, so as to decode it alone, was a fifth of
// decoding a list; the one pass finds them as it decodes. A list with a
// bad item is decoded one item at a time instead (decodeItems), which
// tells each bad item from the good ones.
func decodeAll(arr []byte, loc string, w Weigher) (Batch, bool) {
	// Every event is an object: no more events than opening braces can
	// be made of arr, which bounds what the one pass allocates before it
	// is weighed item by item.
	maxItems := bytes.Count(arr, []byte{'{'})
	if maxItems == 0 || w != nil && !w.List(maxItems, len(arr)) {
		return Batch{}, false
	}
	var all []*wireEvent
	b, ok := Batch{}, json.Unmarshal(arr, &all) == nil
	if ok {
		b.Records = make([]Record, 0, len(all))
	}
	for i := 0; ok && i < len(all); i++ {
		var ev *auditv1.Event
		if all[i] != nil { // null: a bad item
			ev, _ = all[i].event()
		}
		ok = ev != nil
		b.Records = append(b.Records, Record{Event: ev, Location: itemLocation(loc, i)})
	}
	if !ok {
		if w != nil {
			w.Settle(0, 0)
		}
		return Batch{}, false
	}
	if w != nil {
		// What Item would have weighed: the items without the brackets
		// and the commas between them (and the blanks, if any, which the
		// apiserver does not write).
		w.Settle(len(all), len(arr)-2-max(len(all)-1, 0))
	}
	return b, true
}

// itemLocation is where the item of a list at loc, at index i as sent,
// was found (DecodeBatch).
func itemLocation(loc string, i int) string { return loc + "#" + strconv.Itoa(i) }

// decodeItems decodes the elements of the JSON array at the start of arr,
// weighing each with w, and reports how the array ended.
func decodeItems(arr []byte, loc string, w Weigher) (b Batch, items []ItemError, end arrayEnd, err error) {
	n, clean, err := eachElement(arr, func(i int, raw []byte) error {
		if w != nil {
			if err := w.Item(raw); err != nil {
				return err
			}
		}
		at := itemLocation(loc, i)
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
