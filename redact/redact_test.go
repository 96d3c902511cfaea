package redact

import (
	"bufio"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/ingest"
)

// secretValues are the clear-text secrets planted in the fixture; none may
// survive redaction, in clear or in base64.
var secretValues = []string{
	"LASTAPPLIED-hunter2", "STRINGDATA-hunter2", "DATA-hunter2", "LISTITEM-hunter2", "LISTUSER-app",
	"PATCH-hunter2", "JSONPATCH-hunter2", "TOKENREQUEST-payload", "TOKENREVIEW-abcdef",
	"ENVVAR-hunter2", "CONFIGMAP-apikey",
}

// SecretForms returns every form in which a planted secret could leak.
func secretForms() []string {
	var out []string
	for _, s := range secretValues {
		out = append(out, s, base64.StdEncoding.EncodeToString([]byte(s)))
	}
	return out
}

func loadFixture(t *testing.T) []ingest.Record {
	t.Helper()
	f, err := os.Open("../testdata/secrets-requestresponse.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []ingest.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		ev, err := ingest.DecodeEvent(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, ingest.Record{Event: ev})
	}
	return recs
}

func TestRedactLeavesNoSecretByte(t *testing.T) {
	r, err := New([]byte("test-key"))
	if err != nil {
		t.Fatal(err)
	}
	recs := loadFixture(t)
	if len(recs) != 8 {
		t.Fatalf("fixture has %d events, want 8", len(recs))
	}
	for _, rec := range recs {
		r.Redact(rec.Event)
		out, err := json.Marshal(rec.Event)
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		for _, secret := range secretForms() {
			if strings.Contains(s, secret) {
				t.Errorf("event %s still holds %q after redaction:\n%s", rec.Event.AuditID, secret, s)
			}
		}
		if !strings.Contains(s, MarkerPrefix) {
			t.Errorf("event %s carries no redaction marker:\n%s", rec.Event.AuditID, s)
		}
	}
}

func TestRedactKeepsWhatIsNotSecret(t *testing.T) {
	r, _ := New([]byte("test-key"))
	recs := loadFixture(t)
	for _, rec := range recs {
		r.Redact(rec.Event)
	}
	deploy, _ := json.Marshal(recs[6].Event)
	for _, keep := range []string{`"LOG_LEVEL"`, `"info"`, `"nginx:1.25"`, `"DB_PASSWORD"`} {
		if !strings.Contains(string(deploy), keep) {
			t.Errorf("redaction removed %s from the deployment:\n%s", keep, deploy)
		}
	}
	review, _ := json.Marshal(recs[5].Event)
	if !strings.Contains(string(review), `"username":"alice"`) {
		t.Errorf("redaction removed the reviewed user:\n%s", review)
	}
}

func TestSameSecretSameMarker(t *testing.T) {
	r, _ := New([]byte("k"))
	recs := loadFixture(t)
	patch := recs[2].Event
	r.Redact(patch)
	var req, resp struct {
		Data map[string]string `json:"data"`
	}
	json.Unmarshal(patch.RequestObject.Raw, &req)
	json.Unmarshal(patch.ResponseObject.Raw, &resp)
	if req.Data["password"] == "" || req.Data["password"] != resp.Data["password"] {
		t.Errorf("the same secret got different markers: %q vs %q", req.Data["password"], resp.Data["password"])
	}
	other, _ := New([]byte("another key"))
	if r.Marker([]byte("x")) == other.Marker([]byte("x")) {
		t.Error("markers do not depend on the key")
	}
}

func TestMalformedObjectIsReplacedWhole(t *testing.T) {
	r, _ := New([]byte("k"))
	recs := loadFixture(t)
	ev := recs[0].Event
	ev.RequestObject.Raw = []byte(`{"kind":"Secret","data":{"password":"NOTJSON-hunter2"`)
	r.Redact(ev)
	if strings.Contains(string(ev.RequestObject.Raw), "NOTJSON") {
		t.Errorf("an unparsable object kept its content: %s", ev.RequestObject.Raw)
	}
}

func TestEmptyKeyRefused(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("an empty key was accepted")
	}
}

func TestLooksLikeCredential(t *testing.T) {
	for name, want := range map[string]bool{
		"DB_PASSWORD": true, "api_key": true, "AWS_SECRET_ACCESS_KEY": true, "GITHUB_TOKEN": true,
		"LOG_LEVEL": false, "PORT": false, "Corefile": false,
	} {
		if got := LooksLikeCredential(name); got != want {
			t.Errorf("LooksLikeCredential(%q) = %v, want %v", name, got, want)
		}
	}
}

func BenchmarkRedactSample(b *testing.B) {
	benchRedact(b, "../testdata/apiserver-1.36-basic-intrusion.log")
}

// BenchmarkRedactOperators is redaction of operators' routine traffic
// (cert-manager, Argo CD, Velero, Kyverno... on a real apiserver): their
// ConfigMaps, objects applied with kubectl, roles and pods.
func BenchmarkRedactOperators(b *testing.B) {
	benchRedact(b, "../testdata/apiserver-1.36-operators.log")
}

// benchRedact measures Redact on the events of an audit log, decoded
// outside the timer.
func benchRedact(b *testing.B, path string) {
	f, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var raws [][]byte
	for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
		raws = append(raws, []byte(line))
	}
	r, _ := New([]byte("k"))
	b.SetBytes(int64(len(f)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		evs := make([]*ingest.Record, len(raws))
		for j, raw := range raws {
			ev, err := ingest.DecodeEvent(raw)
			if err != nil {
				b.Fatalf("%s line %d: %v", path, j+1, err)
			}
			evs[j] = &ingest.Record{Event: ev}
		}
		b.StartTimer()
		for _, rec := range evs {
			r.Redact(rec.Event)
		}
	}
	b.ReportMetric(float64(len(raws)*b.N)/b.Elapsed().Seconds(), "events/s")
}
