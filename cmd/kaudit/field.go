package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// fieldText is the one way a value read from an audit log (a user name, an
// object name, a user agent, a message built from them) reaches the
// terminal: control characters, which could move the cursor, recolour or
// retitle the terminal, and bidirectional overrides, which could reorder
// what is shown, are written as visible escapes (\x1b, \n, \u202e).
// Every text writer of this package passes stored fields through here;
// a hardened escaper (issue 16) replaces its body, not its callers.
func fieldText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case (r >= 0x80 && r < 0xa0) || isBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isBidiControl(r) {
			return true
		}
	}
	return false
}

// isBidiControl reports the Unicode controls that reorder text (the
// "Trojan Source" characters).
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// fieldList escapes every value and joins them.
func fieldList(ss []string, sep string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fieldText(s)
	}
	return strings.Join(out, sep)
}
