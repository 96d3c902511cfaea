package detect

import (
	stdjson "encoding/json"

	json "github.com/goccy/go-json"
	"reflect"
	"testing"
	"time"
)

// A finding's JSON (the spool's, the store's, Kafka's, replay's output) is
// what encoding/json writes of it, byte for byte, and reads back as
// encoding/json does: goccy marshals and unmarshals it, three times
// faster, strings that need escaping (HTML, line separators, invalid
// UTF-8, control bytes) and absent lists included.
func TestFindingJSONIsEncodingJSONs(t *testing.T) {
	odd := "<script>&\u2028\u2029\xff\x01\"\\ é"
	findings := []Finding{
		{Type: "finding", Rule: "r", Title: odd, Severity: "high", TechniqueID: "MS-TA9015", Technique: "t", Tactic: "Persistence",
			Attack: []string{"T1"}, AuditID: "a", Stage: "ResponseComplete", Time: "2026-11-22T09:53:17.903302Z", User: "system:serviceaccount:ns:sa",
			Groups: []string{"g", odd}, ImpersonatedUser: "mallory", SourceIPs: []string{"10.0.0.1"}, UserAgent: odd, Verb: "create",
			RequestURI: "/api/v1/namespaces/x/secrets?limit=500&a=<b>", APIGroup: "rbac.authorization.k8s.io", Resource: "secrets",
			Subresource: "exec", Namespace: "x", Name: "y", Code: 403, Message: odd, Location: "f:1", RuleSeverity: "critical",
			SeverityReason: odd, Routine: true, EvidenceAuditID: "e", EvidenceTime: "2026-11-22T09:53:18Z"},
		{Type: "finding", Rule: "empty", Time: "2026-11-22T09:53:17Z", Groups: []string{}, SourceIPs: []string{}},
		{Type: "finding", Rule: "absent lists"},
	}
	for _, f := range findings {
		got, err := f.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := stdjson.Marshal(struct {
			*findingFields
			Actor string `json:"actor"`
		}{(*findingFields)(&f), f.Actor()})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("finding %s:\n got  %s\n want %s", f.Rule, got, want)
		}
		var back, stdBack Finding
		if err := back.UnmarshalJSON(got); err != nil {
			t.Fatal(err)
		}
		if err := stdjson.Unmarshal(got, (*findingFields)(&stdBack)); err != nil {
			t.Fatal(err)
		}
		stdBack.At, _ = ParseTime(stdBack.Time)
		if stdBack.Time == "" {
			stdBack.At = time.Time{}
		}
		if !reflect.DeepEqual(back, stdBack) {
			t.Fatalf("finding %s read back as %+v, encoding/json reads %+v", f.Rule, back, stdBack)
		}
	}
}

// BenchmarkFindingJSON writes and reads back a batch's findings, as the
// spool's entries and the flusher do.
func BenchmarkFindingJSON(b *testing.B) {
	f := Finding{Type: "finding", Rule: "secret-read-after-grant", Title: "Secret read right after being granted cluster-admin",
		Severity: "high", TechniqueID: "MS-TA9025", Technique: "List K8S secrets", Tactic: "Credential Access", Attack: []string{"T1552.007"},
		AuditID: "6a1d2f4e-8a0b-4c4e-9f55-1f0e2d3c4b5a", Stage: "ResponseComplete", Time: "2026-11-22T09:53:17.903302Z",
		User: "mallory", Groups: []string{"system:authenticated"}, SourceIPs: []string{"203.0.113.7"}, UserAgent: "kubectl/v1.36.3 (linux/amd64)",
		Verb: "get", RequestURI: "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef", Resource: "secrets",
		Namespace: "kube-system", Name: "bootstrap-token-abcdef", Code: 200, Message: "mallory read Secret kube-system/bootstrap-token-abcdef",
		Location: "webhook:10.0.0.2:41234#17"}
	batch := make([]Finding, 100)
	for i := range batch {
		batch[i] = f
	}
	b.ReportAllocs()
	for b.Loop() {
		data, err := json.Marshal(batch)
		if err != nil {
			b.Fatal(err)
		}
		var back []Finding
		if err := json.Unmarshal(data, &back); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/finding")
}
