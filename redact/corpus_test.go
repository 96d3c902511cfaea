package redact

import (
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/redact/redacttest"
)

// Every case of the redaction corpus: no planted value survives, in clear
// or in base64, and what is not secret stays readable.
func TestRedactionCorpus(t *testing.T) {
	r, err := New([]byte("corpus-key"))
	if err != nil {
		t.Fatal(err)
	}
	recs := redacttest.Records(t)
	for i, c := range redacttest.Cases() {
		ev := recs[i].Event
		r.Redact(ev)
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range redacttest.Leaks(string(out)) {
			t.Errorf("%s: %q survives redaction:\n%s", c.Name, leak, out)
		}
		if !strings.Contains(string(out), MarkerPrefix) && !strings.Contains(c.Name, "base64") {
			t.Errorf("%s: no marker in\n%s", c.Name, out)
		}
	}
	all, _ := json.Marshal(recs)
	for _, keep := range []string{
		`DB_PASSWORD`, `--db-host=db`, `--db-password=` + MarkerPrefix, `"--password"`, `log.level=info`, `db.password=` + MarkerPrefix,
		`postgres://app:` + MarkerPrefix, `@db.team-a:5432/app`, `command=mysql`, `container=web`, `JTI=corpus-jti-kept`,
		`access_token=` + MarkerPrefix, `"Bearer ` + MarkerPrefix, `Authorization: token ` + MarkerPrefix,
	} {
		if !strings.Contains(string(all), keep) {
			t.Errorf("redaction lost %q, which is not secret (or not as marked)", keep)
		}
	}
}

// A duplicated key keeps both members, each redacted: the store shows what
// the client sent, but no value of it.
func TestDuplicateKeysAllRedacted(t *testing.T) {
	r, _ := New([]byte("k"))
	out, changed := r.redactBody([]byte(`{"data":{"password":"aHVudGVyMg=="},"kind":"Secret","data":{"password":"c2Vjb25k"},"data":"x"}`), ctxNone)
	if !changed {
		t.Fatal("nothing redacted")
	}
	s := string(out)
	if strings.Count(s, `"data":`) != 3 || strings.Count(s, MarkerPrefix) != 3 || strings.Contains(s, "aHVudGVyMg") || strings.Contains(s, "c2Vjb25k") {
		t.Fatalf("duplicated data keys: %s", s)
	}
	// The last kind is the one the apiserver applies, but every kind written
	// is honoured: a Secret kind written first still redacts.
	out, _ = r.redactBody([]byte(`{"kind":"Secret","kind":"Pod","data":{"p":"aHVudGVyMg=="}}`), ctxNone)
	if strings.Contains(string(out), "aHVudGVyMg") {
		t.Fatalf("a duplicated kind hid a Secret: %s", out)
	}
}

// A body with nothing to redact is kept byte for byte, formatting and all.
func TestUnchangedBodyKeptAsWritten(t *testing.T) {
	r, _ := New([]byte("k"))
	in := []byte(`{ "kind" : "Pod", "spec": {"containers": [{"name":"a", "args": ["--log-level=debug", "--secret-name=db"] }]}, "n": 1.50e3 }`)
	out, changed := r.redactBody(in, ctxNone)
	if changed || string(out) != string(in) {
		t.Fatalf("changed %v:\n%s\nwant\n%s", changed, out, in)
	}
}

// Escapes are decoded before judging, and written back escaped as
// encoding/json would.
func TestEscapesDecoded(t *testing.T) {
	r, _ := New([]byte("k"))
	out, _ := r.redactBody([]byte(`{"kind":"Config\u004dap","data":{"\u0070assword":"x\u0031y","note":"<b>\u00e9\ud83d\ude00</b>","app":"<p>\u00e9\ud83d\ude00\ud800 token=abc\u0031 \"q\"\n"}}`), ctxNone)
	s := string(out)
	if strings.Contains(s, "x1y") || strings.Contains(s, `x\u0031y`) || !strings.Contains(s, `"password":"`+MarkerPrefix) {
		t.Fatalf("escaped key not judged: %s", s)
	}
	if !strings.Contains(s, `"note":"<b>\u00e9\ud83d\ude00</b>"`) {
		t.Fatalf("an unchanged string is not kept as written: %s", s)
	}
	if !strings.Contains(s, `"app":"\u003cp\u003eé😀`+"\ufffd"+` token=`+MarkerPrefix) || !strings.Contains(s, ` \"q\"\n"`) || strings.Contains(s, "abc1") {
		t.Fatalf("a changed string is not written as encoding/json would: %s", s)
	}
}

// Configuration that names authorization without holding a credential (a
// kubelet's, recorded in kubeadm's kubelet-config ConfigMap) is kept; an
// Authorization header pasted into a value is not.
func TestAuthorizationSettingIsNoHeader(t *testing.T) {
	r, _ := New([]byte("k"))
	for _, in := range []string{
		"authorization: {mode: Webhook}\nauthentication: {webhook: {enabled: true}}",
		"authorization:\n  mode: Webhook\n",
		"authorization-mode=Node,RBAC",
	} {
		if out, changed := r.scrub(in); changed {
			t.Errorf("scrub(%q) = %q: no credential there", in, out)
		}
	}
	for _, in := range []string{
		"curl -H 'Authorization: Bearer eyJhbGciOi.x-9ZZZZZZZZ' https://api",
		"Authorization: token ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	} {
		if out, changed := r.scrub(in); !changed || strings.Contains(out, "ZZZZZZZZ") || strings.Contains(out, "16C7e42F") {
			t.Errorf("scrub(%q) = %q: the credential is still there", in, out)
		}
	}
}
