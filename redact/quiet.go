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
// acts on or judges by: a kind that gives an object a context (a Secret),
// a name that looks like a credential (of a flag, an environment
// variable, a ConfigMap's key, or a key holding a string walk would
// replace), a last-applied annotation that is not itself a quiet body, or
// a value scrub could change. It must hold that quietBody(b, c) implies
// redactBody(b, c) changes nothing; TestQuietBodiesAreLeftAsTheyAre checks
// it on every body of the fixtures and the corpus, and
// TestQuietBodiesGenerated on generated ones.

// quietBody reports whether redactBody(data, c) would return data
// unchanged, without building the tree; false means "read it in full",
// not "it holds a secret". Only ctxNone and ctxConfigMap (the body of a
// request on configmaps) may pass; any other context (a Secret's, a token
// request's) is always read in full. A ConfigMap's context only adds the
// judging of its data's keys, which the scanner does in every object
// (roleData), and of a JSON patch's paths, which it leaves to the tree.
func quietBody(data []byte, c objectContext) bool {
	q := quietScanner{parser{data: data}}
	q.space()
	switch {
	case c == ctxConfigMap && (q.i >= len(data) || data[q.i] == '['):
		return false
	case c != ctxNone && c != ctxConfigMap:
		return false
	}
	if !q.value(0, roleNone) {
		return false
	}
	q.space()
	return q.i == len(data)
}

// role is what walk makes of a value by where it stands: the list under
// an "env" key, or one entry of it (whose "name" is judged); an object's
// metadata, and its annotations (where kubectl keeps the last applied
// version of the object); the data or binaryData of an object (a
// ConfigMap's, whose keys are judged).
type role uint8

const (
	roleNone role = iota
	roleEnvList
	roleEnvEntry
	roleMetadata
	roleAnnotations
	roleData
)

// memberRole is the role of the value of a member named key, in an object
// of role r.
func memberRole(r role, key string) role {
	switch {
	case key == "env":
		return roleEnvList
	case key == "metadata":
		return roleMetadata
	case key == "annotations" && r == roleMetadata:
		return roleAnnotations
	case key == "data" || key == "binaryData":
		return roleData
	}
	return roleNone
}

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
		if depth+1 > maxDepth {
			return false // as value would say of the member's value
		}
		// The members walk judges by their key: each reads its value if it
		// is a string, and judges it with the key.
		str := q.i < len(q.data) && q.data[q.i] == '"'
		switch {
		case r == roleEnvEntry && key == "name" && str:
			// An environment variable's name: walk redacts its value
			// when the name looks like a credential.
			name, ok := q.string()
			if !ok || LooksLikeCredential(name) || !quietValue(name) {
				return false
			}
		case r == roleData && LooksLikeCredential(key):
			// A key of a ConfigMap's data that looks like a credential:
			// its value is replaced unless it is a marker already. Judged
			// whatever the object's kind, which may come after its data.
			if !str {
				return false
			}
			v, ok := q.string()
			if !ok || !strings.HasPrefix(v, MarkerPrefix) {
				return false
			}
		case r == roleAnnotations && key == lastApplied && str:
			// The last applied version of the object, which walk
			// redacts as a body of its own, and then (walking the
			// annotations) scrubs as a string.
			v, ok := q.string()
			if !ok || !quietValue(v) || v != "" && !quietBody(unsafe.Slice(unsafe.StringData(v), len(v)), ctxNone) {
				return false
			}
		case isCredentialKey(key) && str:
			// A string under a key that names a credential ("password",
			// "bearerToken") is replaced, unless it is empty or a marker
			// already; any other value under it is walked as any other
			// ("serviceAccountToken": {"path": "token"} in a pod's volumes).
			v, ok := q.string()
			if !ok || v != "" && !strings.HasPrefix(v, MarkerPrefix) || !quietValue(v) {
				return false
			}
		default:
			if !q.value(depth+1, memberRole(r, key)) {
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
	return kindContext(s) == ctxNone && s != "SecretList" && !scrubMayChange(s)
}

// quietValue reports whether walk leaves the string s alone wherever it
// stands as a value: a kind, an element of a list, a member's value.
// "ConfigMap" passes: that kind only has its data's keys judged, which
// the scanner does whatever the kind (roleData). Ending with a credential
// word ("serviceaccounts/token" in a role's resources) counts only for a
// flag, which names the credential that the next element of its list
// holds ("--db-password", "hunter2").
func quietValue(s string) bool {
	if c := kindContext(s); c != ctxNone && c != ctxConfigMap || s == "SecretList" || len(s) > 0 && s[0] == '-' && isCredentialKey(s) {
		return false
	}
	return !scrubMayChange(s)
}
