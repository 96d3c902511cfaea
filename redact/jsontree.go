package redact

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The redactor reads request and response bodies into this tree rather
// than into Go maps: a map keeps one value of a key written twice and
// forgets the order, while a body as the apiserver logged it (a raw patch)
// can hold `"data"` twice, and the apiserver applies the last one. The
// tree keeps every member in order, so that every value of a duplicated
// key is judged and redacted, and a body is written back as it came, but
// for what was redacted. Strings are decoded, escapes and all: `"\u0065nv"`
// is "env" here, as it is to the apiserver.

// nodeKind is the JSON type of a node.
type nodeKind uint8

const (
	kindLiteral nodeKind = iota // number, true, false, null: kept as written
	kindString
	kindObject
	kindArray
)

// node is one JSON value.
type node struct {
	kind    nodeKind
	str     string   // kindString: the decoded string
	raw     []byte   // the value as written in the input
	members []member // kindObject, in order, duplicates included
	elems   []*node  // kindArray
	dirty   bool     // changed, or holds a change: written anew
}

// member is one key and its value.
type member struct {
	key string
	val *node
}

// maxDepth bounds nesting: Kubernetes objects are a few dozen levels deep,
// and a body nested deeper is refused (and replaced whole by a marker)
// rather than recursed into.
const maxDepth = 1000

var errDepth = errors.New("nested too deeply")

// parseJSON reads one JSON document into a tree.
func parseJSON(data []byte) (*node, error) {
	p := parser{data: data, members: make([]member, 0, 32), elems: make([]*node, 0, 16)}
	p.space()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.data) {
		return nil, p.errorf("data after the value")
	}
	return n, nil
}

type parser struct {
	data []byte
	i    int
	// Members and elements of the objects and arrays being read are
	// gathered on these stacks, and each object or array gets a slice of
	// exactly its size when it ends: growing each one by append was half
	// the parser's time.
	members []member
	elems   []*node
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, errDepth
	}
	if p.i >= len(p.data) {
		return nil, p.errorf("unexpected end")
	}
	start := p.i
	switch c := p.data[p.i]; {
	case c == '{':
		n, err := p.object(depth)
		if err != nil {
			return nil, err
		}
		n.raw = p.data[start:p.i]
		return n, nil
	case c == '[':
		n, err := p.array(depth)
		if err != nil {
			return nil, err
		}
		n.raw = p.data[start:p.i]
		return n, nil
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &node{kind: kindString, str: s, raw: p.data[start:p.i]}, nil
	case c == 't':
		return p.word("true")
	case c == 'f':
		return p.word("false")
	case c == 'n':
		return p.word("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, p.errorf("unexpected %q", p.data[p.i])
}

func (p *parser) word(w string) (*node, error) {
	start := p.i
	if !p.skipWord(w) {
		return nil, p.errorf("want %s", w)
	}
	return &node{kind: kindLiteral, raw: p.data[start:p.i]}, nil
}

// skipWord moves past w (true, false, null) if it is next.
func (p *parser) skipWord(w string) bool {
	if !strings.HasPrefix(string(p.data[p.i:min(len(p.data), p.i+len(w))]), w) {
		return false
	}
	p.i += len(w)
	return true
}

func (p *parser) number() (*node, error) {
	start := p.i
	if !p.skipNumber() {
		return nil, p.errorf("bad number")
	}
	return &node{kind: kindLiteral, raw: p.data[start:p.i]}, nil
}

// skipNumber moves past the JSON number that starts at p.i, and reports
// whether it is one.
func (p *parser) skipNumber() bool {
	if p.data[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return false
	}
	if p.i < len(p.data) && p.data[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return false
		}
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// next moves past what follows a member of an object or an element of a
// list: a comma (more follow) or the closing bracket (done).
func (p *parser) next(close byte, what string) (done bool, err error) {
	p.space()
	if p.i >= len(p.data) {
		return false, p.errorf("unexpected end of %s", what)
	}
	switch p.data[p.i] {
	case ',':
		p.i++
		return false, nil
	case close:
		p.i++
		return true, nil
	}
	return false, p.errorf("want ',' or '%c'", close)
}

func (p *parser) object(depth int) (*node, error) {
	p.i++ // {
	n := &node{kind: kindObject}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return n, nil
	}
	base := len(p.members)
	defer func() { p.members = p.members[:base] }()
	for {
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return nil, p.errorf("want a key")
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return nil, p.errorf("want ':'")
		}
		p.i++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.members = append(p.members, member{key: key, val: v})
		done, err := p.next('}', "object")
		if err != nil {
			return nil, err
		}
		if done {
			n.members = append([]member(nil), p.members[base:]...)
			return n, nil
		}
	}
}

func (p *parser) array(depth int) (*node, error) {
	p.i++ // [
	n := &node{kind: kindArray}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return n, nil
	}
	base := len(p.elems)
	defer func() { p.elems = p.elems[:base] }()
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.elems = append(p.elems, v)
		done, err := p.next(']', "array")
		if err != nil {
			return nil, err
		}
		if done {
			n.elems = append([]*node(nil), p.elems[base:]...)
			return n, nil
		}
	}
}

// string reads a quoted string, decoding its escapes.
//
// Long because it is a scanner's loop over one JSON string (escapes,
// surrogates, invalid bytes), kept whole like encoding/json's.
func (p *parser) string() (string, error) {
	p.i++ // "
	start := p.i
	// Fast path: no escapes.
	p.i = plainRun(p.data, p.i)
	if p.i < len(p.data) {
		switch c := p.data[p.i]; {
		case c == '"':
			s := string(p.data[start:p.i])
			p.i++
			return s, nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		}
	}
	// A backslash, or the end of the data: the loop below decides.
	var b strings.Builder
	b.Write(p.data[start:p.i])
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		p.i++ // backslash
		if p.i >= len(p.data) {
			break
		}
		e := p.data[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone half becomes U+FFFD, as
				// encoding/json decodes it.
				if p.i+1 < len(p.data) && p.data[p.i] == '\\' && p.data[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					if r2, ok := p.hex4(); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							b.WriteRune(d)
							continue
						}
					}
					p.i = save
				}
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default:
			return "", p.errorf("bad escape \\%c", e)
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.data) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.data[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}

// encode writes the tree back: unchanged values as they were written,
// changed ones anew.
func (n *node) encode(b *strings.Builder) {
	if !n.dirty {
		b.Write(n.raw)
		return
	}
	switch n.kind {
	case kindString:
		writeString(b, n.str)
	case kindLiteral:
		b.Write(n.raw)
	case kindObject:
		b.WriteByte('{')
		for i, m := range n.members {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, m.key)
			b.WriteByte(':')
			m.val.encode(b)
		}
		b.WriteByte('}')
	case kindArray:
		b.WriteByte('[')
		for i, e := range n.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			e.encode(b)
		}
		b.WriteByte(']')
	}
}

// writeString writes s as a JSON string, as encoding/json does (HTML
// characters escaped, invalid UTF-8 as U+FFFD).
func writeString(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// setString replaces a value by a string (a marker, or a string with its
// secret parts replaced).
func (n *node) setString(s string) {
	n.kind, n.str, n.members, n.elems, n.dirty = kindString, s, nil, nil, true
}

// get returns the values of key, every one of them when the key is
// written more than once; keys compare without case, so that a body
// spelling "Data" is judged like one spelling "data".
func (n *node) get(key string) []*node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	var out []*node
	for i := range n.members {
		if strings.EqualFold(n.members[i].key, key) {
			out = append(out, n.members[i].val)
		}
	}
	return out
}

// strings returns the string values of key.
func (n *node) strings(key string) []string {
	var out []string
	for _, v := range n.get(key) {
		if v.kind == kindString {
			out = append(out, v.str)
		}
	}
	return out
}
