package redact

import (
	"encoding/base64"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Credentials turn up under any key: a --db-password= in a container's
// args, a password= line in an app.properties ConfigMap, a DATABASE_URL
// with user:password in it, an Authorization header pasted into an
// annotation, a JWT or a private key anywhere. scrub finds such values by
// their shape, whatever key holds them, and replaces the secret part (not
// the text around it) by a marker, so that an analyst still reads which
// flag, line or URL it was.

// credentialWord is the end of a name that conventionally holds a
// credential: "password", "DB_PASSWORD", "client-secret", "api_key". A
// name must end with it, so that "secretName" or "tokenExpirationSeconds"
// (which name a credential, not hold one) do not count.
const credentialWord = `(?:passw(?:or)?d|secret|token|api[_-]?key|access[_-]?key|secret[_-]?access[_-]?key|private[_-]?key|credentials?)`

var (
	// pemPrivateKey is a PEM private key block (or its start, when the
	// value was cut short).
	pemPrivateKey = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\z)`)
	// jwt is a JSON Web Token: base64url of a JSON header and payload,
	// then a signature (empty for alg none).
	jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// urlUserinfo is a URL with user info: group 1 the user, group 2 the
	// password.
	urlUserinfo = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://([^\s/?#@:"'<>]+)(?::([^\s/?#@"'<>]*))?@`)
	// authorization is an Authorization header written out: group 1 the
	// credentials after the scheme. It stays on one line and takes no
	// brackets, so that a configuration's "authorization: {mode: Webhook}"
	// (a kubelet's) is not read as a header.
	authorization = regexp.MustCompile(`(?i)\b(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?(?:(?:bearer|basic|token|digest|negotiate|apikey)[ \t]+)?([^\s"',;{}\[\]()]{4,})`)
	// bearer and basic are the schemes' credentials wherever they stand.
	bearer = regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{8,})`)
	basic  = regexp.MustCompile(`(?i)\bbasic\s+([A-Za-z0-9+/]{6,}={0,2})`)
	// keyValue is NAME=VALUE or NAME: VALUE where NAME ends with a
	// credential word: a --db-password=… flag, a password= line, a JSON or
	// YAML member inside a string. Group 1 is the value, quoted or not.
	keyValue = regexp.MustCompile(`(?i)(?:^|[\s;,&|"'{(\[?])-{0,2}[a-z0-9_.-]*?` + credentialWord + `["']?[ \t]*[=:][ \t]*("[^"\n]*"|'[^'\n]*'|[^\s"';,&|]+)`)
	// credentialFlag is a flag naming a credential without "=": its value
	// is the next element of the argument list.
	credentialFlag = regexp.MustCompile(`(?i)^--?[a-z0-9_.-]*` + credentialWord + `$`)
)

// scrubMayChange reports whether scrub could change s: it is false only
// when none of scrub's tests that lead to a change can pass. scrub starts
// with it, and quietBody (quiet.go) passes a body on it, so that the two
// cannot disagree: a test added to scrub must be added here to run at all.
func scrubMayChange(s string) bool {
	_, may := scrubWords(s)
	return may
}

// scrubWords is scrubMayChange, with the words of s (foldWords) it found
// on the way, for scrub to go on with.
func scrubWords(s string) (words int, may bool) {
	if len(s) < 8 || strings.HasPrefix(s, MarkerPrefix) {
		return 0, false
	}
	if words = foldWords(s); words&^wordURL != 0 || words&wordURL != 0 && strings.IndexByte(s, '@') >= 0 {
		return words, true
	}
	if looksBase64(s) {
		dec, err := base64.StdEncoding.DecodeString(s)
		return words, err == nil && utf8.Valid(dec) && scrubMayChange(string(dec))
	}
	return words, false
}

// scrub replaces the parts of s that look like credentials by markers and
// reports whether it changed anything.
func (r *Redactor) scrub(s string) (string, bool) {
	words, may := scrubWords(s) // one pass for every word the checks below look for
	if !may {
		return s, false
	}
	changed := false
	apply := func(out string, ch bool) {
		s = out
		if ch {
			changed = true
			words = foldWords(s) // judged on the text as it now reads
		}
	}
	if words&wordPEM != 0 {
		apply(r.replace(s, pemPrivateKey, 0, nil))
	}
	if words&wordJWT != 0 {
		apply(r.replace(s, jwt, 0, nil))
	}
	if words&wordURL != 0 && strings.IndexByte(s, '@') >= 0 {
		apply(r.userinfo(s))
	}
	if words&wordAuthorization != 0 {
		apply(r.replace(s, authorization, 1, looksLikeToken))
	}
	if words&wordBearer != 0 {
		apply(r.replace(s, bearer, 1, looksLikeToken))
	}
	if words&wordBasic != 0 {
		apply(r.replace(s, basic, 1, looksLikeBasic))
	}
	if words&wordKeyValue != 0 { // set only where = or : follows the word
		apply(r.replace(s, keyValue, 1, worthHiding))
	}
	if !changed && looksBase64(s) {
		// A base64 value (binaryData, an annotation, an env value) hides
		// the same text one step away: judge it decoded, and re-encode
		// what was redacted.
		if dec, err := base64.StdEncoding.DecodeString(s); err == nil && utf8.Valid(dec) {
			if out, ch := r.scrub(string(dec)); ch {
				return base64.StdEncoding.EncodeToString([]byte(out)), true
			}
		}
	}
	return s, changed
}

// replace replaces group g of every match of re in s (the whole match for
// g 0) by the marker of what it holds, when keep (if given) agrees. A
// quoted value keeps its quotes; a marker is never hashed again.
func (r *Redactor) replace(s string, re *regexp.Regexp, g int, keep func(string) bool) (string, bool) {
	idx := re.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s, false
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		lo, hi := m[2*g], m[2*g+1]
		if lo < 0 || lo < last {
			continue
		}
		val := s[lo:hi]
		if n := len(val); n >= 2 && (val[0] == '"' && val[n-1] == '"' || val[0] == '\'' && val[n-1] == '\'') {
			lo, hi, val = lo+1, hi-1, val[1:n-1]
		}
		if val == "" || strings.HasPrefix(s[lo:], MarkerPrefix) || keep != nil && !keep(val) {
			continue
		}
		b.WriteString(s[last:lo])
		b.WriteString(r.Marker([]byte(val)))
		last = hi
	}
	if last == 0 {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// userinfo redacts the password of URLs with user info, or the user when it
// is long enough to be a token (https://TOKEN@host).
func (r *Redactor) userinfo(s string) (string, bool) {
	idx := urlUserinfo.FindAllStringSubmatchIndex(s, -1)
	var b strings.Builder
	last := 0
	for _, m := range idx {
		lo, hi := m[4], m[5] // the password
		if lo < 0 || lo == hi {
			if lo, hi = m[2], m[3]; hi-lo < 16 {
				continue
			}
		}
		if strings.HasPrefix(s[lo:], MarkerPrefix) || lo < last {
			continue
		}
		b.WriteString(s[last:lo])
		b.WriteString(r.Marker([]byte(s[lo:hi])))
		last = hi
	}
	if last == 0 {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// looksLikeToken keeps prose ("bearer authentication") out of the bearer
// rule: a token is long, or holds a digit or a symbol.
func looksLikeToken(v string) bool {
	return len(v) >= 20 || strings.ContainsAny(v, "0123456789._~+/=-")
}

// looksLikeBasic accepts what decodes to user:password.
func looksLikeBasic(v string) bool {
	dec, err := base64.StdEncoding.DecodeString(v)
	return err == nil && strings.Contains(string(dec), ":")
}

// worthHiding leaves out values that hold nothing secret: references to a
// variable or a template, and JSON literals.
func worthHiding(v string) bool {
	switch strings.ToLower(v) {
	case "null", "true", "false", "none", "nil", "<nil>", "***", "redacted":
		return false
	}
	return !strings.HasPrefix(v, "$") && !strings.HasPrefix(v, "{{")
}

// looksBase64 is a cheap test for a standard base64 value long enough to
// hide a credential.
func looksBase64(s string) bool {
	if len(s) < 16 || len(s)%4 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == '=' && i >= len(s)-2:
		default:
			return false
		}
	}
	return true
}

// The words scrub looks for before it runs an expression, as bits of
// foldWords.
const (
	wordAuthorization = 1 << iota
	wordBearer
	wordBasic
	// wordKeyValue is any of passw, secret, token, key, credential.
	wordKeyValue
	// scrub's other words, matched exactly: "PRIVATE KEY", "eyJ" (a JWT
	// starts so) and "://" (a URL, which may carry a password).
	wordPEM
	wordJWT
	wordURL
)

// foldWords reports, as bits, which of scrub's words s contains, ignoring
// ASCII case, in one pass over s instead of eight (scrub runs on every
// string of every body). A bit is set only where its expression could
// match: a credential word or "authorization" followed by = or : (after a
// quote and blanks at most), "bearer" or "basic" followed by a space. So
// the expressions do not run on what every request holds: the API group
// rbac.authorization.k8s.io, RBAC reasons naming "system:basic-user" or
// "token-cleaner".
//
// It looks from the other end: every word must be followed by one of a
// few separators, which most strings hold none or two of (a timestamp's
// colons), so it finds those with a table and looks back from each for
// the words that may end there; looking for words at every letter was a
// third of redaction.
func foldWords(s string) int {
	m := 0
	for j := 0; j < len(s); j++ {
		sep := separators[s[j]]
		if sep == 0 {
			// Most bytes: one test, where the switch compared each with
			// every case in turn (half of foldWords' instructions).
			continue
		}
		switch sep {
		case sepPEM:
			if strings.HasPrefix(s[j:], "PRIVATE KEY") {
				m |= wordPEM
			}
		case sepJWT:
			if strings.HasPrefix(s[j:], "eyJ") {
				m |= wordJWT
			}
		case sepAssign:
			if strings.HasPrefix(s[j:], "://") {
				m |= wordURL
			}
			k := j
			for k > 0 && (s[k-1] == ' ' || s[k-1] == '\t') {
				k--
			}
			if k > 0 && (s[k-1] == '"' || s[k-1] == '\'') {
				k--
			}
			m |= assignedWords(s[:k])
		case sepSpace:
			if hasSuffixFold(s[:j], "bearer") {
				m |= wordBearer
			}
			if hasSuffixFold(s[:j], "basic") {
				m |= wordBasic
			}
		}
	}
	return m
}

// The separators a word of foldWords ends before, and the first letters
// of the words it matches exactly.
const (
	sepAssign = 1 + iota // = or :
	sepSpace             // a space as \s means it
	sepPEM               // P
	sepJWT               // e
)

var separators = func() (t [256]uint8) {
	t['='], t[':'] = sepAssign, sepAssign
	t['P'], t['e'] = sepPEM, sepJWT
	for _, c := range []byte(" \t\n\f\r") {
		t[c] = sepSpace
	}
	return t
}()

// assignedWords are the bits of the words s ends with that count when
// assigned.
func assignedWords(s string) int {
	if len(s) < 3 {
		return 0
	}
	switch s[len(s)-1] | 0x20 {
	case 'n':
		if hasSuffixFold(s, "authorization") {
			return wordAuthorization
		}
		if hasSuffixFold(s, "token") {
			return wordKeyValue
		}
	case 'd':
		if hasSuffixFold(s, "passwd") || hasSuffixFold(s, "password") {
			return wordKeyValue
		}
	case 't':
		if hasSuffixFold(s, "secret") {
			return wordKeyValue
		}
	case 'y':
		if hasSuffixFold(s, "key") {
			return wordKeyValue
		}
	case 'l', 's':
		if hasSuffixFold(s, "credential") || hasSuffixFold(s, "credentials") {
			return wordKeyValue
		}
	}
	return 0
}

// hasSuffixFold reports whether s ends with the lower-case ASCII word w,
// ignoring ASCII case.
func hasSuffixFold(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	i := len(s) - len(w)
	for j := 0; j < len(w); j++ {
		c := s[i+j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[j] {
			return false
		}
	}
	return true
}
