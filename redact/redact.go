// Package redact replaces secret values in audit events with keyed hashes
// before any other stage (detection, storage, output) sees them.
//
// What counts as a secret: data and stringData of Secrets (also inside Lists,
// patch bodies and the kubectl last-applied-configuration annotation),
// status.token of TokenRequests, spec.token of TokenReviews, and values of
// environment variables and ConfigMap keys whose names look like credentials.
// Each value becomes a marker carrying an HMAC-SHA256 of it, so an analyst
// can still tell that two events carried the same secret without seeing it.
package redact

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"sync"

	json "github.com/goccy/go-json"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// MarkerPrefix starts every replacement value. Rules can test for it to
// know a credential was present without seeing it.
const MarkerPrefix = "kaudit-redacted:hmac-sha256:"

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// credentialName matches names of environment variables and ConfigMap keys
// that conventionally hold credentials.
var credentialName = regexp.MustCompile(`(?i)(passw(or)?d|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth|bearer|dsn|connection[_-]?string|cert[_-]?key)`)

// LooksLikeCredential reports whether a variable or key name conventionally
// holds a credential.
func LooksLikeCredential(name string) bool { return credentialName.MatchString(name) }

// Redactor replaces secrets with keyed hashes. It is safe for concurrent use.
type Redactor struct {
	key  []byte
	pool sync.Pool
}

// New returns a Redactor keyed with key. An empty key is refused: use
// NewRandom for a per-run key.
func New(key []byte) (*Redactor, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("redaction key is empty")
	}
	r := &Redactor{key: append([]byte(nil), key...)}
	r.pool.New = func() any { return hmac.New(sha256.New, r.key) }
	return r, nil
}

// NewRandom returns a Redactor with a random key. Hashes then match only
// within one run, which is why callers warn when they fall back to it.
func NewRandom() *Redactor {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the OS has no entropy: nothing sane to do
	}
	r, _ := New(key)
	return r
}

// Marker returns the replacement for a secret value.
func (r *Redactor) Marker(value []byte) string {
	h := r.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(value)
	sum := h.Sum(nil)
	r.pool.Put(h)
	return MarkerPrefix + hex.EncodeToString(sum[:16])
}

// objectContext says what the top-level object of an event is when its kind
// is not written in it (patch bodies, some subresource bodies).
type objectContext int

const (
	ctxNone objectContext = iota
	ctxSecret
	ctxTokenRequest
	ctxTokenReview
	ctxConfigMap
)

func contextOf(ev *auditv1.Event) objectContext {
	if ev.ObjectRef == nil {
		return ctxNone
	}
	switch {
	case ev.ObjectRef.Resource == "secrets" && ev.ObjectRef.Subresource == "":
		return ctxSecret
	case ev.ObjectRef.Resource == "serviceaccounts" && ev.ObjectRef.Subresource == "token":
		return ctxTokenRequest
	case ev.ObjectRef.Resource == "tokenreviews":
		return ctxTokenReview
	case ev.ObjectRef.Resource == "configmaps" && ev.ObjectRef.Subresource == "":
		return ctxConfigMap
	}
	return ctxNone
}

// hints are byte strings without which an object whose resource gives no
// context (see contextOf) cannot hold anything this package redacts: a
// nested Secret, TokenRequest, TokenReview or ConfigMap names its kind, and
// environment variables and kubectl's annotation have fixed keys. Objects
// holding none of them are not parsed at all.
var hints = [][]byte{[]byte(`"Secret`), []byte(`"TokenRe`), []byte(`"ConfigMap"`), []byte(`"env"`), []byte(lastApplied)}

// Redact rewrites the event's request and response objects in place.
// An object that is not valid JSON cannot be inspected, so it is replaced
// whole by a marker: failing closed keeps secrets out of storage.
func (r *Redactor) Redact(ev *auditv1.Event) {
	c := contextOf(ev)
	r.redactObject(ev.RequestObject, c)
	r.redactObject(ev.ResponseObject, c)
}

func (r *Redactor) redactObject(u *runtime.Unknown, c objectContext) {
	if u == nil || len(u.Raw) == 0 {
		return
	}
	if c == ctxNone && !containsAny(u.Raw, hints) {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(u.Raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		u.Raw = []byte(`"` + r.Marker(u.Raw) + `"`)
		return
	}
	if !r.walk(v, c, true) {
		return
	}
	out, err := json.Marshal(v)
	if err != nil {
		u.Raw = []byte(`"` + r.Marker(u.Raw) + `"`)
		return
	}
	u.Raw = out
}

func containsAny(b []byte, subs [][]byte) bool {
	for _, s := range subs {
		if bytes.Contains(b, s) {
			return true
		}
	}
	return false
}

// walk redacts v in place and reports whether it changed anything. c applies
// only to the top-level value (top), where the kind may be missing.
func (r *Redactor) walk(v any, c objectContext, top bool) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		kind, _ := t["kind"].(string)
		if !top || kind != "" {
			c = kindContext(kind)
		}
		switch c {
		case ctxSecret:
			changed = r.values(t["data"], true) || changed
			changed = r.values(t["stringData"], false) || changed
		case ctxTokenRequest:
			changed = r.field(t, "status", "token") || changed
		case ctxTokenReview:
			changed = r.field(t, "spec", "token") || changed
		case ctxConfigMap:
			changed = r.credentialKeys(t["data"]) || changed
			changed = r.credentialKeys(t["binaryData"]) || changed
		}
		if kind == "SecretList" {
			if items, ok := t["items"].([]any); ok {
				for _, it := range items {
					changed = r.walk(it, ctxSecret, true) || changed
				}
			}
		}
		if env, ok := t["env"].([]any); ok {
			changed = r.env(env) || changed
		}
		changed = r.annotation(t) || changed
		for k, child := range t {
			if k == "data" || k == "stringData" {
				continue // handled above when secret; configmap data holds no objects
			}
			changed = r.walk(child, ctxNone, false) || changed
		}
	case []any:
		if top && c == ctxSecret {
			changed = r.jsonPatch(t) || changed
		}
		for _, child := range t {
			changed = r.walk(child, ctxNone, false) || changed
		}
	}
	return changed
}

func kindContext(kind string) objectContext {
	switch kind {
	case "Secret":
		return ctxSecret
	case "TokenRequest":
		return ctxTokenRequest
	case "TokenReview":
		return ctxTokenReview
	case "ConfigMap":
		return ctxConfigMap
	}
	return ctxNone
}

// values replaces every value of a map (Secret data). Base64 data is hashed
// decoded so that data and stringData holding the same secret match.
func (r *Redactor) values(v any, b64 bool) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for k, val := range m {
		m[k] = r.markerFor(val, b64)
	}
	return len(m) > 0
}

func (r *Redactor) markerFor(val any, b64 bool) string {
	s, ok := val.(string)
	if !ok {
		raw, _ := json.Marshal(val)
		return r.Marker(raw)
	}
	if strings.HasPrefix(s, MarkerPrefix) {
		return s
	}
	if b64 {
		if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
			return r.Marker(dec)
		}
	}
	return r.Marker([]byte(s))
}

// field replaces m[outer][inner].
func (r *Redactor) field(m map[string]any, outer, inner string) bool {
	o, ok := m[outer].(map[string]any)
	if !ok {
		return false
	}
	if val, ok := o[inner]; ok && val != "" {
		o[inner] = r.markerFor(val, false)
		return true
	}
	return false
}

// credentialKeys replaces the values of keys that look like credentials,
// keeping the key so that rules still see the fact.
func (r *Redactor) credentialKeys(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	changed := false
	for k, val := range m {
		if LooksLikeCredential(k) {
			m[k] = r.markerFor(val, false)
			changed = true
		}
	}
	return changed
}

// env redacts container environment values with credential-like names.
func (r *Redactor) env(list []any) bool {
	changed := false
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		if val, ok := m["value"]; ok && LooksLikeCredential(name) {
			m["value"] = r.markerFor(val, false)
			changed = true
		}
	}
	return changed
}

// jsonPatch redacts values of JSON-patch operations on a Secret's data.
func (r *Redactor) jsonPatch(ops []any) bool {
	changed := false
	for _, op := range ops {
		m, ok := op.(map[string]any)
		if !ok {
			continue
		}
		path, _ := m["path"].(string)
		if val, ok := m["value"]; ok && (strings.HasPrefix(path, "/data") || strings.HasPrefix(path, "/stringData")) {
			if obj, isMap := val.(map[string]any); isMap {
				r.values(obj, strings.HasPrefix(path, "/data"))
			} else {
				m["value"] = r.markerFor(val, strings.HasPrefix(path, "/data"))
			}
			changed = true
		}
	}
	return changed
}

// annotation redacts the object kubectl keeps in last-applied-configuration.
func (r *Redactor) annotation(m map[string]any) bool {
	meta, ok := m["metadata"].(map[string]any)
	if !ok {
		return false
	}
	ann, ok := meta["annotations"].(map[string]any)
	if !ok {
		return false
	}
	s, ok := ann[lastApplied].(string)
	if !ok || s == "" {
		return false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var inner any
	if err := dec.Decode(&inner); err != nil {
		ann[lastApplied] = r.Marker([]byte(s))
		return true
	}
	if !r.walk(inner, ctxNone, true) {
		return false
	}
	out, err := json.Marshal(inner)
	if err != nil {
		ann[lastApplied] = r.Marker([]byte(s))
		return true
	}
	ann[lastApplied] = string(out)
	return true
}
