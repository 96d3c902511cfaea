package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// queryEscape escapes a query value, leaving the colons of markers as they
// are (a query may hold them).
func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "%3A", ":") }

// credentialParamSuffix adds to LooksLikeCredential the short names query
// strings use for credentials: ?key=, ?sig=, X-Amz-Signature=.
var credentialParamSuffix = regexp.MustCompile(`(?i)(^|[_.-])(key|sig|signature|pass|pwd)$`)

// credentialParam reports whether a query parameter's name says it holds a
// credential: token, access_token, password, secret, key, api_key…
func credentialParam(name string) bool {
	return LooksLikeCredential(name) || isCredentialParamSuffix(name)
}

// redactURI redacts the request URI's query: the values of parameters whose
// names look like credentials (?access_token=…) whole, and in the others
// (exec's command=…) what looks like a credential. Parameters keep their
// order and, when nothing in them changes, their exact spelling.
func (r *Redactor) redactURI(uri string) (string, bool) {
	path, query, ok := strings.Cut(uri, "?")
	if !ok || query == "" {
		return uri, false
	}
	frag := ""
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query, frag = query[:i], query[i:]
	}
	parts := strings.Split(query, "&")
	changed := false
	for i, part := range parts {
		k, v, hasValue := strings.Cut(part, "=")
		if !hasValue || v == "" {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			val = v
		}
		if strings.HasPrefix(val, MarkerPrefix) {
			continue
		}
		if credentialParam(name) {
			parts[i] = k + "=" + r.Marker([]byte(val)) // a marker is query-safe as it is
			changed = true
			continue
		}
		if out, ok := r.scrub(val); ok {
			parts[i] = k + "=" + queryEscape(out)
			changed = true
		}
	}
	if !changed {
		return uri, false
	}
	return path + "?" + strings.Join(parts, "&") + frag, true
}
