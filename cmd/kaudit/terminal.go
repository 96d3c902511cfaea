package main

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// term makes a stored field safe to print on a terminal. Audit events carry
// what clients sent (user agents, names, request URIs, messages): an escape
// sequence in them would recolour, move the cursor, retitle the window or
// rewrite earlier lines of an analyst's terminal, a newline would forge a
// line of output, and Unicode's bidirectional controls reorder what is
// shown. Control characters, those controls and invalid UTF-8 become
// visible escapes (\x1b, \n, \u202e); everything else prints as it is.
func term(s string) string {
	if safeForTerminal(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r) // 'x' with the escape inside
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// safeForTerminal is the common case: nothing to escape.
func safeForTerminal(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			return utf8.ValidString(s) && !strings.ContainsFunc(s, unsafeRune)
		}
	}
	return true
}

// unsafeRune reports control characters (C0, DEL, C1) and the format
// characters that reorder or hide text.
func unsafeRune(r rune) bool {
	if unicode.IsControl(r) {
		return true
	}
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f', r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// terms escapes each of ss.
func terms(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = term(s)
	}
	return out
}
