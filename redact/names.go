package redact

import (
	"strings"
	"unsafe"
)

// Names are judged for every key of every object and every query
// parameter: on the webhook path the case-insensitive regular expressions
// (credentialName, credentialKey, credentialParamSuffix) were a fifth of
// kaudit's CPU. Names are nearly always short ASCII, for which the
// functions below decide exactly what the expressions decide, without
// backtracking or allocating; any other name (non-ASCII, where (?i) also
// folds 'ſ' to s and 'K' (Kelvin) to k, or longer than foldMax) still goes
// to the expression. names_test.go checks both agree.

// foldMax is the longest name lower-cased on the stack.
const foldMax = 128

// lowerASCII writes s lower-cased into buf; ok is false when s is not
// ASCII or longer than buf.
func lowerASCII(buf []byte, s string) ([]byte, bool) {
	if len(s) > len(buf) {
		return nil, false
	}
	b := buf[:len(s)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return nil, false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b, true
}

// nameWords are what credentialName finds anywhere in a name ("api",
// "access", "private", "connection" and "cert" are checked with their
// optional separator by sepWords).
var nameWords = []string{"passwd", "password", "secret", "token", "credential", "auth", "bearer", "dsn"}

// sepWords are credentialName's WORD[_-]?TAIL alternatives.
var sepWords = [][2]string{{"api", "key"}, {"access", "key"}, {"private", "key"}, {"connection", "string"}, {"cert", "key"}}

// LooksLikeCredential reports whether a variable or key name conventionally
// holds a credential.
func LooksLikeCredential(name string) bool {
	var buf [foldMax]byte
	b, ok := lowerASCII(buf[:], name)
	if !ok {
		return credentialName.MatchString(name)
	}
	s := bytesString(b)
	for _, w := range nameWords {
		if strings.Contains(s, w) {
			return true
		}
	}
	for _, p := range sepWords {
		if containsSep(s, p[0], p[1]) {
			return true
		}
	}
	return false
}

// containsSep reports whether s contains a, then optionally '_' or '-',
// then b.
func containsSep(s, a, b string) bool {
	for i := strings.Index(s, a); i >= 0; {
		rest := s[i+len(a):]
		if strings.HasPrefix(rest, b) || len(rest) > 0 && (rest[0] == '_' || rest[0] == '-') && strings.HasPrefix(rest[1:], b) {
			return true
		}
		j := strings.Index(s[i+1:], a)
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// isCredentialKey is credentialKey.MatchString: the name ends with a
// credential word.
//
// It runs on every key of every body, so it folds only the name's last
// keyTail bytes: the expression is anchored at the end and none of its
// words is longer, so the bytes before cannot change the answer, except
// through a non-ASCII letter that (?i) folds into a word (ſ, K), which
// then stands within the tail and sends the name to the expression.
// Lower-casing the whole name into a buffer of foldMax bytes, zeroed at
// every call, and trying every word's suffix made it nearly a fifth of
// redaction's instructions.
func isCredentialKey(name string) bool {
	if len(name) == 0 {
		return false
	}
	// Every credential word ends in d, t, n, y, l or s, in either case,
	// or in ſ (which (?i) folds with s, and which ends in byte 0xBF):
	// most names are told apart by their last byte.
	switch c := name[len(name)-1]; c | 0x20 {
	case 'd', 't', 'n', 'y', 'l', 's', 0xBF:
	default:
		return false
	}
	var buf [keyTail]byte
	b, ok := lowerASCII(buf[:], name[max(0, len(name)-keyTail):])
	if !ok {
		return credentialKey.MatchString(name)
	}
	s := bytesString(b)
	switch s[len(s)-1] {
	case 'd':
		return strings.HasSuffix(s, "password") || strings.HasSuffix(s, "passwd")
	case 't':
		return strings.HasSuffix(s, "secret")
	case 'n':
		return strings.HasSuffix(s, "token")
	case 'l':
		return strings.HasSuffix(s, "credential")
	case 's':
		return strings.HasSuffix(s, "credentials")
	case 'y':
		// api[_-]?key, access[_-]?key, private[_-]?key; secret[_-]?access[_-]?key
		// ends with access[_-]?key.
		return endsSep(s, "api", "key") || endsSep(s, "access", "key") || endsSep(s, "private", "key")
	}
	return false
}

// keyTail is more than the longest credential word that isCredentialKey
// looks for ("credentials", "private_key": 11 bytes).
const keyTail = 12

// endsSep reports whether s ends with a, then optionally '_' or '-', then b.
func endsSep(s, a, b string) bool {
	s, ok := strings.CutSuffix(s, b)
	if !ok {
		return false
	}
	if strings.HasSuffix(s, a) {
		return true
	}
	return len(s) > 0 && (s[len(s)-1] == '_' || s[len(s)-1] == '-') && strings.HasSuffix(s[:len(s)-1], a)
}

// isCredentialParamSuffix is credentialParamSuffix.MatchString: the name
// is, or ends after '_', '.' or '-' with, key, sig, signature, pass or pwd.
func isCredentialParamSuffix(name string) bool {
	var buf [foldMax]byte
	b, ok := lowerASCII(buf[:], name)
	if !ok {
		return credentialParamSuffix.MatchString(name)
	}
	s := bytesString(b)
	for _, w := range []string{"key", "sig", "signature", "pass", "pwd"} {
		if rest, ok := strings.CutSuffix(s, w); ok {
			if rest == "" || rest[len(rest)-1] == '_' || rest[len(rest)-1] == '.' || rest[len(rest)-1] == '-' {
				return true
			}
		}
	}
	return false
}

// bytesString views a stack buffer as a string for the searches above,
// without copying it; the string does not outlive the call.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
