package redact

import (
	"encoding/base64"
	"regexp"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

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

// credentialKey matches the keys of any object whose string value is a
// credential: "password", "adminPassword", "clientSecret", "bearerToken".
// The name must end with the word, so "secretName" stays.
var credentialKey = regexp.MustCompile(`(?i)` + credentialWord + `$`)

// redactBody redacts a request or response body in place. A body that is
// not JSON cannot be inspected, so it is replaced whole by a marker:
// failing closed keeps secrets out of storage.
func (r *Redactor) redactBody(raw []byte, c objectContext) ([]byte, bool) {
	if len(raw) == 0 || quietBody(raw, c) {
		return raw, false
	}
	return r.redactTree(raw, c)
}

// redactTree is redactBody on the body read into a tree.
func (r *Redactor) redactTree(raw []byte, c objectContext) ([]byte, bool) {
	n, err := parseJSON(raw)
	if err != nil {
		return []byte(`"` + r.Marker(raw) + `"`), true
	}
	if !r.walk(n, c, true) {
		return raw, false
	}
	var b strings.Builder
	b.Grow(len(raw))
	n.encode(&b)
	return []byte(b.String()), true
}

// walk redacts n in place and reports whether it changed anything (and
// marks what changed for encode). c applies to the top-level value (top),
// whose kind may not be written in it; nested objects name their own.
func (r *Redactor) walk(n *node, c objectContext, top bool) bool {
	changed := false
	switch n.kind {
	case kindString:
		if s, ok := r.scrub(n.str); ok {
			n.setString(s)
			changed = true
		}
	case kindObject:
		changed = r.walkObject(n, c, top)
	case kindArray:
		if top && (c == ctxSecret || c == ctxConfigMap) {
			changed = r.jsonPatch(n, c) || changed
		}
		changed = r.flagValues(n) || changed
		for _, e := range n.elems {
			changed = r.walk(e, ctxNone, false) || changed
		}
	}
	n.dirty = n.dirty || changed
	return changed
}

// walkObject redacts one object of a body by what it is (a Secret, a
// ConfigMap, a pod spec, a token request...). Long because it dispatches
// on every kind of object that holds secrets, one
// case each, like a type switch.
func (r *Redactor) walkObject(n *node, c objectContext, top bool) bool {
	changed := false
	// Every kind written counts (a duplicated "kind" is judged under each
	// of its values), and so does the context of a top-level body.
	ctxs := map[objectContext]bool{}
	if top {
		ctxs[c] = true
	}
	kinds := n.strings("kind")
	for _, k := range kinds {
		ctxs[kindContext(k)] = true
	}
	done := map[*node]bool{} // values replaced whole: nothing left to walk
	if ctxs[ctxSecret] {
		for _, v := range n.get("data") {
			changed = r.values(v, true, done) || changed
		}
		for _, v := range n.get("stringData") {
			changed = r.values(v, false, done) || changed
		}
	}
	if ctxs[ctxTokenRequest] {
		changed = r.fields(n, "status", "token", done) || changed
	}
	if ctxs[ctxTokenReview] {
		changed = r.fields(n, "spec", "token", done) || changed
	}
	if ctxs[ctxConfigMap] {
		for _, key := range []string{"data", "binaryData"} {
			for _, v := range n.get(key) {
				changed = r.credentialKeys(v, done) || changed
			}
		}
	}
	for _, k := range kinds {
		if k == "SecretList" {
			for _, items := range n.get("items") {
				for _, it := range items.elems {
					if r.walk(it, ctxSecret, true) {
						changed = true
					}
					done[it] = true
				}
				items.dirty = items.dirty || changed
			}
		}
	}
	for _, env := range n.get("env") {
		changed = r.env(env, done) || changed
	}
	changed = r.lastApplied(n, done) || changed
	for i := range n.members {
		m := &n.members[i]
		v := m.val
		if done[v] {
			continue
		}
		if v.kind == kindString && v.str != "" && !strings.HasPrefix(v.str, MarkerPrefix) && isCredentialKey(m.key) {
			m.val.setString(r.markerFor(v, false))
			changed = true
			continue
		}
		changed = r.walk(v, ctxNone, false) || changed
	}
	return changed
}

// values replaces every value of a map (Secret data), or the whole value
// when it is not a map. Base64 data is hashed decoded, so that data and
// stringData holding the same secret get the same marker.
func (r *Redactor) values(v *node, b64 bool, done map[*node]bool) bool {
	done[v] = true
	if v.kind != kindObject {
		if v.kind == kindString && strings.HasPrefix(v.str, MarkerPrefix) {
			return false
		}
		v.setString(r.markerFor(v, b64))
		return true
	}
	for _, m := range v.members {
		m.val.setString(r.markerFor(m.val, b64))
	}
	v.dirty = v.dirty || len(v.members) > 0
	return len(v.members) > 0
}

// markerFor is the marker of a value: a string's text (decoded from base64
// when b64 and it decodes), else the value as written.
func (r *Redactor) markerFor(v *node, b64 bool) string {
	if v.kind != kindString {
		return r.Marker(v.raw)
	}
	if strings.HasPrefix(v.str, MarkerPrefix) {
		return v.str
	}
	if b64 {
		if dec, err := base64.StdEncoding.DecodeString(v.str); err == nil {
			return r.Marker(dec)
		}
	}
	return r.Marker([]byte(v.str))
}

// fields replaces every inner value under every outer one (status.token).
func (r *Redactor) fields(n *node, outer, inner string, done map[*node]bool) bool {
	changed := false
	for _, o := range n.get(outer) {
		for _, v := range o.get(inner) {
			if v.kind == kindString && (v.str == "" || strings.HasPrefix(v.str, MarkerPrefix)) {
				continue
			}
			v.setString(r.markerFor(v, false))
			done[v] = true
			o.dirty, changed = true, true
		}
	}
	return changed
}

// credentialKeys replaces the values of keys that look like credentials
// (ConfigMap data), keeping the key so that rules still see the fact.
func (r *Redactor) credentialKeys(v *node, done map[*node]bool) bool {
	changed := false
	for _, m := range v.members {
		if LooksLikeCredential(m.key) && !(m.val.kind == kindString && strings.HasPrefix(m.val.str, MarkerPrefix)) {
			m.val.setString(r.markerFor(m.val, false))
			done[m.val] = true
			changed = true
		}
	}
	v.dirty = v.dirty || changed
	return changed
}

// env redacts container environment values whose name looks like a
// credential; an entry naming itself twice is judged under each name.
func (r *Redactor) env(list *node, done map[*node]bool) bool {
	changed := false
	for _, e := range list.elems {
		cred := false
		for _, name := range e.strings("name") {
			cred = cred || LooksLikeCredential(name)
		}
		if !cred {
			continue
		}
		for _, v := range e.get("value") {
			if v.kind == kindString && strings.HasPrefix(v.str, MarkerPrefix) {
				continue
			}
			v.setString(r.markerFor(v, false))
			done[v] = true
			e.dirty, changed = true, true
		}
	}
	list.dirty = list.dirty || changed
	return changed
}

// flagValues redacts the element after a flag that names a credential and
// takes its value apart ("--password", "hunter2").
func (r *Redactor) flagValues(list *node) bool {
	changed := false
	for i := 0; i+1 < len(list.elems); i++ {
		f, v := list.elems[i], list.elems[i+1]
		if f.kind != kindString || v.kind != kindString || v.str == "" || strings.HasPrefix(v.str, MarkerPrefix) ||
			strings.HasPrefix(v.str, "-") || !credentialFlag.MatchString(f.str) {
			continue
		}
		v.setString(r.markerFor(v, false))
		changed = true
	}
	return changed
}

// jsonPatch redacts the values of JSON-patch operations on a Secret's data,
// or on a ConfigMap's keys that look like credentials.
func (r *Redactor) jsonPatch(ops *node, c objectContext) bool {
	changed := false
	for _, op := range ops.elems {
		for _, path := range op.strings("path") {
			secretData := c == ctxSecret && (strings.HasPrefix(path, "/data") || strings.HasPrefix(path, "/stringData"))
			key := strings.NewReplacer("~1", "/", "~0", "~").Replace(path[strings.LastIndexByte(path, '/')+1:])
			configKey := c == ctxConfigMap && strings.HasPrefix(path, "/data/") && LooksLikeCredential(key)
			if !secretData && !configKey {
				continue
			}
			b64 := strings.HasPrefix(path, "/data")
			for _, v := range op.get("value") {
				if v.kind == kindObject {
					changed = r.values(v, b64 && c == ctxSecret, map[*node]bool{}) || changed
				} else if !(v.kind == kindString && strings.HasPrefix(v.str, MarkerPrefix)) {
					v.setString(r.markerFor(v, b64 && c == ctxSecret))
					changed = true
				}
				op.dirty = true
			}
		}
	}
	return changed
}

// lastApplied redacts the object kubectl keeps in the
// last-applied-configuration annotation, as a body of its own.
func (r *Redactor) lastApplied(n *node, done map[*node]bool) bool {
	changed := false
	for _, meta := range n.get("metadata") {
		for _, ann := range meta.get("annotations") {
			for _, v := range ann.get(lastApplied) {
				if v.kind != kindString || v.str == "" {
					continue
				}
				done[v] = true
				out, ch := r.redactBody([]byte(v.str), ctxNone)
				if !ch {
					continue
				}
				s := string(out)
				if len(out) > 0 && out[0] == '"' && strings.HasPrefix(s[1:], MarkerPrefix) {
					s = s[1 : len(s)-1] // not JSON: the marker alone
				}
				v.setString(s)
				ann.dirty, meta.dirty, changed = true, true, true
			}
		}
	}
	return changed
}
