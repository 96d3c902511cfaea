// Package auth authenticates kaudit's callers: the apiserver posting audit
// batches to the webhook, and analysts using the query API and the UI. The
// two hold separate token sets, so a webhook token never opens the query API
// and an analyst token never posts events.
package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Tokens is a set of bearer tokens, kept only as SHA-256 hashes.
type Tokens struct {
	hashes [][sha256.Size]byte
}

// LoadTokens reads a token file: one token per line, in clear or as
// "sha256:" followed by the token's hex SHA-256. Blank lines and lines
// starting with # are ignored. A file with no token is an error: it would
// lock everyone out, or, worse, be mistaken for "no authentication".
func LoadTokens(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	t := &Tokens{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if err := t.add(s); err != nil {
			return nil, fmt.Errorf("token file %s line %d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	if len(t.hashes) == 0 {
		return nil, fmt.Errorf("token file %s holds no token", path)
	}
	return t, nil
}

// NewTokens builds a set from tokens given in the token file's line format.
func NewTokens(lines ...string) (*Tokens, error) {
	t := &Tokens{}
	for _, s := range lines {
		if err := t.add(s); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Tokens) add(s string) error {
	var h [sha256.Size]byte
	if hexSum, ok := strings.CutPrefix(s, "sha256:"); ok {
		b, err := hex.DecodeString(hexSum)
		if err != nil || len(b) != sha256.Size {
			return errors.New("sha256: must be followed by 64 hex digits")
		}
		copy(h[:], b)
	} else {
		h = sha256.Sum256([]byte(s))
	}
	t.hashes = append(t.hashes, h)
	return nil
}

// Valid reports whether token is in the set. Every stored hash is compared,
// in constant time, whatever matches.
func (t *Tokens) Valid(token string) bool {
	if t == nil || token == "" {
		return false
	}
	h := sha256.Sum256([]byte(token))
	ok := 0
	for i := range t.hashes {
		ok |= subtle.ConstantTimeCompare(h[:], t.hashes[i][:])
	}
	return ok == 1
}

// Shares reports whether the two sets hold a common token, whichever form
// (clear or hashed) each file wrote it in: the webhook's and the analysts'
// sets must never share one.
func (t *Tokens) Shares(o *Tokens) bool {
	if t == nil || o == nil {
		return false
	}
	for _, a := range t.hashes {
		for _, b := range o.hashes {
			if a == b {
				return true
			}
		}
	}
	return false
}

// Len is the number of tokens in the set.
func (t *Tokens) Len() int { return len(t.hashes) }

// ID names the holder of a token without revealing it: the first 16 hex
// digits of its SHA-256. It keys per-client budgets and caps (an analyst's
// queries, an apiserver's bytes in flight) and may be logged.
func ID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:8])
}

// BearerToken returns the token of an "Authorization: Bearer …" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
