// Package redacttest holds the redaction corpus: audit events in the
// apiserver's exact shape, each carrying a planted secret where an
// adversarial review found one getting past redaction (escaped keys, a
// duplicated key, the request URI's query, annotations, the user's extra
// attributes, credentials under innocent keys, in clear and in base64).
// The redact package's tests and the end-to-end test in cmd/kaudit (store,
// spool, logs, query API) search their output for every planted value.
package redacttest

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/ingest"
)

// Case is one event of the corpus.
type Case struct {
	// Name says where the secret hides.
	Name string
	// AuditID is the event's audit id.
	AuditID string
	// Secrets are the planted values: none may survive redaction, in clear
	// or in any form Forms lists.
	Secrets []string
	// Event is the event as the apiserver would send it: one JSON object.
	Event string
}

// event builds an audit event around the given fields (JSON members,
// written as they are, escapes and duplicates included).
func event(id, verb, uri, objectRef, extra string) string {
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"` + id +
		`","stage":"ResponseComplete","requestURI":"` + uri + `","verb":"` + verb +
		`","user":{"username":"mallory","groups":["system:authenticated"]},"sourceIPs":["203.0.113.7"],"userAgent":"kubectl/v1.36.3",` +
		`"objectRef":` + objectRef + `,"responseStatus":{"metadata":{},"code":200},` +
		`"requestReceivedTimestamp":"2026-11-22T09:53:40.000001Z","stageTimestamp":"2026-11-22T09:53:40.000002Z",` +
		`"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}` + extra + `}`
}

func ref(resource, ns, name string) string {
	return fmt.Sprintf(`{"resource":%q,"namespace":%q,"name":%q,"apiVersion":"v1"}`, resource, ns, name)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Cases returns the corpus. Secret values are letters, digits and dashes,
// so that they read the same in JSON, URLs, TSV and logs.
//
// Long because it is the corpus: a table of cases, one per line.
func Cases() []Case {
	jwtSecret := "eyJhbGciOiJSUzI1NiIsImtpZCI6IkNPUlBVUyJ9.eyJzdWIiOiJDT1JQVVMtand0LXN1YmplY3QifQ.Q09SUFVTLWp3dC1zaWduYXR1cmUtMTIzNDU2"
	pemBody := "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCORPUSpemkey"
	pem := "-----BEGIN PRIVATE KEY-----\\n" + pemBody + "\\n-----END PRIVATE KEY-----\\n"
	return []Case{
		{
			Name: "escaped env key in a raw patch body", AuditID: "corpus-escaped-env", Secrets: []string{"CORPUS-escenv-hunter2"},
			Event: event("corpus-escaped-env", "patch", "/apis/apps/v1/namespaces/team-a/deployments/web", ref("deployments", "team-a", "web"),
				`,"requestObject":{"spec":{"template":{"spec":{"containers":[{"name":"web","\u0065nv":[{"name":"DB_PASSWORD","value":"CORPUS-escenv-hunter2"}]}]}}}}`),
		},
		{
			Name: "escaped Secret kind nested in another body", AuditID: "corpus-escaped-secret", Secrets: []string{"CORPUS-escsecret-hunter2"},
			Event: event("corpus-escaped-secret", "create", "/apis/example.com/v1/namespaces/team-a/bundles", ref("bundles", "team-a", "b"),
				`,"requestObject":{"apiVersion":"example.com/v1","kind":"Bundle","spec":{"objects":[{"apiVersion":"v1","kind":"Secr\u0065t","metadata":{"name":"db"},"data":{"token":"`+b64("CORPUS-escsecret-hunter2")+`"}}]}}`),
		},
		{
			Name: "escaped ConfigMap kind nested in another body", AuditID: "corpus-escaped-configmap", Secrets: []string{"CORPUS-esccm-hunter2"},
			Event: event("corpus-escaped-configmap", "create", "/apis/example.com/v1/namespaces/team-a/bundles", ref("bundles", "team-a", "c"),
				`,"requestObject":{"apiVersion":"example.com/v1","kind":"Bundle","spec":{"objects":[{"apiVersion":"v1","kind":"Config\u004dap","metadata":{"name":"app"},"data":{"API_TOKEN":"CORPUS-esccm-hunter2"}}]}}`),
		},
		{
			Name: "first value of a duplicated data key", AuditID: "corpus-duplicate-data",
			Secrets: []string{"CORPUS-dupfirst-hunter2", "CORPUS-duplast-hunter2"},
			Event: event("corpus-duplicate-data", "patch", "/api/v1/namespaces/team-a/secrets/db", ref("secrets", "team-a", "db"),
				`,"requestObject":{"data":{"password":"`+b64("CORPUS-dupfirst-hunter2")+`"},"data":{}}`+
					`,"responseObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db"},"stringData":{"a":"CORPUS-duplast-hunter2"},"stringData":"x"}`),
		},
		{
			Name: "tokens in the request URI's query", AuditID: "corpus-query",
			Secrets: []string{"CORPUS-accesstoken-0123456789", "CORPUS-querypassword-hunter2", "CORPUS-queryflag-hunter2"},
			Event: event("corpus-query", "create",
				"/api/v1/namespaces/team-a/pods/web/exec?access_token=CORPUS-accesstoken-0123456789\u0026password=CORPUS-querypassword-hunter2\u0026command=mysql\u0026command=--password%3DCORPUS-queryflag-hunter2\u0026container=web",
				`{"resource":"pods","subresource":"exec","namespace":"team-a","name":"web","apiVersion":"v1"}`, ""),
		},
		{
			Name: "bearer token in an audit annotation", AuditID: "corpus-annotation", Secrets: []string{"CORPUS-annotationbearer-0123456789"},
			Event: strings.Replace(event("corpus-annotation", "get", "/api/v1/namespaces/team-a/pods/web", ref("pods", "team-a", "web"), ""),
				`"authorization.k8s.io/reason":""`, `"authorization.k8s.io/reason":"","example.com/upstream-authorization":"Bearer CORPUS-annotationbearer-0123456789"`, 1),
		},
		{
			Name: "bearer token and JWT in user.extra", AuditID: "corpus-extra", Secrets: []string{"CORPUS-extrabearer-0123456789", jwtSecret},
			Event: strings.Replace(event("corpus-extra", "get", "/api/v1/namespaces/team-a/pods/web", ref("pods", "team-a", "web"), ""),
				`"groups":["system:authenticated"]`, `"groups":["system:authenticated"],"extra":{"example.com/forwarded-authorization":["Bearer CORPUS-extrabearer-0123456789"],"example.com/id-token":["`+jwtSecret+`"],"authentication.kubernetes.io/credential-id":["JTI=corpus-jti-kept"]}`, 1),
		},
		{
			Name: "--db-password= and a --password flag in container args", AuditID: "corpus-args",
			Secrets: []string{"CORPUS-argpassword-hunter2", "CORPUS-nextarg-hunter2"},
			Event: event("corpus-args", "create", "/api/v1/namespaces/team-a/pods", ref("pods", "team-a", "migrate"),
				`,"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"migrate"},"spec":{"containers":[{"name":"m","image":"migrate:1","args":["--db-host=db","--db-password=CORPUS-argpassword-hunter2","--password","CORPUS-nextarg-hunter2"]}]}}`),
		},
		{
			Name: "password= line in app.properties, DATABASE_URL with user:password, Authorization strings", AuditID: "corpus-configmap",
			Secrets: []string{"CORPUS-properties-hunter2", "CORPUS-dburl-hunter2", "CORPUS-authzheader-0123456789", "CORPUS-basicpass-hunter2"},
			Event: event("corpus-configmap", "create", "/api/v1/namespaces/team-a/configmaps", ref("configmaps", "team-a", "app"),
				`,"requestObject":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"app"},"data":{`+
					`"app.properties":"log.level=info\ndb.password=CORPUS-properties-hunter2\nsecret = x-ignored-too\n",`+
					`"DATABASE_URL":"postgres://app:CORPUS-dburl-hunter2@db.team-a:5432/app",`+
					`"curl.sh":"curl -H 'Authorization: token CORPUS-authzheader-0123456789' https://api.example.com",`+
					`"proxy":"Proxy-Authorization: Basic `+b64("proxyuser:CORPUS-basicpass-hunter2")+`"}}`),
		},
		{
			Name: "JWT and PEM private key under innocent keys", AuditID: "corpus-shapes", Secrets: []string{jwtSecret, pemBody},
			Event: event("corpus-shapes", "create", "/api/v1/namespaces/team-a/configmaps", ref("configmaps", "team-a", "shapes"),
				`,"requestObject":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"shapes"},"data":{"notes":"use `+jwtSecret+` for the API","tls.pem":"`+pem+`"}}`),
		},
		{
			Name: "credentials in base64 under innocent keys", AuditID: "corpus-base64",
			Secrets: []string{"CORPUS-b64properties-hunter2", "CORPUS-b64bearer-0123456789", "CORPUS-b64flag-hunter2"},
			Event: event("corpus-base64", "create", "/api/v1/namespaces/team-a/configmaps", ref("configmaps", "team-a", "b64"),
				`,"requestObject":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"b64","annotations":{"example.com/curl":"`+b64("Authorization: Bearer CORPUS-b64bearer-0123456789")+`"}},`+
					`"binaryData":{"app.properties":"`+b64("mode=prod\npassword=CORPUS-b64properties-hunter2\n")+`"},`+
					`"data":{"ARGS_B64":"`+b64("--api-key=CORPUS-b64flag-hunter2 --verbose")+`"}}`),
		},
	}
}

// Forms returns the forms in which a secret could leak: as it is, in
// base64 (standard and URL alphabets) and in the base64 of the text it was
// planted in, where a case planted one.
func Forms(secret string) []string {
	return []string{secret, b64(secret), base64.URLEncoding.EncodeToString([]byte(secret)), base64.RawStdEncoding.EncodeToString([]byte(secret))}
}

// PlantedBlobs are the base64 texts the corpus planted: none may survive
// either.
func PlantedBlobs() []string {
	return []string{
		b64("Authorization: Bearer CORPUS-b64bearer-0123456789"),
		b64("mode=prod\npassword=CORPUS-b64properties-hunter2\n"),
		b64("--api-key=CORPUS-b64flag-hunter2 --verbose"),
		b64("proxyuser:CORPUS-basicpass-hunter2"),
	}
}

// Needles are every secret of every case in every form, and the planted
// base64 texts: what a test searches output for.
func Needles() []string {
	var out []string
	for _, c := range Cases() {
		for _, s := range c.Secrets {
			out = append(out, Forms(s)...)
		}
	}
	return append(out, PlantedBlobs()...)
}

// Records decodes the corpus as a source would.
func Records(tb testing.TB) []ingest.Record {
	tb.Helper()
	var out []ingest.Record
	for _, c := range Cases() {
		ev, err := ingest.DecodeEvent([]byte(c.Event))
		if err != nil {
			tb.Fatalf("corpus case %q: %v", c.Name, err)
		}
		out = append(out, ingest.Record{Event: ev, Location: "corpus:" + c.AuditID})
	}
	return out
}

// EventList is the corpus as one webhook body.
func EventList() []byte {
	var b strings.Builder
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i, c := range Cases() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.Event)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// Leaks returns the needles found in out, each once.
func Leaks(out string) []string {
	var found []string
	for _, n := range Needles() {
		if strings.Contains(out, n) {
			found = append(found, n)
		}
	}
	return found
}
