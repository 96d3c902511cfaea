package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/durable"
	"github.com/kaudit/kaudit/ingest/spool"
	"github.com/kaudit/kaudit/ingest/webhook"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/memory"
)

func init() { extraCommands = append(extraCommands, newServeCmd) }

// serveFlagKeys maps serve's flags to configuration keys.
var serveFlagKeys = map[string]string{
	"webhook-listen":         keyWebhookListen,
	"webhook-tls-cert":       keyWebhookTLSCert,
	"webhook-tls-key":        keyWebhookTLSKey,
	"webhook-tls-client-ca":  keyWebhookTLSClientCA,
	"webhook-tokens-file":    keyWebhookTokensFile,
	"webhook-insecure-http":  keyWebhookInsecureHTTP,
	"webhook-max-body-bytes": keyWebhookMaxBody,
	"api-listen":             keyAPIListen,
	"api-tokens-file":        keyAPITokensFile,
	"store":                  keyStoreDSN,
	"spool-dir":              keySpoolDir,
	"spool-max-bytes":        keySpoolMaxBytes,
	"rules":                  keyRulesDir,
	"gap":                    "incident.gap",
}

// Kafka wiring (issue 7) lives in kafka.go. Until it sets these hooks, a
// configuration that asks for Kafka is refused at start.
var (
	// serveKafkaConsumer starts consuming kafka.brokers into acc and returns
	// the function that stops it (after its in-flight batches).
	serveKafkaConsumer func(a *app, ctx context.Context, acc ingest.Acceptor) (stop func() error, err error)
	// serveKafkaForwarder returns the acceptor of webhook.forward: kafka.
	serveKafkaForwarder func(a *app) (ingest.Acceptor, error)
	// serveKafkaFacts returns, under kafka.facts_topic, the sink publishing
	// this kaudit's correlation facts and the source of incidents built
	// from every consumer's; nils otherwise.
	serveKafkaFacts func(a *app, ctx context.Context) (sink pipeline.Sink, src durable.IncidentSource, close func() error, err error)
)

func newServeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Take kube-apiserver's audit webhook batches, detect, store, and serve the query API",
		Long: `serve is the audit webhook backend of kube-apiserver (--audit-webhook-config-file):
it takes the EventLists the apiserver posts to POST /audit/webhook over TLS, authenticated
by bearer token (webhook.tokens_file) or client certificate (webhook.tls.client_ca), runs
them through the same redaction, rules and correlation as replay, and answers 2xx only
once a batch is durable: stored in ClickHouse (store.dsn) or fsynced to the local spool
(spool.dir), which a background worker drains into ClickHouse when it is back. When the
spool reaches spool.max_bytes the webhook answers 429 with Retry-After, so that the
apiserver backs off.

On api.listen it serves the analysts' query API and view (api.tokens_file), /healthz,
/readyz (ready while the store or the spool can take batches) and /metrics (Prometheus).
SIGTERM stops taking new requests and waits for the batches in flight to be durable.

Configuration: --config FILE (YAML), KAUDIT_* environment variables (KAUDIT_WEBHOOK_TLS_CERT
for webhook.tls.cert) and the flags below, each overriding the one before. See deploy/.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkStoreFlag(cmd); err != nil {
				return err
			}
			if err := a.configure(cmd, serveFlagKeys); err != nil {
				return err
			}
			return a.serve(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.String("webhook-listen", defaultWebhookListen, "webhook address (webhook.listen)")
	f.String("webhook-tls-cert", "", "webhook TLS certificate, PEM (webhook.tls.cert)")
	f.String("webhook-tls-key", "", "webhook TLS key, PEM (webhook.tls.key)")
	f.String("webhook-tls-client-ca", "", "CA whose client certificates authenticate the apiserver (webhook.tls.client_ca)")
	f.String("webhook-tokens-file", "", "the apiserver's bearer tokens, one a line, clear or sha256:HEX (webhook.tokens_file)")
	f.Bool("webhook-insecure-http", false, "serve the webhook over plain HTTP; the apiserver then sends no credentials (webhook.insecure_http)")
	f.String("webhook-max-body-bytes", "32Mi", "largest request body, and gzip body once decompressed (webhook.max_body_bytes)")
	f.String("api-listen", defaultAPIListen, "query API, /healthz, /readyz and /metrics address (api.listen)")
	f.String("api-tokens-file", "", "analysts' bearer tokens (api.tokens_file); never the webhook's")
	f.String("store", "", "ClickHouse DSN (store.dsn); the password belongs in KAUDIT_STORE_DSN or the config file")
	f.String("spool-dir", "", "directory of the local spool (spool.dir)")
	f.String("spool-max-bytes", defaultSpoolMax, "spool size at which batches are refused with 429 (spool.max_bytes)")
	f.String("rules", "", "directory of rule files adding to, overriding or disabling built-in rules (rules.dir)")
	f.Duration("gap", incident.DefaultGap, "longest quiet time inside one incident")
	return cmd
}

// serveDrainTimeout bounds how long SIGTERM waits for batches in flight;
// Kubernetes' default grace period is 30 s.
const serveDrainTimeout = 25 * time.Second

func (a *app) serve(ctx context.Context) error {
	cfg, err := a.serveConfig()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	log := slog.New(slog.NewJSONHandler(a.stderr, nil))

	if cfg.insecure {
		if cfg.webhookTokens == "" {
			log.Warn("webhook.insecure_http is true: the webhook serves plain HTTP WITHOUT authentication (the apiserver sends no credentials over http); anyone who reaches it can post events")
		} else {
			log.Warn("webhook.insecure_http is true: plain HTTP with bearer tokens, which the apiserver sends only to a TLS endpoint: keep a TLS-terminating proxy in front")
		}
	}
	if cfg.kafka && serveKafkaConsumer == nil {
		return usageError("%s is set but this build has no Kafka support", keyKafkaBrokers)
	}
	if cfg.forward == "kafka" && serveKafkaForwarder == nil {
		return usageError("%s is kafka but this build has no Kafka support", keyWebhookForward)
	}

	var webhookTokens *auth.Tokens
	if cfg.webhookTokens != "" {
		if webhookTokens, err = auth.LoadTokens(cfg.webhookTokens); err != nil {
			return usageError("%s: %v", keyWebhookTokensFile, err)
		}
	}
	apiTokens, err := auth.LoadTokens(cfg.apiTokens)
	if err != nil {
		return usageError("%s: %v", keyAPITokensFile, err)
	}
	p, err := a.newPipeline()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newBuildInfoCollector())

	var st store.Store
	if cfg.storeDSN != "" {
		st = a.openServeStore(ctx, cfg.storeDSN, log)
		defer func() {
			if err := st.Close(); err != nil {
				log.Error("store close", "err", err)
			}
		}()
	}

	// Scale-out correlation: this kaudit publishes its facts after each
	// durable batch, and builds incidents from every consumer's.
	var facts pipeline.Sink
	var incidentSrc durable.IncidentSource
	if cfg.kafka && serveKafkaFacts != nil {
		var closeFacts func() error
		if facts, incidentSrc, closeFacts, err = serveKafkaFacts(a, ctx); err != nil {
			return err
		}
		if closeFacts != nil {
			// Deferred before the acceptor's close: runs after it.
			defer func() {
				if err := closeFacts(); err != nil {
					log.Error("kafka facts close", "err", err)
				}
			}()
		}
	}

	// The acceptor: durable (store or spool) by default, Kafka when
	// forwarding.
	var acc ingest.Acceptor
	var durableAcc *durable.Acceptor
	var sp *spool.Spool
	if cfg.forward == "kafka" {
		if acc, err = serveKafkaForwarder(a); err != nil {
			return err
		}
	} else {
		if sp, err = spool.Open(cfg.spoolDir, cfg.spoolMax); err != nil {
			return &exitError{code: exitInput, err: fmt.Errorf("%s: %w", keySpoolDir, err)}
		}
		defer sp.Close()
		if sp.TornBytes > 0 {
			log.Warn("spool: cut a torn, never acknowledged tail left by a crash", "bytes", sp.TornBytes)
		}
		if n, b := sp.Stats(); n > 0 {
			log.Info("spool: batches of an earlier run pending; draining them into the store", "batches", n, "bytes", b)
		}
		metrics := durable.NewMetrics(reg, a.ruleIDs())
		metrics.WatchPipeline(p)
		if durableAcc, err = durable.New(durable.Config{Store: st, Spool: sp, Pipeline: p, After: facts, Metrics: metrics, Logger: log}); err != nil {
			return err
		}
		// On an early return, stop the drainer before the spool closes
		// (Close is idempotent: the orderly shutdown below closes it first).
		defer durableAcc.Close(context.Background())
		acc = durableAcc
	}

	var stopKafka func() error
	if cfg.kafka {
		if stopKafka, err = serveKafkaConsumer(a, ctx, acc); err != nil {
			return err
		}
	}

	ready := func() error {
		if durableAcc != nil {
			return durableAcc.Ready()
		}
		return nil
	}
	wh, err := webhook.NewHandler(webhook.Config{
		Acceptor:        acc,
		Tokens:          webhookTokens,
		ClientCerts:     cfg.clientCA,
		Unauthenticated: cfg.insecure && webhookTokens == nil,
		MaxBodyBytes:    cfg.maxBody,
		Metrics:         webhook.NewMetrics(reg),
		Logger:          log,
	})
	if err != nil {
		return err
	}
	servers, err := a.startServers(cfg, wh, st, apiTokens, reg, ready, log)
	if err != nil {
		if stopKafka != nil {
			_ = stopKafka()
		}
		return err
	}

	pubCtx, stopPub := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	if st != nil {
		pub := &durable.Publisher{Pipeline: p, Source: incidentSrc, Store: st, Limits: durable.DefaultLimits, Logger: log}
		go func() { defer close(pubDone); pub.Run(pubCtx) }()
	} else {
		close(pubDone)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: no new requests; waiting for batches in flight")
	case err := <-servers.failed:
		runErr = &exitError{code: exitInput, err: err}
		log.Error("server failed; shutting down", "err", err)
	}
	// Order matters: stop taking requests and let those in flight finish
	// (each waits until its batch is durable), then stop Kafka, then the
	// acceptor, then store the last incidents, then close the store.
	dctx, cancel := context.WithTimeout(context.Background(), serveDrainTimeout)
	defer cancel()
	if err := servers.shutdown(dctx); err != nil {
		log.Error("shutdown of the listeners", "err", err)
	}
	if stopKafka != nil {
		if err := stopKafka(); err != nil {
			log.Error("kafka consumer stop", "err", err)
		}
	}
	if durableAcc != nil {
		if err := durableAcc.Close(dctx); err != nil {
			log.Error("acceptor close", "err", err)
		}
	}
	if c, ok := acc.(interface{ Close() error }); ok && durableAcc == nil {
		if err := c.Close(); err != nil {
			log.Error("forwarder close", "err", err)
		}
	}
	stopPub()
	<-pubDone
	log.Info("stopped")
	return runErr
}

// openServeStore opens store.dsn in the background (see lazyStore):
// "memory://" is an in-memory store for trying serve out, lost at exit.
func (a *app) openServeStore(ctx context.Context, dsn string, log *slog.Logger) store.Store {
	if strings.HasPrefix(dsn, "memory:") {
		log.Warn("store.dsn is memory: events are kept in this process only and lost at exit; not for production")
		return memory.New()
	}
	cfg := a.storeConfig(false)
	if !a.v.IsSet(keyStoreRetryFor) {
		cfg.RetryFor = serveStoreRetryFor
	}
	cfg.Logf = func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) }
	open := func(ctx context.Context) (store.Store, error) {
		s, err := clickhouse.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return openLazy(ctx, open, 30*time.Second, log)
}

// ruleIDs lists the enabled rules, so that findings_total shows each at 0.
func (a *app) ruleIDs() []string {
	set, err := rules.Load(a.v.GetString(keyRulesDir))
	if err != nil {
		return nil
	}
	var ids []string
	for _, r := range set.Rules {
		if !r.Disabled {
			ids = append(ids, r.ID)
		}
	}
	return ids
}
