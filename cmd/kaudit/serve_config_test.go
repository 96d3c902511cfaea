package main

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
)

// Missing or contradictory settings stop the start with a usage error
// naming the key.
func TestServeConfigErrorsNameTheKey(t *testing.T) {
	pki := webhooktest.NewPKI(t)
	dir := t.TempDir()
	wh := filepath.Join(dir, "webhook.tokens")
	api := filepath.Join(dir, "api.tokens")
	shared := filepath.Join(dir, "shared.tokens")
	writeFile(t, wh, "apiserver-token\n")
	writeFile(t, api, "analyst-token\n")
	writeFile(t, shared, "sha256:"+sha256Hex("apiserver-token")+"\n")
	base := map[string]string{
		"--webhook-listen": "127.0.0.1:0", "--api-listen": "127.0.0.1:0",
		"--webhook-tls-cert": pki.ServerCert, "--webhook-tls-key": pki.ServerKey,
		"--webhook-tokens-file": wh, "--api-tokens-file": api,
		"--store": "clickhouse://127.0.0.1:1/kaudit", "--spool-dir": filepath.Join(dir, "spool"),
	}
	cases := []struct {
		name    string
		set     map[string]string
		unset   []string
		wantKey string
	}{
		{"no certificate", nil, []string{"--webhook-tls-cert", "--webhook-tls-key"}, "webhook.tls.cert"},
		{"key without certificate", nil, []string{"--webhook-tls-cert"}, "webhook.tls.cert"},
		{"certificate without key", nil, []string{"--webhook-tls-key"}, "webhook.tls.key"},
		{"no way to authenticate", nil, []string{"--webhook-tokens-file"}, "webhook.tokens_file"},
		{"TLS and plain HTTP", map[string]string{"--webhook-insecure-http": "true"}, nil, "webhook.insecure_http"},
		{"no analyst tokens", nil, []string{"--api-tokens-file"}, "api.tokens_file"},
		{"same token files", map[string]string{"--api-tokens-file": wh}, nil, "api.tokens_file"},
		{"a token in both files", map[string]string{"--api-tokens-file": shared}, nil, "api.tokens_file"},
		{"no store", nil, []string{"--store"}, "store.dsn"},
		{"no spool", nil, []string{"--spool-dir"}, "spool.dir"},
		{"bad size", map[string]string{"--spool-max-bytes": "lots"}, nil, "spool.max_bytes"},
		{"spool smaller than a body", map[string]string{"--spool-max-bytes": "1Mi", "--webhook-max-body-bytes": "2Mi"}, nil, "spool.max_bytes"},
		{"same listener", map[string]string{"--webhook-listen": "127.0.0.1:8443", "--api-listen": "127.0.0.1:8443"}, nil, "api.listen"},
		{"unreadable certificate", map[string]string{"--webhook-tls-cert": filepath.Join(dir, "missing.crt")}, nil, "webhook.tls.cert"},
		{"client CA without PEM", map[string]string{"--webhook-tls-client-ca": wh}, nil, "webhook.tls.client_ca"},
		{"store DSN with a bad port", map[string]string{"--store": "clickhouse://127.0.0.1:99999x/kaudit"}, nil, "store.dsn"},
		{"store DSN with a port out of range", map[string]string{"--store": "clickhouse://127.0.0.1:99999/kaudit"}, nil, "store.dsn"},
		{"store DSN without a port", map[string]string{"--store": "clickhouse://:9000/kaudit"}, nil, "store.dsn"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flags := map[string]string{}
			for k, v := range base {
				flags[k] = v
			}
			for _, k := range tc.unset {
				delete(flags, k)
			}
			for k, v := range tc.set {
				flags[k] = v
			}
			args := []string{"serve"}
			for k, v := range flags {
				args = append(args, k+"="+v)
			}
			code, _, stderr := kaudit(t, "", args...)
			if code != exitUsage || !strings.Contains(stderr, tc.wantKey) {
				t.Fatalf("exit %d, stderr %q: want exit %d naming %s", code, stderr, exitUsage, tc.wantKey)
			}
		})
	}
	// Keys without flags come from the environment and the file; a DSN's
	// password never shows in the error.
	for _, c := range []struct{ env, val, key string }{
		{"KAUDIT_STORE_DSN", "clickhouse://kaudit:s3cret-pw@127.0.0.1:99999x/kaudit", "store.dsn"},
		{"KAUDIT_STORE_QUERY_MAX_MEMORY_BYTES", "lots", "store.query_max_memory_bytes"},
		{"KAUDIT_STORE_QUERY_MAX_TIME", "-1s", "store.query_max_time"},
		{"KAUDIT_API_MAX_QUERIES_PER_ANALYST", "-2", "api.max_queries_per_analyst"},
		{"KAUDIT_INGEST_MAX_CLOCK_SKEW", "soon", "ingest.max_clock_skew"},
		{"KAUDIT_WEBHOOK_TLS_CLIENT_SUBJECTS", "kube-apiserver", "webhook.tls.client_subjects"},
		{"KAUDIT_WEBHOOK_MIN_BODY_RATE", "fast", "webhook.min_body_rate"},
		{"KAUDIT_WEBHOOK_MAX_CLIENT_IN_FLIGHT_BYTES", "-1", "webhook.max_client_in_flight_bytes"},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.val)
			args := []string{"serve"}
			for k, v := range base {
				if k == "--store" && c.key == "store.dsn" {
					continue
				}
				args = append(args, k+"="+v)
			}
			code, _, stderr := kaudit(t, "", args...)
			if code != exitUsage || !strings.Contains(stderr, c.key) || strings.Contains(stderr, "s3cret-pw") {
				t.Fatalf("exit %d, stderr %q: want exit %d naming %s, without the password", code, stderr, exitUsage, c.key)
			}
		})
	}

	// The same keys come from the environment.
	t.Setenv("KAUDIT_WEBHOOK_INSECURE_HTTP", "true")
	t.Setenv("KAUDIT_WEBHOOK_TLS_CERT", pki.ServerCert)
	code, _, stderr := kaudit(t, "", "serve", "--api-tokens-file", api, "--store", "memory://", "--spool-dir", filepath.Join(dir, "s2"))
	if code != exitUsage || !strings.Contains(stderr, "webhook.tls.cert") || !strings.Contains(stderr, "webhook.insecure_http") {
		t.Fatalf("environment: exit %d %q", code, stderr)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
