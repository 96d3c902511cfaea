package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/durable"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/ingest/redact"
	"github.com/kaudit/kaudit/pipeline"
)

// Configuration keys of Kafka (an interface: operators' files name them).
// kafka.brokers is declared with serve's keys.
const (
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
)

// Defaults of the Kafka settings.
const (
	defaultKafkaTopic = "kaudit-audit"
	defaultKafkaGroup = "kaudit"
)

// serve reaches Kafka through these hooks (see serve.go).
func init() {
	serveKafkaConsumer = func(a *app, ctx context.Context, acc ingest.Acceptor) (func() error, error) {
		return a.startKafka(ctx, acc)
	}
	serveKafkaForwarder = func(a *app) (ingest.Acceptor, error) { return a.kafkaForwarder() }
	serveKafkaFacts = func(a *app, ctx context.Context) (pipeline.Sink, durable.IncidentSource, func() error, error) {
		return a.kafkaFacts(ctx)
	}
}

// kafkaConfig reads the kafka.* settings. A setting that cannot work is a
// usage error naming its key.
func (a *app) kafkaConfig() (kafka.Config, error) {
	v := a.v
	cfg := kafka.Config{
		Brokers:         brokerList(v.GetStringSlice(keyKafkaBrokers)),
		Topic:           v.GetString(keyKafkaTopic),
		Group:           v.GetString(keyKafkaGroup),
		DeadLetterTopic: v.GetString(keyKafkaDeadLetter),
		ClientID:        v.GetString(keyKafkaClientID),
		BatchMessages:   v.GetInt(keyKafkaBatchMessages),
		BatchWait:       v.GetDuration(keyKafkaBatchWait),
		MaxInFlight:     v.GetInt(keyKafkaMaxInFlight),
		// A member that died holds its partitions until its session
		// times out: that is how long a crash stalls them.
		SessionTimeout:    v.GetDuration(keyKafkaSessionTimeout),
		HeartbeatInterval: v.GetDuration(keyKafkaHeartbeat),
		TLS: kafka.TLSConfig{
			Enabled:            v.GetBool(keyKafkaTLSEnabled),
			CAFile:             v.GetString(keyKafkaTLSCA),
			CertFile:           v.GetString(keyKafkaTLSCert),
			KeyFile:            v.GetString(keyKafkaTLSKey),
			ServerName:         v.GetString(keyKafkaTLSServerName),
			InsecureSkipVerify: v.GetBool(keyKafkaTLSInsecureSkip),
		},
		SASL: kafka.SASLConfig{
			Mechanism: v.GetString(keyKafkaSASLMechanism),
			Username:  v.GetString(keyKafkaSASLUsername),
			Password:  v.GetString(keyKafkaSASLPassword),
		},
		Logger: slog.New(slog.NewJSONHandler(a.stderr, nil)),
	}
	if cfg.Topic == "" {
		cfg.Topic = defaultKafkaTopic
	}
	if cfg.Group == "" {
		cfg.Group = defaultKafkaGroup
	}
	if cfg.BatchMessages < 0 {
		return cfg, usageError("%s %d: want a positive count", keyKafkaBatchMessages, cfg.BatchMessages)
	}
	if cfg.MaxInFlight < 0 {
		return cfg, usageError("%s %d: want a positive count", keyKafkaMaxInFlight, cfg.MaxInFlight)
	}
	if cfg.SessionTimeout < 0 || cfg.HeartbeatInterval < 0 || (cfg.SessionTimeout > 0 && cfg.HeartbeatInterval >= cfg.SessionTimeout) {
		return cfg, usageError("%s %s and %s %s: want positive durations, the heartbeat shorter than the session", keyKafkaSessionTimeout, cfg.SessionTimeout, keyKafkaHeartbeat, cfg.HeartbeatInterval)
	}
	if cfg.BatchWait < 0 || cfg.BatchWait > time.Minute {
		return cfg, usageError("%s %s: want a duration between 0 and 1m", keyKafkaBatchWait, cfg.BatchWait)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError("%v", err)
	}
	return cfg, nil
}

// brokerList accepts brokers as a YAML list or as one string separated by
// commas or spaces (KAUDIT_KAFKA_BROKERS="k1:9092,k2:9092").
func brokerList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, b := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			out = append(out, b)
		}
	}
	return out
}

// startKafka consumes kafka.topic as a member of kafka.group into acc when
// kafka.brokers is set, committing offsets only after acc made a batch
// durable. A receiver forwarding to Kafka (webhook.forward: kafka) does not
// consume: its acceptor is the forwarder, and consuming into it would loop.
// stop stops consuming after the batch in flight and waits for that.
func (a *app) startKafka(ctx context.Context, acc ingest.Acceptor) (stop func() error, err error) {
	noop := func() error { return nil }
	if len(brokerList(a.v.GetStringSlice(keyKafkaBrokers))) == 0 {
		return noop, nil
	}
	cfg, err := a.kafkaConfig()
	if err != nil {
		return nil, err
	}
	if a.v.GetString(keyWebhookForward) == "kafka" {
		cfg.Logger.Info("kafka: webhook.forward is kafka: this kaudit is a receiver and does not consume", "topic", cfg.Topic)
		return noop, nil
	}
	c, err := kafka.NewConsumer(cfg, acc)
	if err != nil {
		return nil, usageError("%v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	cfg.Logger.Info("kafka: consuming", "brokers", strings.Join(cfg.Brokers, ","), "topic", cfg.Topic, "group", cfg.Group,
		"dead_letter_topic", cfg.DeadLetterTopic)
	// A consumer that fails on its own (brokers unreachable for good) is
	// logged; serve keeps its webhook running.
	go func() {
		select {
		case <-cctx.Done():
		case err := <-done:
			if err != nil {
				cfg.Logger.Error("kafka: consumer stopped", "error", err)
			}
			done <- err
		}
	}()
	return func() error {
		cancel()
		err := <-done
		s := c.Stats()
		cfg.Logger.Info("kafka: consumer stopped", "messages", s.Messages, "events", s.Events, "malformed", s.Malformed,
			"dead_lettered", s.DeadLettered, "commits", s.Commits)
		if err != nil {
			return fmt.Errorf("kafka consumer: %w", err)
		}
		return nil
	}, nil
}

// kafkaForwarder is the acceptor of webhook.forward: kafka. Events are
// redacted before they leave: secrets never reach Kafka, whose retention
// and readers kaudit does not control.
func (a *app) kafkaForwarder() (ingest.Acceptor, error) {
	cfg, err := a.kafkaConfig()
	if err != nil {
		return nil, err
	}
	r, err := a.newRedactor()
	if err != nil {
		return nil, usageError("%v", err)
	}
	f, err := kafka.NewForwarder(cfg)
	if err != nil {
		return nil, usageError("%v", err)
	}
	cfg.Logger.Info("kafka: forwarding webhook batches", "brokers", strings.Join(cfg.Brokers, ","), "topic", cfg.Topic)
	return &redactingForwarder{r: r, f: f}, nil
}

// redactingForwarder redacts what the webhook took, then forwards it.
type redactingForwarder struct {
	r *redact.Redactor
	f *kafka.Forwarder
}

// Accept redacts the batch's events in place and writes them to Kafka.
func (rf *redactingForwarder) Accept(ctx context.Context, b ingest.Batch) error {
	for i := range b.Records {
		rec := &b.Records[i]
		if rec.Event == nil || rec.Redacted {
			continue
		}
		rf.r.Redact(rec.Event)
		rec.Redacted = true
	}
	return rf.f.Accept(ctx, b)
}

// Close flushes the forwarder (serve calls it at shutdown).
func (rf *redactingForwarder) Close() error {
	if err := rf.f.Close(); err != nil {
		return errors.Join(errors.New("kafka forwarder close"), err)
	}
	return nil
}

// kafkaFacts wires scale-out correlation when kafka.facts_topic is set and
// this kaudit consumes: the sink publishing the facts of every batch it made
// durable, and the Correlation reading every consumer's facts, from which
// serve's incidents are built as one process would build them. Without the
// key it returns nils: each kaudit correlates what it consumes.
func (a *app) kafkaFacts(ctx context.Context) (sink pipeline.Sink, src durable.IncidentSource, closeFn func() error, err error) {
	topic := a.v.GetString(keyKafkaFactsTopic)
	if topic == "" {
		return nil, nil, nil, nil
	}
	if len(brokerList(a.v.GetStringSlice(keyKafkaBrokers))) == 0 {
		return nil, nil, nil, usageError("%s is set but %s is not", keyKafkaFactsTopic, keyKafkaBrokers)
	}
	cfg, err := a.kafkaConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	if a.v.GetString(keyWebhookForward) == "kafka" {
		// A receiver judges nothing, so it has no facts and no incidents.
		cfg.Logger.Info("kafka: webhook.forward is kafka: kafka.facts_topic is for consumers, ignored", "facts_topic", topic)
		return nil, nil, nil, nil
	}
	fs, err := kafka.NewFactsSink(cfg, topic)
	if err != nil {
		return nil, nil, nil, usageError("%s: %v", keyKafkaFactsTopic, err)
	}
	corr, err := kafka.NewCorrelation(ctx, cfg, topic, a.v.GetDuration("incident.gap"))
	if err != nil {
		_ = fs.Close()
		return nil, nil, nil, usageError("%v", err)
	}
	cfg.Logger.Info("kafka: incidents correlated across consumers", "facts_topic", topic)
	return fs, corr, func() error { return errors.Join(fs.Close(), corr.Close()) }, nil
}
