package redact

import (
	"bytes"
	"encoding/base64"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/redact/redacttest"
)

// bodiesOf returns the request and response bodies of every event of the
// fixtures and of the redaction corpus.
func bodiesOf(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	add := func(recs []ingest.Record) {
		for _, rec := range recs {
			ev := rec.Event
			if ev.RequestObject != nil && len(ev.RequestObject.Raw) > 0 {
				out = append(out, ev.RequestObject.Raw)
			}
			if ev.ResponseObject != nil && len(ev.ResponseObject.Raw) > 0 {
				out = append(out, ev.ResponseObject.Raw)
			}
		}
	}
	files, err := filepath.Glob("../testdata/*.log")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			b, _, err := ingest.DecodeBatch(line, f)
			if err != nil {
				t.Fatal(err)
			}
			add(b.Records)
		}
	}
	add(redacttest.Records(t))
	return out
}

// quietBody may only say "nothing to redact" when the tree says so too:
// on every body of the fixtures (a real apiserver's) and of the redaction
// corpus (secrets planted every way kaudit knows). Most real bodies are
// quiet, or the fast path would be no path.
func TestQuietBodiesAreLeftAsTheyAre(t *testing.T) {
	r, _ := New([]byte("k"))
	bodies := bodiesOf(t)
	for _, c := range []objectContext{ctxNone, ctxConfigMap} {
		quiet := 0
		for _, b := range bodies {
			if !quietBody(b, c) {
				continue
			}
			quiet++
			if out, changed := r.redactTree(append([]byte(nil), b...), c); changed || !bytes.Equal(out, b) {
				t.Errorf("context %d: quietBody passed a body that redaction changes:\n%s\n->\n%s", c, b, out)
			}
		}
		t.Logf("context %d: %d of %d bodies quiet", c, quiet, len(bodies))
		if quiet < len(bodies)/2 {
			t.Errorf("context %d: only %d of %d bodies are quiet: the fast path is not taken", c, quiet, len(bodies))
		}
	}
}

// Generated bodies, built from the words, kinds and shapes walk acts on
// and from harmless ones, at random: a quiet one is never changed by
// redaction, and what quietBody accepts, the parser accepts (a body the
// parser refuses is replaced whole).
func TestQuietBodiesGenerated(t *testing.T) {
	r, _ := New([]byte("k"))
	rng := rand.New(rand.NewSource(7))
	strs := []string{"", "plain", "name", "value", "env", "kind", "data", "stringData", "binaryData", "status", "spec", "token",
		"metadata", "annotations", "items", "Secret", "SecretList", "ConfigMap", "TokenRequest", "TokenReview", "Pod",
		"DB_PASSWORD", "DB_HOST", "password", "secretName", "automountServiceAccountToken", "apiKey", "--password", "--db-password=hunter2",
		"hunter2hunter2", "password=hunter2", "Bearer abcdefghijklmnop", "Basic dXNlcjpwYXNzd29yZA==", "authorization: abcdefgh",
		"https://user:pass@example.com/x", "https://example.com/x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "-----BEGIN RSA PRIVATE KEY-----x",
		base64.StdEncoding.EncodeToString([]byte("password=hunter2")), base64.StdEncoding.EncodeToString([]byte("just some text")),
		"rbac.authorization.k8s.io", "system:basic-user", "token-cleaner", lastApplied, `{"kind":"Secret","data":{"a":"b"}}`,
		`{"x":1}`, "not json", MarkerPrefix + "00", "ResponseComplete", "kube-system", "registry.k8s.io/pause:3.10",
		"serviceaccounts/token", "serviceAccountToken", "bearerToken", "-token", "--client-secret", "-Password", "--api-key", "x-token",
		"path", "op", "replace", "/data/password", "/data/plain", "/binaryData/api-key", "Corefile", "ca.crt"}
	var gen func(depth int) string
	gen = func(depth int) string {
		switch n := rng.Intn(10); {
		case n < 3 && depth < 5:
			var b strings.Builder
			b.WriteByte('{')
			for i := rng.Intn(4); i > 0; i-- {
				if b.Len() > 1 {
					b.WriteByte(',')
				}
				b.WriteString(quoteJSON(strs[rng.Intn(len(strs))]) + ":" + gen(depth+1))
			}
			return b.String() + "}"
		case n < 5 && depth < 5:
			var parts []string
			for i := rng.Intn(4); i > 0; i-- {
				parts = append(parts, gen(depth+1))
			}
			return "[" + strings.Join(parts, ",") + "]"
		case n < 6:
			return []string{"1", "-2.5e3", "true", "false", "null"}[rng.Intn(5)]
		case n == 6 && depth < 5 && rng.Intn(2) == 0:
			// The last applied version of an object: a body in a
			// string, where walk looks for it, or one step off.
			annotations := []string{"annotations", "labels"}[rng.Intn(2)]
			metadata := []string{"metadata", "spec"}[rng.Intn(2)]
			return `{"` + metadata + `":{"` + annotations + `":{` + quoteJSON(lastApplied) + ":" + quoteJSON(gen(depth+3)) + "}}}"
		case n == 7 && depth < 5 && rng.Intn(2) == 0:
			// Data, as a ConfigMap's, with keys walk may judge.
			return `{"kind":"ConfigMap","data":{` + quoteJSON(strs[rng.Intn(len(strs))]) + ":" + gen(depth+2) + "}}"
		}
		q := quoteJSON(strs[rng.Intn(len(strs))])
		if rng.Intn(4) == 0 {
			// Letters written as escapes read as the letters.
			q = strings.NewReplacer("p", `\u0070`, "S", `\u0053`, "e", `\u0065`, "k", `\u006b`).Replace(q)
		}
		return q
	}
	quiet, loud := 0, 0
	for i := 0; i < 100000; i++ {
		b := []byte(gen(0))
		if rng.Intn(4) == 0 && len(b) > 1 {
			// Damage it: cut it short, or change one byte.
			if rng.Intn(2) == 0 {
				b = b[:rng.Intn(len(b))]
			} else {
				b[rng.Intn(len(b))] = "{}[]\",:\\ x1"[rng.Intn(11)]
			}
		}
		c := []objectContext{ctxNone, ctxConfigMap}[rng.Intn(2)]
		if !quietBody(b, c) {
			loud++
			continue
		}
		quiet++
		if _, err := parseJSON(b); err != nil {
			t.Fatalf("quietBody accepts what the parser refuses (%v): %s", err, b)
		}
		if out, changed := r.redactTree(append([]byte(nil), b...), c); changed || !bytes.Equal(out, b) {
			t.Fatalf("context %d: quietBody passed a body that redaction changes:\n%s\n->\n%s", c, b, out)
		}
	}
	if quiet < 1000 || loud < 1000 {
		t.Fatalf("%d quiet, %d not: the generator does not exercise both", quiet, loud)
	}
}

// quoteJSON quotes s as JSON.
func quoteJSON(s string) string {
	var b strings.Builder
	writeString(&b, s)
	return b.String()
}

func BenchmarkQuietBody(b *testing.B) {
	data, err := os.ReadFile("../testdata/apiserver-1.36-basic-intrusion.log")
	if err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		ev, err := ingest.DecodeEvent(line)
		if err != nil {
			b.Fatal(err)
		}
		if ev.ResponseObject != nil {
			bodies = append(bodies, ev.ResponseObject.Raw)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		for _, body := range bodies {
			quietBody(body, ctxNone)
		}
	}
}
