package redact

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/ingest/ingesttest"
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
	for i := 0; i < 200000; i++ {
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

// wordMeans is what each bit of foldWords stands for.
var wordMeans = map[int]*regexp.Regexp{
	wordAuthorization: regexp.MustCompile(`(?i)authorization["']?[ \t]*[=:]`),
	wordBearer:        regexp.MustCompile(`(?i)bearer\s`),
	wordBasic:         regexp.MustCompile(`(?i)basic\s`),
	wordKeyValue:      regexp.MustCompile(`(?i)(passw(or)?d|secret|token|key|credentials?)["']?[ \t]*[=:]`),
	wordPEM:           regexp.MustCompile(`PRIVATE KEY`),
	wordJWT:           regexp.MustCompile(`eyJ`),
	wordURL:           regexp.MustCompile(`://`),
}

// foldWords finds, in one pass, each word its expression finds, and the
// credential words that are assigned.
func TestFoldWordsAgreesWithTheirExpressions(t *testing.T) {
	parts := []string{"authorization", "AUTHORIZATION", "Bearer", "bearer", "BASIC", "basic", "passw", "PassW", "secret", "token", "KEY",
		"key", "credential", "Credential", "x", " ", "=", ":", "auth", "bear", "bas", "pass", "secre", "tok", "ke", "cred", "é", "\x00",
		"d", "D", "ord", "ORD", "s", "'", `"`, "\t", "\n", "\f", "\r", "-", "--db-", "api_", "proxy-", "abcdefgh12", "dXNlcjpwYXNz",
		"PRIVATE", " KEY", "PRIVATE KEY", "private key", "e", "ey", "eyJ", "EYJ", "J", "P", ":/", "/", "://", "@"}
	rng := rand.New(rand.NewSource(17))
	for i := 0; i < 200000; i++ {
		var b strings.Builder
		for j := rng.Intn(5); j >= 0; j-- {
			b.WriteString(parts[rng.Intn(len(parts))])
		}
		s := b.String()
		want := 0
		for bit, re := range wordMeans {
			if re.MatchString(s) {
				want |= bit
			}
		}
		got := foldWords(s)
		if got != want {
			t.Fatalf("foldWords(%q) = %b, the expressions say %b", s, got, want)
		}
		// Each bit gates an expression of scrub: wherever it matches,
		// the bit is set.
		for bit, re := range map[int]*regexp.Regexp{wordKeyValue: keyValue, wordAuthorization: authorization, wordBearer: bearer, wordBasic: basic,
			wordPEM: pemPrivateKey, wordJWT: jwt} {
			if re.MatchString(s) && got&bit == 0 {
				t.Fatalf("%v matches %q, foldWords leaves its bit out", re, s)
			}
		}
	}
}

// The parameters credentialParam passes at once are ones its checks pass.
func TestAPIParamsNameNoCredential(t *testing.T) {
	for name := range apiParams {
		if LooksLikeCredential(name) || isCredentialParamSuffix(name) {
			t.Errorf("%s is listed as an API parameter, but its name looks like a credential's", name)
		}
	}
}

// BenchmarkRedactURISample redacts the request URIs of a fixture: most
// carry the API's own parameters (?timeout=…&watch=true).
func BenchmarkRedactURISample(b *testing.B) {
	evs := ingesttest.Events(b, "../testdata/apiserver-1.36-basic-intrusion.log")
	r := NewRandom()
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			r.redactURI(ev.RequestURI)
		}
	}
}
