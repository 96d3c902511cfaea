package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadTokensClearAndHashed(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-token"))
	path := filepath.Join(t.TempDir(), "tokens")
	content := "# analysts\nclear-token\n\nsha256:" + hex.EncodeToString(sum[:]) + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Len() != 2 {
		t.Fatalf("Len = %d, want 2", tok.Len())
	}
	for _, s := range []string{"clear-token", "hashed-token"} {
		if !tok.Valid(s) {
			t.Errorf("Valid(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "clear", "sha256:" + hex.EncodeToString(sum[:]), "other"} {
		if tok.Valid(s) {
			t.Errorf("Valid(%q) = true, want false", s)
		}
	}
}

func TestLoadTokensRejectsEmptyAndBadHash(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	if _, err := LoadTokens(empty); err == nil {
		t.Error("a token file without tokens was accepted")
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("sha256:xyz\n"), 0o600)
	if _, err := LoadTokens(bad); err == nil {
		t.Error("a malformed sha256 line was accepted")
	}
}

func TestBearerToken(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	if _, ok := BearerToken(r); ok {
		t.Error("no header gave a token")
	}
	r.Header.Set("Authorization", "Bearer abc")
	if tok, ok := BearerToken(r); !ok || tok != "abc" {
		t.Errorf("BearerToken = %q, %v", tok, ok)
	}
	r.Header.Set("Authorization", "Basic abc")
	if _, ok := BearerToken(r); ok {
		t.Error("Basic auth taken as a bearer token")
	}
}
