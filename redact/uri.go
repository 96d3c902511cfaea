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
	if apiParams[name] {
		return false
	}
	return LooksLikeCredential(name) || isCredentialParamSuffix(name)
}

// apiParams are the query parameters of the Kubernetes API that nearly
// every request carries (watches, lists, writes, logs, exec): none names a
// credential, which TestAPIParamsNameNoCredential holds to the checks they
// skip. Their values are still scrubbed. Judging their names took a
// fifth of redaction under load.
var apiParams = map[string]bool{
	"allowWatchBookmarks": true, "continue": true, "dryRun": true, "fieldManager": true, "fieldSelector": true,
	"fieldValidation": true, "force": true, "gracePeriodSeconds": true, "labelSelector": true, "limit": true,
	"orphanDependents": true, "pretty": true, "propagationPolicy": true, "resourceVersion": true,
	"resourceVersionMatch": true, "sendInitialEvents": true, "timeout": true, "timeoutSeconds": true, "watch": true,
	"container": true, "follow": true, "previous": true, "sinceSeconds": true, "tailLines": true, "timestamps": true,
	"command": true, "stdin": true, "stdout": true, "stderr": true, "tty": true,
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
	var parts []string // the parameters, split only once one changes
	for i, rest := 0, query; rest != ""; i++ {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
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
		var repl string
		if credentialParam(name) {
			repl = r.Marker([]byte(val)) // a marker is query-safe as it is
		} else if out, ok := r.scrub(val); ok {
			repl = queryEscape(out)
		} else {
			continue
		}
		if parts == nil {
			parts = strings.Split(query, "&")
		}
		parts[i] = k + "=" + repl
	}
	if parts == nil {
		return uri, false
	}
	return path + "?" + strings.Join(parts, "&") + frag, true
}
