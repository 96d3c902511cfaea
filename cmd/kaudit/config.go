package main

import (
	"strings"

	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Configuration keys: an interface, since operators' files, manifests and
// environment (KAUDIT_STORE_DSN for store.dsn) name them. Every key kaudit
// reads is declared here.
const (
	keyFormat  = "format"
	keyAll     = "all"
	keyStrict  = "strict"
	keyFailOn  = "fail_on"
	keyWorkers = "workers"

	keyBaseline         = "baseline.from"
	keyBaselineMinCount = "baseline.min_count"
	keyBaselineWindow   = "baseline.window"
	keyBaselineRefresh  = "baseline.refresh"
	keyBaselineSettle   = "baseline.settle"

	keyRedactKey   = "redact.key"
	keyRulesDir    = "rules.dir"
	keyIncidentGap = "incident.gap"

	keyIngestMaxClockSkew = "ingest.max_clock_skew"

	keyStoreDSN        = "store.dsn"
	keyStoreCluster    = "store.cluster"
	keyRetentionDays   = "store.retention_days"
	keyStoreBatchRows  = "store.batch_rows"
	keyStoreBatchBytes = "store.batch_bytes"
	keyStoreBatchAge   = "store.batch_age"
	keyStoreRetryFor   = "store.retry_for"

	keyStoreQueryMaxMemory = "store.query_max_memory_bytes"
	keyStoreQueryMaxTime   = "store.query_max_time"
	keyStoreQueryMaxRows   = "store.query_max_rows_read"

	keyWebhookListen       = "webhook.listen"
	keyWebhookTLSCert      = "webhook.tls.cert"
	keyWebhookTLSKey       = "webhook.tls.key"
	keyWebhookTLSClientCA  = "webhook.tls.client_ca"
	keyWebhookTokensFile   = "webhook.tokens_file"
	keyWebhookInsecureHTTP = "webhook.insecure_http"
	keyWebhookMaxBody      = "webhook.max_body_bytes"
	keyWebhookForward      = "webhook.forward"

	keyWebhookClientSubjects    = "webhook.tls.client_subjects"
	keyWebhookMaxInFlight       = "webhook.max_in_flight_bytes"
	keyWebhookMaxClientInFlight = "webhook.max_client_in_flight_bytes"
	keyWebhookMinBodyRate       = "webhook.min_body_rate"

	keyAPIListen     = "api.listen"
	keyAPITokensFile = "api.tokens_file"

	keyAPIMaxQueriesPerAnalyst = "api.max_queries_per_analyst"
	keyMetricsTokensFile       = "metrics.tokens_file"
	keyUIListen                = "ui.listen"

	keySpoolDir      = "spool.dir"
	keySpoolMaxBytes = "spool.max_bytes"
	// The write-ahead path (issue 17): batches are acknowledged once in the
	// spool, and one flusher moves the spool into the store in large
	// inserts, after spool.flush_interval or once spool.flush_bytes wait.
	keySpoolAckFromSpool  = "spool.ack_from_spool"
	keySpoolFlushInterval = "spool.flush_interval"
	keySpoolFlushBytes    = "spool.flush_bytes"

	// keyDebugPprofListen serves net/http/pprof on a loopback address, for
	// profiling serve under load (cmd/kaudit-load/bench.sh --profile).
	keyDebugPprofListen = "debug.pprof_listen"

	keyKafkaBrokers         = "kafka.brokers"
	keyKafkaTopic           = "kafka.topic"
	keyKafkaGroup           = "kafka.group"
	keyKafkaDeadLetter      = "kafka.dead_letter_topic"
	keyKafkaClientID        = "kafka.client_id"
	keyKafkaBatchMessages   = "kafka.batch_messages"
	keyKafkaBatchWait       = "kafka.batch_wait"
	keyKafkaMaxInFlight     = "kafka.max_in_flight"
	keyKafkaSessionTimeout  = "kafka.session_timeout"
	keyKafkaHeartbeat       = "kafka.heartbeat_interval"
	keyKafkaFactsTopic      = "kafka.facts_topic"
	keyKafkaTLSEnabled      = "kafka.tls.enabled"
	keyKafkaTLSCA           = "kafka.tls.ca"
	keyKafkaTLSCert         = "kafka.tls.cert"
	keyKafkaTLSKey          = "kafka.tls.key"
	keyKafkaTLSServerName   = "kafka.tls.server_name"
	keyKafkaTLSInsecureSkip = "kafka.tls.insecure_skip_verify"
	keyKafkaSASLMechanism   = "kafka.sasl.mechanism"
	keyKafkaSASLUsername    = "kafka.sasl.username"
	keyKafkaSASLPassword    = "kafka.sasl.password"

	// Notifications of incidents (live/notify; deploy/notify/README.md).
	// Each entry of notify.receivers has the keys name, type, url,
	// url_file, tls_ca, secret_file, token_file, min_severity, match
	// (tactics, namespaces, actors) and timeout.
	keyNotifyReceivers    = "notify.receivers"
	keyNotifyMinSeverity  = "notify.min_severity"
	keyNotifyResolveAfter = "notify.resolve_after"
	keyNotifyExternalURL  = "notify.external_url"
	keyNotifyGiveUpAfter  = "notify.give_up_after"
	keyNotifyResendEvery  = "notify.resend_every"
	keyReplayNotify       = "replay.notify"
)

// Defaults of settings that have one.
const (
	defaultWebhookListen = ":8443"
	defaultAPIListen     = ":9443"
	defaultUIListen      = "127.0.0.1:0"
	defaultSpoolMax      = "1Gi"
	defaultKafkaTopic    = "kaudit-audit"
	defaultKafkaGroup    = "kaudit"
)

// flagKeys maps every command's flags to the keys they set. A flag means
// the same key in every command that has it.
var flagKeys = map[string]string{
	"format":                 keyFormat,
	"baseline":               keyBaseline,
	"all":                    keyAll,
	"strict":                 keyStrict,
	"fail-on":                keyFailOn,
	"workers":                keyWorkers,
	"rules":                  keyRulesDir,
	"gap":                    keyIncidentGap,
	"store":                  keyStoreDSN,
	"listen":                 keyUIListen,
	"tokens-file":            keyAPITokensFile,
	"webhook-listen":         keyWebhookListen,
	"webhook-tls-cert":       keyWebhookTLSCert,
	"webhook-tls-key":        keyWebhookTLSKey,
	"webhook-tls-client-ca":  keyWebhookTLSClientCA,
	"webhook-tokens-file":    keyWebhookTokensFile,
	"webhook-insecure-http":  keyWebhookInsecureHTTP,
	"webhook-max-body-bytes": keyWebhookMaxBody,
	"api-listen":             keyAPIListen,
	"api-tokens-file":        keyAPITokensFile,
	"spool-dir":              keySpoolDir,
	"spool-max-bytes":        keySpoolMaxBytes,
	"notify":                 keyReplayNotify,
}

// configure loads configuration for a command: the --config file, then
// KAUDIT_* environment variables (KAUDIT_STORE_DSN for store.dsn), then the
// command's flags, each overriding the one before.
func (a *app) configure(cmd *cobra.Command) error {
	if err := checkStoreFlag(cmd); err != nil {
		return err
	}
	v := a.v
	v.SetEnvPrefix("KAUDIT")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	if f, _ := cmd.Flags().GetString("config"); f != "" {
		v.SetConfigFile(f)
		if err := v.ReadInConfig(); err != nil {
			return usageError("config %s: %v", f, err)
		}
	}
	var bindErr error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		key, ok := flagKeys[fl.Name]
		if !ok {
			return
		}
		if err := v.BindPFlag(key, fl); err != nil && bindErr == nil {
			bindErr = err
		}
	})
	return bindErr
}

// checkStoreFlag refuses a --store DSN that carries a password: the command
// line is visible to every user of the machine (ps, /proc) and stays in
// shell history.
func checkStoreFlag(cmd *cobra.Command) error {
	fl := cmd.Flags().Lookup("store")
	if fl == nil || !fl.Changed {
		return nil
	}
	if clickhouse.HasPassword(fl.Value.String()) {
		return usageError("--store: refusing a DSN with a password on the command line, where other users can read it; put the DSN in the environment variable KAUDIT_STORE_DSN or in store.dsn of the --config file")
	}
	return nil
}
