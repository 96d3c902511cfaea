package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/ingest/webhook"
	"github.com/kaudit/kaudit/store/clickhouse"
)

// serveConfig is serve's configuration, checked: every field is usable.
type serveConfig struct {
	webhookListen string
	insecure      bool
	tls           *tls.Config // nil with insecure
	clientCA      bool
	webhookTokens *auth.Tokens // nil when clientCA or insecure alone authenticate
	maxBody       int64
	maxInFlight   int64    // webhook.max_in_flight_bytes
	maxClient     int64    // webhook.max_client_in_flight_bytes
	minBodyRate   int64    // webhook.min_body_rate, bytes a second
	subjects      []string // webhook.tls.client_subjects
	forward       string   // "" or "kafka"
	apiListen     string
	apiTokens     *auth.Tokens
	metricsTokens *auth.Tokens // nil without metrics.tokens_file
	storeDSN      string
	spoolDir      string
	spoolMax      int64
	ackFromSpool  bool          // spool.ack_from_spool
	flushInterval time.Duration // spool.flush_interval
	flushBytes    int64         // spool.flush_bytes
	pprofListen   string        // debug.pprof_listen
	kafka         bool
	notify        *notifyConfig // nil without notify.receivers
	maxClockSkew  time.Duration // ingest.max_clock_skew
	store         clickhouse.Config
	memoryStore   bool // store.dsn memory://
	maxQueries    int  // api.max_queries_per_analyst
}

// serveConfig reads and checks serve's configuration. A missing or
// contradictory setting is a usage error naming its key.
//
// Long because it reads every serve key in one place, each refusal naming its
// key.
func (a *app) serveConfig() (*serveConfig, error) {
	v := a.v
	c := &serveConfig{
		webhookListen: v.GetString(keyWebhookListen),
		insecure:      v.GetBool(keyWebhookInsecureHTTP),
		forward:       v.GetString(keyWebhookForward),
		apiListen:     v.GetString(keyAPIListen),
		storeDSN:      v.GetString(keyStoreDSN),
		spoolDir:      v.GetString(keySpoolDir),
		kafka:         len(v.GetStringSlice(keyKafkaBrokers)) > 0,
	}
	if err := c.checkListeners(); err != nil {
		return nil, err
	}
	if err := c.webhookAuth(v.GetString(keyWebhookTLSCert), v.GetString(keyWebhookTLSKey), v.GetString(keyWebhookTLSClientCA), v.GetString(keyWebhookTokensFile)); err != nil {
		return nil, err
	}
	if err := c.loadTokens(v.GetString(keyWebhookTokensFile), v.GetString(keyAPITokensFile)); err != nil {
		return nil, err
	}
	if err := c.loadMetricsTokens(v.GetString(keyMetricsTokensFile)); err != nil {
		return nil, err
	}
	var err error
	if c.maxBody, err = byteSize(v.GetString(keyWebhookMaxBody), keyWebhookMaxBody); err != nil {
		return nil, err
	}
	if c.maxBody == 0 {
		c.maxBody = webhook.DefaultMaxBodyBytes
	}
	if c.maxInFlight, err = byteSize(v.GetString(keyWebhookMaxInFlight), keyWebhookMaxInFlight); err != nil {
		return nil, err
	}
	if c.maxClient, err = byteSize(v.GetString(keyWebhookMaxClientInFlight), keyWebhookMaxClientInFlight); err != nil {
		return nil, err
	}
	if c.minBodyRate, err = byteSize(v.GetString(keyWebhookMinBodyRate), keyWebhookMinBodyRate); err != nil {
		return nil, err
	}
	if c.subjects = v.GetStringSlice(keyWebhookClientSubjects); len(c.subjects) > 0 && !c.clientCA {
		return nil, usageError("%s is set but %s is not: subjects restrict client certificates, which need a client CA", keyWebhookClientSubjects, keyWebhookTLSClientCA)
	}
	if err := c.checkDestination(v.GetString(keySpoolMaxBytes)); err != nil {
		return nil, err
	}
	if err := c.walConfig(a); err != nil {
		return nil, err
	}
	if c.notify, err = a.notifyConfig(); err != nil {
		return nil, err
	}
	if c.notify != nil && c.forward != "" {
		return nil, usageError("%s is set but %s is %s: a receiver that forwards judges nothing; notify from the consumers", keyNotifyReceivers, keyWebhookForward, c.forward)
	}
	if c.maxClockSkew, err = a.maxClockSkew(); err != nil {
		return nil, err
	}
	if c.memoryStore = strings.HasPrefix(c.storeDSN, "memory:"); c.storeDSN != "" && !c.memoryStore {
		if c.store, err = a.storeConfig(false); err != nil {
			return nil, err
		}
	}
	if c.maxQueries = v.GetInt(keyAPIMaxQueriesPerAnalyst); c.maxQueries < 0 {
		return nil, usageError("%s must not be negative", keyAPIMaxQueriesPerAnalyst)
	}
	return c, nil
}

// checkListeners wants two distinct addresses.
func (c *serveConfig) checkListeners() error {
	if c.webhookListen == "" {
		return usageError("%s is required (for example %q)", keyWebhookListen, defaultWebhookListen)
	}
	if c.apiListen == "" {
		return usageError("%s is required (for example %q)", keyAPIListen, defaultAPIListen)
	}
	if c.apiListen == c.webhookListen && !strings.HasSuffix(c.apiListen, ":0") {
		return usageError("%s and %s are both %q: the query API and the webhook need their own listeners", keyAPIListen, keyWebhookListen, c.apiListen)
	}
	return nil
}

// webhookAuth checks how the apiserver authenticates: TLS with tokens or
// client certificates, or plain HTTP (and then nothing TLS may be set).
func (c *serveConfig) webhookAuth(cert, key, ca, tokens string) error {
	if c.insecure {
		for k, val := range map[string]string{keyWebhookTLSCert: cert, keyWebhookTLSKey: key, keyWebhookTLSClientCA: ca} {
			if val != "" {
				return usageError("%s is set but %s is true: serve TLS or plain HTTP, not both", k, keyWebhookInsecureHTTP)
			}
		}
		return nil
	}
	switch {
	case cert == "" && key == "":
		return usageError("%s and %s are required: the apiserver sends credentials only over TLS (%s: true serves plain HTTP, unauthenticated)", keyWebhookTLSCert, keyWebhookTLSKey, keyWebhookInsecureHTTP)
	case cert == "":
		return usageError("%s is required with %s", keyWebhookTLSCert, keyWebhookTLSKey)
	case key == "":
		return usageError("%s is required with %s", keyWebhookTLSKey, keyWebhookTLSCert)
	}
	if tokens == "" && ca == "" {
		return usageError("%s or %s is required: how else would the apiserver authenticate?", keyWebhookTokensFile, keyWebhookTLSClientCA)
	}
	tc, err := serverTLS(cert, key, ca)
	if err != nil {
		return err
	}
	c.tls, c.clientCA = tc, ca != ""
	return nil
}

// checkDestination checks where batches go: Kafka (webhook.forward), or
// the store with the spool behind it.
func (c *serveConfig) checkDestination(spoolMax string) error {
	switch c.forward {
	case "", "store":
		c.forward = ""
	case "kafka":
		if !c.kafka {
			return usageError("%s is kafka but %s is not set", keyWebhookForward, keyKafkaBrokers)
		}
	default:
		return usageError("%s %q: want store (the default) or kafka", keyWebhookForward, c.forward)
	}
	if c.storeDSN == "" && c.forward == "" {
		return usageError("%s is required (clickhouse://host:9000/kaudit; the password belongs in KAUDIT_STORE_DSN or the config file)", keyStoreDSN)
	}
	if c.spoolDir == "" && c.forward == "" {
		return usageError("%s is required: batches the store cannot take are kept there, durably, until it can", keySpoolDir)
	}
	if spoolMax == "" {
		spoolMax = defaultSpoolMax
	}
	var err error
	if c.spoolMax, err = byteSize(spoolMax, keySpoolMaxBytes); err != nil {
		return err
	}
	if c.spoolMax == 0 && c.forward == "" {
		return usageError("%s must be positive", keySpoolMaxBytes)
	}
	if c.spoolMax > 0 && c.spoolMax < c.maxBody {
		return usageError("%s (%d) is smaller than %s (%d): the spool could not hold one batch", keySpoolMaxBytes, c.spoolMax, keyWebhookMaxBody, c.maxBody)
	}
	return nil
}

// walConfig reads the write-ahead settings (spool.ack_from_spool,
// spool.flush_interval, spool.flush_bytes) and debug.pprof_listen.
func (c *serveConfig) walConfig(a *app) error {
	v := a.v
	c.ackFromSpool = true
	if v.IsSet(keySpoolAckFromSpool) {
		c.ackFromSpool = v.GetBool(keySpoolAckFromSpool)
	}
	if c.flushInterval = v.GetDuration(keySpoolFlushInterval); c.flushInterval < 0 {
		return usageError("%s must not be negative", keySpoolFlushInterval)
	}
	var err error
	if c.flushBytes, err = byteSize(v.GetString(keySpoolFlushBytes), keySpoolFlushBytes); err != nil {
		return err
	}
	if c.flushBytes > 0 && c.spoolMax > 0 && c.flushBytes > c.spoolMax {
		return usageError("%s (%d) is larger than %s (%d): a flush would never start by size", keySpoolFlushBytes, c.flushBytes, keySpoolMaxBytes, c.spoolMax)
	}
	return c.pprofConfig(v.GetString(keyDebugPprofListen))
}

// pprofConfig accepts a loopback address only: profiles show the code's
// hot paths and goroutine stacks, and the endpoint has no authentication.
func (c *serveConfig) pprofConfig(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError("%s %q: %v", keyDebugPprofListen, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageError("%s %q: want a loopback address (127.0.0.1:PORT): profiles are served without authentication", keyDebugPprofListen, addr)
	}
	c.pprofListen = addr
	return nil
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

// loadMetricsTokens reads metrics.tokens_file, the tokens that open the
// detection metrics of /metrics (for Prometheus) and nothing else; never
// the webhook's.
func (c *serveConfig) loadMetricsTokens(file string) error {
	if file == "" {
		return nil
	}
	var err error
	if c.metricsTokens, err = auth.LoadTokens(file); err != nil {
		return usageError("%s: %v", keyMetricsTokensFile, err)
	}
	if c.metricsTokens.Shares(c.webhookTokens) {
		return usageError("%s and %s share a token: the apiserver's token must open nothing else", keyMetricsTokensFile, keyWebhookTokensFile)
	}
	return nil
}

// loadTokens reads the token files: the analysts' always, the apiserver's
// when given. The two must never share a token.
func (c *serveConfig) loadTokens(webhookFile, apiFile string) error {
	if apiFile == "" {
		return usageError("%s is required: the query API serves evidence to analysts only", keyAPITokensFile)
	}
	var err error
	if c.apiTokens, err = auth.LoadTokens(apiFile); err != nil {
		return usageError("%s: %v", keyAPITokensFile, err)
	}
	if webhookFile == "" {
		return nil
	}
	if webhookFile == apiFile {
		return usageError("%s and %s are the same file: the apiserver's and the analysts' tokens must differ", keyWebhookTokensFile, keyAPITokensFile)
	}
	if c.webhookTokens, err = auth.LoadTokens(webhookFile); err != nil {
		return usageError("%s: %v", keyWebhookTokensFile, err)
	}
	if c.webhookTokens.Shares(c.apiTokens) {
		return usageError("%s and %s share a token: the apiserver's and the analysts' tokens must differ", keyWebhookTokensFile, keyAPITokensFile)
	}
	return nil
}
