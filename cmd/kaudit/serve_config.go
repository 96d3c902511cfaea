package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kaudit/kaudit/ingest/webhook"
)

// Configuration keys of `kaudit serve` (an interface: operators' files and
// manifests name them).
const (
	keyWebhookListen       = "webhook.listen"
	keyWebhookTLSCert      = "webhook.tls.cert"
	keyWebhookTLSKey       = "webhook.tls.key"
	keyWebhookTLSClientCA  = "webhook.tls.client_ca"
	keyWebhookTokensFile   = "webhook.tokens_file"
	keyWebhookInsecureHTTP = "webhook.insecure_http"
	keyWebhookMaxBody      = "webhook.max_body_bytes"
	keyWebhookForward      = "webhook.forward"
	keyAPIListen           = "api.listen"
	keyAPITokensFile       = "api.tokens_file"
	keySpoolDir            = "spool.dir"
	keySpoolMaxBytes       = "spool.max_bytes"
	keyRulesDir            = "rules.dir"
	keyKafkaBrokers        = "kafka.brokers"
)

// Defaults of serve's settings.
const (
	defaultWebhookListen = ":8443"
	defaultAPIListen     = ":9443"
	defaultSpoolMax      = "1Gi"
)

// serveConfig is serve's configuration, checked: every field is usable.
type serveConfig struct {
	webhookListen string
	insecure      bool
	tls           *tls.Config // nil with insecure
	clientCA      bool
	webhookTokens string // path, may be empty when clientCA or insecure
	maxBody       int64
	forward       string // "" or "kafka"
	apiListen     string
	apiTokens     string
	storeDSN      string
	spoolDir      string
	spoolMax      int64
	kafka         bool
}

// serveConfig reads and checks serve's configuration. A missing or
// contradictory setting is a usage error naming its key.
func (a *app) serveConfig() (*serveConfig, error) {
	v := a.v
	c := &serveConfig{
		webhookListen: v.GetString(keyWebhookListen),
		insecure:      v.GetBool(keyWebhookInsecureHTTP),
		webhookTokens: v.GetString(keyWebhookTokensFile),
		forward:       v.GetString(keyWebhookForward),
		apiListen:     v.GetString(keyAPIListen),
		apiTokens:     v.GetString(keyAPITokensFile),
		storeDSN:      v.GetString(keyStoreDSN),
		spoolDir:      v.GetString(keySpoolDir),
		kafka:         len(v.GetStringSlice(keyKafkaBrokers)) > 0,
	}
	cert, key, ca := v.GetString(keyWebhookTLSCert), v.GetString(keyWebhookTLSKey), v.GetString(keyWebhookTLSClientCA)
	if c.webhookListen == "" {
		return nil, usageError("%s is required (for example %q)", keyWebhookListen, defaultWebhookListen)
	}
	if c.apiListen == "" {
		return nil, usageError("%s is required (for example %q)", keyAPIListen, defaultAPIListen)
	}
	if c.apiListen == c.webhookListen && !strings.HasSuffix(c.apiListen, ":0") {
		return nil, usageError("%s and %s are both %q: the query API and the webhook need their own listeners", keyAPIListen, keyWebhookListen, c.apiListen)
	}
	if c.insecure {
		for k, val := range map[string]string{keyWebhookTLSCert: cert, keyWebhookTLSKey: key, keyWebhookTLSClientCA: ca} {
			if val != "" {
				return nil, usageError("%s is set but %s is true: serve TLS or plain HTTP, not both", k, keyWebhookInsecureHTTP)
			}
		}
	} else {
		switch {
		case cert == "" && key == "":
			return nil, usageError("%s and %s are required: the apiserver sends credentials only over TLS (%s: true serves plain HTTP, unauthenticated)", keyWebhookTLSCert, keyWebhookTLSKey, keyWebhookInsecureHTTP)
		case cert == "":
			return nil, usageError("%s is required with %s", keyWebhookTLSCert, keyWebhookTLSKey)
		case key == "":
			return nil, usageError("%s is required with %s", keyWebhookTLSKey, keyWebhookTLSCert)
		}
		if c.webhookTokens == "" && ca == "" {
			return nil, usageError("%s or %s is required: how else would the apiserver authenticate?", keyWebhookTokensFile, keyWebhookTLSClientCA)
		}
		tc, err := serverTLS(cert, key, ca)
		if err != nil {
			return nil, err
		}
		c.tls, c.clientCA = tc, ca != ""
	}
	if c.apiTokens == "" {
		return nil, usageError("%s is required: the query API serves evidence to analysts only", keyAPITokensFile)
	}
	if c.webhookTokens != "" {
		if err := disjointTokens(c.webhookTokens, c.apiTokens); err != nil {
			return nil, err
		}
	}
	var err error
	if c.maxBody, err = byteSize(v.GetString(keyWebhookMaxBody), keyWebhookMaxBody); err != nil {
		return nil, err
	}
	if c.maxBody == 0 {
		c.maxBody = webhook.DefaultMaxBodyBytes
	}
	switch c.forward {
	case "", "store":
		c.forward = ""
	case "kafka":
		if !c.kafka {
			return nil, usageError("%s is kafka but %s is not set", keyWebhookForward, keyKafkaBrokers)
		}
	default:
		return nil, usageError("%s %q: want store (the default) or kafka", keyWebhookForward, c.forward)
	}
	if c.storeDSN == "" && c.forward == "" {
		return nil, usageError("%s is required (clickhouse://host:9000/kaudit; the password belongs in KAUDIT_STORE_DSN or the config file)", keyStoreDSN)
	}
	if c.spoolDir == "" && c.forward == "" {
		return nil, usageError("%s is required: batches the store cannot take are kept there, durably, until it can", keySpoolDir)
	}
	max := v.GetString(keySpoolMaxBytes)
	if max == "" {
		max = defaultSpoolMax
	}
	if c.spoolMax, err = byteSize(max, keySpoolMaxBytes); err != nil {
		return nil, err
	}
	if c.spoolMax == 0 && c.forward == "" {
		return nil, usageError("%s must be positive", keySpoolMaxBytes)
	}
	if c.spoolMax > 0 && c.spoolMax < c.maxBody {
		return nil, usageError("%s (%d) is smaller than %s (%d): the spool could not hold one batch", keySpoolMaxBytes, c.spoolMax, keyWebhookMaxBody, c.maxBody)
	}
	return c, nil
}

// byteSize parses a size given as a number of bytes or a Kubernetes
// quantity ("512Mi", "1Gi", "10M").
func byteSize(s, key string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, usageError("%s %q: want a number of bytes or a quantity such as 512Mi or 1Gi", key, s)
	}
	n, ok := q.AsInt64()
	if !ok || n < 0 {
		return 0, usageError("%s %q: want a positive whole number of bytes", key, s)
	}
	return n, nil
}

// serverTLS builds the webhook's TLS configuration: its certificate and,
// when a client CA is given, client certificates verified against it (when
// presented: bearer tokens stay possible on the same listener).
func serverTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, usageError("%s / %s: %v", keyWebhookTLSCert, keyWebhookTLSKey, err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: newCertReloader(certFile, keyFile, cert).getCertificate}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usageError("%s: %v", keyWebhookTLSClientCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageError("%s %s: no PEM certificate in it", keyWebhookTLSClientCA, caFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// disjointTokens refuses token files that share a token: a webhook token
// must never open the query API, nor an analyst's token post events.
func disjointTokens(webhookFile, apiFile string) error {
	if webhookFile == apiFile {
		return usageError("%s and %s are the same file: the apiserver's and the analysts' tokens must differ", keyWebhookTokensFile, keyAPITokensFile)
	}
	w, err := tokenDigests(webhookFile)
	if err != nil {
		return usageError("%s: %v", keyWebhookTokensFile, err)
	}
	api, err := tokenDigests(apiFile)
	if err != nil {
		return usageError("%s: %v", keyAPITokensFile, err)
	}
	for d := range w {
		if api[d] {
			return usageError("%s and %s share a token: the apiserver's and the analysts' tokens must differ", keyWebhookTokensFile, keyAPITokensFile)
		}
	}
	return nil
}

// tokenDigests reads a token file (auth.LoadTokens's format) into the hex
// SHA-256 of each token, so that files in clear and hashed compare.
func tokenDigests(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if h, ok := strings.CutPrefix(s, "sha256:"); ok {
			out[strings.ToLower(h)] = true
			continue
		}
		sum := sha256.Sum256([]byte(s))
		out[hex.EncodeToString(sum[:])] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
