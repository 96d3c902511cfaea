package redact

import (
	"math/rand"
	"strings"
	"testing"
)

// The fast name matchers decide exactly what the expressions decide: on
// the names of the corpus, on names built from the words and separators
// they look for in every case, and on random and non-ASCII names.
func TestNameMatchersAgreeWithExpressions(t *testing.T) {
	parts := []string{"", "pass", "passw", "passwd", "password", "PassWord", "secret", "SECRET", "token", "Token", "api", "API", "access",
		"private", "connection", "string", "cert", "key", "KEY", "credential", "credentials", "auth", "bearer", "dsn", "DSN", "sig",
		"signature", "pwd", "_", "-", ".", "x", "name", "ref", "s", "ſ", "K", "é", "db", "aws", "secretaccess"}
	names := []string{"", "limit", "resourceVersion", "watch", "timeoutSeconds", "fieldSelector", "labelSelector", "X-Amz-Signature",
		"api_key", "apikey", "api-key", "api__key", "access_key", "secret_access_key", "tokenExpirationSeconds", "secretName",
		"DB_PASSWORD", "client-secret", "privatekey", "private-key", "connection_string", "cert-key", "certkey", "oauth", "passwordx",
		"keys", "monkey", "sigs", "a.sig", "a.pwd", "passport", "ſecret", "api_Key", strings.Repeat("a", 200) + "token"}
	rng := rand.New(rand.NewSource(17))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for j := rng.Intn(4); j >= 0; j-- {
			b.WriteString(parts[rng.Intn(len(parts))])
		}
		names = append(names, b.String())
	}
	for _, n := range names {
		if got, want := LooksLikeCredential(n), credentialName.MatchString(n); got != want {
			t.Errorf("LooksLikeCredential(%q) = %v, expression says %v", n, got, want)
		}
		if got, want := isCredentialKey(n), credentialKey.MatchString(n); got != want {
			t.Errorf("isCredentialKey(%q) = %v, expression says %v", n, got, want)
		}
		if got, want := isCredentialParamSuffix(n), credentialParamSuffix.MatchString(n); got != want {
			t.Errorf("isCredentialParamSuffix(%q) = %v, expression says %v", n, got, want)
		}
	}
}

func BenchmarkLooksLikeCredential(b *testing.B) {
	for b.Loop() {
		LooksLikeCredential("resourceVersion")
		isCredentialKey("resourceVersion")
	}
}

// foldWords finds, in one pass, each word containsFold finds.
func TestFoldWordsAgreesWithContainsFold(t *testing.T) {
	parts := []string{"authorization", "AUTHORIZATION", "Bearer", "bearer", "BASIC", "basic", "passw", "PassW", "secret", "token", "KEY",
		"key", "credential", "Credential", "x", " ", "=", ":", "auth", "bear", "bas", "pass", "secre", "tok", "ke", "cred", "é", "\x00"}
	rng := rand.New(rand.NewSource(17))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for j := rng.Intn(5); j >= 0; j-- {
			b.WriteString(parts[rng.Intn(len(parts))])
		}
		s := b.String()
		want := 0
		if containsFold(s, "authorization") {
			want |= wordAuthorization
		}
		if containsFold(s, "bearer") {
			want |= wordBearer
		}
		if containsFold(s, "basic") {
			want |= wordBasic
		}
		for _, w := range []string{"passw", "secret", "token", "key", "credential"} {
			if containsFold(s, w) {
				want |= wordKeyValue
			}
		}
		if got := foldWords(s); got != want {
			t.Fatalf("foldWords(%q) = %b, containsFold says %b", s, got, want)
		}
	}
}
