package redact

import (
	"strings"
	"unsafe"
)

// Most bodies hold nothing to redact: leases, events, pods without
// credentials in their environment. Reading each into a tree (jsontree.go)
// to find that out was the larger part of redaction's cost, in allocations
// the garbage collector then paid for again. quietBody reads a body once,
// allocating nothing, and says whether redactBody would leave it as it is;
// only the others are read into a tree.
//
// It answers true only when that is certain: the body is one JSON document
// the tree's parser accepts (escapes decoded by the parser's own decoder,
// since an escaped letter can hide a word), and no string is one that walk
// acts on or judges by: a kind that gives an object a context (a Secret), the
// last-applied annotation, a name that looks like a credential (of a flag,
// an environment variable, or of a key holding a string walk would
// replace), or a value scrub could change. It
// must hold that quietBody(b) implies redactBody(b, ctxNone) changes
// nothing; TestQuietBodiesAreLeftAsTheyAre checks it on every body of the
// fixtures and the corpus and on generated ones.

// quietBody reports whether redactBody(data, ctxNone) would return data
// unchanged, without building the tree; false means "read it in full",
// not "it holds a secret".
func quietBody(data []byte) bool {
	q := quietScanner{parser{data: data}}
	q.space()
	if !q.value(0, roleNone) {
		return false
	}
	q.space()
	return q.i == len(data)
}

// role is what walk makes of a value by where it stands: the list under
// an "env" key, or one entry of it (whose "name" is judged).
type role uint8

const (
	roleNone role = iota
	roleEnvList
	roleEnvEntry
)

// quietScanner follows the grammar of parser (jsontree.go), with the
// parser's own pieces (blanks, words, numbers, separators), so that what
// it accepts the parser accepts; it builds no node.
type quietScanner struct{ parser }

func (q *quietScanner) value(depth int, r role) bool {
	if depth > maxDepth || q.i >= len(q.data) {
		return false
	}
	switch c := q.data[q.i]; {
	case c == '{':
		return q.object(depth, r)
	case c == '[':
		return q.array(depth, r)
	case c == '"':
		s, ok := q.string()
		return ok && quietValue(s)
	case c == 't':
		return q.skipWord("true")
	case c == 'f':
		return q.skipWord("false")
	case c == 'n':
		return q.skipWord("null")
	case c == '-' || c >= '0' && c <= '9':
		return q.skipNumber()
	}
	return false
}

func (q *quietScanner) object(depth int, r role) bool {
	q.i++ // {
	q.space()
	if q.i < len(q.data) && q.data[q.i] == '}' {
		q.i++
		return true
	}
	for {
		q.space()
		if q.i >= len(q.data) || q.data[q.i] != '"' {
			return false
		}
		key, ok := q.string()
		if !ok || !quietKey(key) {
			return false
		}
		q.space()
		if q.i >= len(q.data) || q.data[q.i] != ':' {
			return false
		}
		q.i++
		q.space()
		vr := roleNone
		if key == "env" {
			vr = roleEnvList
		}
		switch {
		case r == roleEnvEntry && key == "name" && q.i < len(q.data) && q.data[q.i] == '"':
			// An environment variable's name: walk redacts its value
			// when the name looks like a credential.
			name, ok := q.string()
			if !ok || depth+1 > maxDepth || LooksLikeCredential(name) || !quietValue(name) {
				return false
			}
		case isCredentialKey(key) && q.i < len(q.data) && q.data[q.i] == '"':
			// A string under a key that names a credential ("password",
			// "bearerToken") is replaced, unless it is empty or a marker
			// already; any other value under it is walked as any other
			// ("serviceAccountToken": {"path": "token"} in a pod's volumes).
			v, ok := q.string()
			if !ok || depth+1 > maxDepth || v != "" && !strings.HasPrefix(v, MarkerPrefix) || !quietValue(v) {
				return false
			}
		default:
			if !q.value(depth+1, vr) {
				return false
			}
		}
		if done, err := q.next('}', "object"); err != nil || done {
			return err == nil
		}
	}
}

func (q *quietScanner) array(depth int, r role) bool {
	q.i++ // [
	q.space()
	if q.i < len(q.data) && q.data[q.i] == ']' {
		q.i++
		return true
	}
	er := roleNone
	if r == roleEnvList {
		er = roleEnvEntry
	}
	for {
		q.space()
		if !q.value(depth+1, er) {
			return false
		}
		if done, err := q.next(']', "array"); err != nil || done {
			return err == nil
		}
	}
}

// string reads a string as a view of the body (it is only looked at); one
// with escapes (the apiserver writes < as \u003c) is decoded by the tree's
// own decoder, so that it reads exactly as walk would read it.
func (q *quietScanner) string() (string, bool) {
	quote := q.i
	q.i = plainRun(q.data, q.i+1)
	switch {
	case q.i >= len(q.data):
		return "", false
	case q.data[q.i] == '"':
		b := q.data[quote+1 : q.i]
		q.i++
		return unsafe.String(unsafe.SliceData(b), len(b)), true
	case q.data[q.i] == '\\':
		q.i = quote
		s, err := q.parser.string()
		return s, err == nil
	}
	return "", false // a control character
}

// quietKey reports whether walk leaves a member named s alone, whatever
// its value: a key that names a credential is judged with its value
// (object).
func quietKey(s string) bool {
	return kindContext(s) == ctxNone && s != "SecretList" && s != lastApplied && !scrubMayChange(s)
}

// quietValue reports whether walk leaves the string s alone wherever it
// stands as a value: a kind, an element of a list, a member's value.
// Ending with a credential word ("serviceaccounts/token" in a role's
// resources) counts only for a flag, which names the credential that the
// next element of its list holds ("--db-password", "hunter2").
func quietValue(s string) bool {
	if kindContext(s) != ctxNone || s == "SecretList" || s == lastApplied || len(s) > 0 && s[0] == '-' && isCredentialKey(s) {
		return false
	}
	return !scrubMayChange(s)
}
