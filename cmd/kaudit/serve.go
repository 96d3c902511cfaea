package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/live"
	"github.com/kaudit/kaudit/live/notify"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store"
	"github.com/kaudit/kaudit/store/clickhouse"
	"github.com/kaudit/kaudit/store/memory"
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
With notify.receivers it notifies incidents (opened, escalated, updated, resolved) to
Alertmanager, signed webhooks and Slack-compatible chat, through an outbox in the store
(deploy/notify/README.md).

SIGTERM stops taking new requests and waits for the batches in flight to be durable.

Configuration: --config FILE (YAML), KAUDIT_* environment variables (KAUDIT_WEBHOOK_TLS_CERT
for webhook.tls.cert) and the flags below, each overriding the one before. See deploy/.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.configure(cmd); err != nil {
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

// serveStoreRetryFor is how long the ClickHouse writer retries one batch
// for serve when store.retry_for is not set: short, because the apiserver
// waits for the answer and the spool is the better place for a batch the
// store cannot take now.
const serveStoreRetryFor = 3 * time.Second

// server is serve's parts, assembled in dependency order and taken down in
// the reverse order by close.
type server struct {
	log       *slog.Logger
	reg       *prometheus.Registry // operational metrics: /metrics for anyone
	detect    *prometheus.Registry // what detection found: /metrics with a token
	store     store.Store          // nil when forwarding to Kafka
	pipeline  *pipeline.Pipeline
	acceptor  ingest.Acceptor // live.Acceptor, or live.Forwarder when forwarding
	live      *live.Acceptor  // nil when forwarding
	incidents live.IncidentSource
	notifier  *notify.Notifier // nil without notify.receivers
	stopKafka func() error
	closers   []func() error // run in reverse order by close
}

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
	s := &server{log: slog.New(slog.NewJSONHandler(a.stderr, nil)), reg: prometheus.NewRegistry(), detect: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.reg.MustRegister(newBuildInfoCollector())
	defer s.close()
	if err := a.assemble(ctx, cfg, s); err != nil {
		return err
	}
	return a.run(ctx, cfg, s)
}

// assemble builds the store, the pipeline and the acceptor batches go to.
// A receiver that forwards to Kafka judges nothing; with a store it still
// serves the query API over it.
func (a *app) assemble(ctx context.Context, cfg *serveConfig, s *server) error {
	warnInsecure(cfg, s.log)
	if cfg.storeDSN != "" {
		s.store = a.openServeStore(ctx, cfg, s.log)
		s.closers = append(s.closers, s.store.Close)
	}
	if cfg.forward == "kafka" {
		fwd, err := a.kafkaForwarder()
		if err != nil {
			return err
		}
		s.acceptor = fwd
		s.closers = append(s.closers, fwd.Close)
		return nil
	}
	var err error
	if s.pipeline, err = a.newPipeline(); err != nil {
		return err
	}
	s.incidents = s.pipeline
	sp, err := openSpool(cfg, s.log)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, sp.Close)
	// Scale-out correlation: this kaudit publishes its facts after each
	// durable batch, and builds incidents from every consumer's.
	sink, corr, err := a.kafkaFacts(ctx)
	if err != nil {
		return err
	}
	lcfg := live.Config{Pipeline: s.pipeline, Store: s.store, Spool: sp, Logger: s.log,
		AckFromSpool: cfg.ackFromSpool, FlushInterval: cfg.flushInterval, FlushBytes: cfg.flushBytes}
	if sink != nil {
		lcfg.After, s.incidents = sink, corr
		s.closers = append(s.closers, func() error { return errors.Join(sink.Close(), corr.Close()) })
	}
	lcfg.Metrics = live.NewMetrics(s.reg, s.detect, a.ruleIDs())
	lcfg.Metrics.WatchPipeline(s.pipeline)
	if s.live, err = live.New(lcfg); err != nil {
		return err
	}
	s.acceptor = s.live
	if cfg.notify != nil {
		if s.notifier, err = cfg.notify.newNotifier(s.store, findingsFrom(s.pipeline, s.store), s.reg, s.log); err != nil {
			return err
		}
	}
	// On an early return, stop the drainer before the spool closes (Close
	// is idempotent: run closes it first, with the drain timeout).
	s.closers = append(s.closers, func() error { return s.live.Close(context.Background()) })
	return nil
}

// run starts Kafka, the listeners and the incident publisher, waits for a
// signal or a failed listener, and shuts down in order: stop taking
// requests and let those in flight finish (each waits until its batch is
// durable), then stop Kafka, then the acceptor, then store the last
// incidents; close (deferred by serve) closes the store last.
//
// Long because it is serve's life in order (listeners, workers, signals,
// shutdown), as Prometheus's main is.
func (a *app) run(ctx context.Context, cfg *serveConfig, s *server) error {
	var err error
	if s.stopKafka, err = a.startKafka(ctx, s.acceptor); err != nil {
		return err
	}
	srv, err := a.startServers(cfg, s)
	if err != nil {
		_ = s.stopKafka()
		return err
	}
	pubCtx, stopPub := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	notifyCtx, stopNotify := context.WithCancel(context.Background())
	notifyDone := make(chan struct{})
	if s.live != nil {
		limits := live.DefaultLimits
		limits.MaxSkew = cfg.maxClockSkew
		pub := &live.Publisher{Pipeline: s.pipeline, Source: s.incidents, Store: s.store, Limits: limits, Logger: s.log}
		if s.notifier != nil {
			pub.Notify = s.notifier.Observe
			go func() { defer close(notifyDone); s.notifier.Run(notifyCtx) }()
		} else {
			close(notifyDone)
		}
		go func() { defer close(pubDone); pub.Run(pubCtx) }()
		if br, ok := s.store.(store.BaselineReader); ok {
			go a.learner(br, s).Run(pubCtx)
		}
	} else {
		close(pubDone)
		close(notifyDone)
	}
	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: no new requests; waiting for batches in flight")
	case err := <-srv.failed:
		runErr = inputError(err)
		s.log.Error("server failed; shutting down", "err", err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), serveDrainTimeout)
	defer cancel()
	if err := srv.shutdown(dctx); err != nil {
		s.log.Error("shutdown of the listeners", "err", err)
	}
	if err := s.stopKafka(); err != nil {
		s.log.Error("kafka consumer stop", "err", err)
	}
	if s.live != nil {
		if err := s.live.Close(dctx); err != nil {
			s.log.Error("acceptor close", "err", err)
		}
	}
	stopPub()
	<-pubDone
	// The notifier decides on the last incidents, then stops; what it could
	// not deliver stays in the outbox for the next start.
	stopNotify()
	<-notifyDone
	s.log.Info("stopped")
	return runErr
}

// learner relearns serve's baseline from the store (baseline.* keys).
func (a *app) learner(br store.BaselineReader, s *server) *live.Learner {
	settle := live.DefaultBaselineSettle
	if a.v.IsSet(keyBaselineSettle) {
		settle = a.v.GetDuration(keyBaselineSettle)
	}
	return &live.Learner{Store: br, Pipeline: s.pipeline, Logger: s.log, MinCount: a.v.GetInt(keyBaselineMinCount),
		Window: a.v.GetDuration(keyBaselineWindow), Settle: settle, Every: a.v.GetDuration(keyBaselineRefresh)}
}

// close releases what assemble opened, last opened first.
func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			s.log.Error("close", "err", err)
		}
	}
}

// ready is /readyz: the acceptor takes batches now.
func (s *server) ready() error {
	if s.live != nil {
		return s.live.Ready()
	}
	return nil
}

func warnInsecure(cfg *serveConfig, log *slog.Logger) {
	if cfg.clientCA && len(cfg.subjects) == 0 {
		log.Warn("webhook.tls.client_ca is set without webhook.tls.client_subjects: every certificate that CA signs may post audit events; use a CA dedicated to the apiserver's webhook client, or list its subject")
	}
	if !cfg.insecure {
		return
	}
	if cfg.webhookTokens == nil {
		log.Warn("webhook.insecure_http is true: the webhook serves plain HTTP WITHOUT authentication (the apiserver sends no credentials over http); anyone who reaches it can post events")
	} else {
		log.Warn("webhook.insecure_http is true: plain HTTP with bearer tokens, which the apiserver sends only to a TLS endpoint: keep a TLS-terminating proxy in front")
	}
}

// openSpool opens spool.dir, saying what an earlier run left in it.
func openSpool(cfg *serveConfig, log *slog.Logger) (*spool.Spool, error) {
	sp, err := spool.Open(cfg.spoolDir, cfg.spoolMax)
	if err != nil {
		return nil, inputError(fmt.Errorf("%s: %w", keySpoolDir, err))
	}
	if sp.TornBytes > 0 {
		log.Warn("spool: cut a torn, never acknowledged tail left by a crash", "bytes", sp.TornBytes)
	}
	if sp.Salvaged > 0 {
		log.Error("spool: a damaged length prefix cut the tail; its complete entries were verified and spooled again", "entries", sp.Salvaged)
	}
	if n, b := sp.Stats(); n > 0 {
		log.Info("spool: batches of an earlier run pending; draining them into the store", "batches", n, "bytes", b)
	}
	return sp, nil
}

// openServeStore opens store.dsn in the background (store.Lazy), so that
// serve starts and spools while ClickHouse is away; serveConfig checked the
// DSN, so a DSN that can never work stops the start instead. "memory://" is
// an in-memory store for trying serve out, lost at exit.
func (a *app) openServeStore(ctx context.Context, c *serveConfig, log *slog.Logger) store.Store {
	if c.memoryStore {
		log.Warn("store.dsn is memory: events are kept in this process only and lost at exit; not for production")
		return memory.New()
	}
	cfg := c.store
	if !a.v.IsSet(keyStoreRetryFor) {
		cfg.RetryFor = serveStoreRetryFor
	}
	cfg.Logf = func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) }
	open := func(ctx context.Context) (store.Store, error) {
		s, err := clickhouse.Open(ctx, cfg)
		if err != nil {
			return nil, err // not a nil *clickhouse.Store inside a non-nil interface
		}
		return s, nil
	}
	return store.OpenLazy(ctx, open, 30*time.Second, log)
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
