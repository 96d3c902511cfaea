package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/live"
	"github.com/kaudit/kaudit/live/facts"
)

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

// kafkaForwarder is the acceptor of webhook.forward: kafka: events are
// redacted before they leave (live.Forwarder).
func (a *app) kafkaForwarder() (*live.Forwarder, error) {
	cfg, err := a.kafkaConfig()
	if err != nil {
		return nil, err
	}
	r, err := a.newRedactor()
	if err != nil {
		return nil, err
	}
	f, err := live.NewForwarder(r, cfg)
	if err != nil {
		return nil, usageError("%v", err)
	}
	cfg.Logger.Info("kafka: forwarding webhook batches", "brokers", strings.Join(cfg.Brokers, ","), "topic", cfg.Topic)
	return f, nil
}

// kafkaFacts wires scale-out correlation when kafka.facts_topic is set and
// this kaudit consumes: the sink publishing the facts of every batch it made
// durable, and the Correlation reading every consumer's facts, from which
// serve's incidents are built as one process would build them. Without the
// key it returns nils: each kaudit correlates what it consumes.
func (a *app) kafkaFacts(ctx context.Context) (*facts.Sink, *facts.Correlation, error) {
	topic := a.v.GetString(keyKafkaFactsTopic)
	if topic == "" {
		return nil, nil, nil
	}
	if len(brokerList(a.v.GetStringSlice(keyKafkaBrokers))) == 0 {
		return nil, nil, usageError("%s is set but %s is not", keyKafkaFactsTopic, keyKafkaBrokers)
	}
	cfg, err := a.kafkaConfig()
	if err != nil {
		return nil, nil, err
	}
	if a.v.GetString(keyWebhookForward) == "kafka" {
		// A receiver judges nothing, so it has no facts and no incidents.
		cfg.Logger.Info("kafka: webhook.forward is kafka: kafka.facts_topic is for consumers, ignored", "facts_topic", topic)
		return nil, nil, nil
	}
	sink, err := facts.NewSink(cfg, topic)
	if err != nil {
		return nil, nil, usageError("%s: %v", keyKafkaFactsTopic, err)
	}
	corr, err := facts.NewCorrelation(ctx, cfg, topic, a.newCorrelator())
	if err != nil {
		_ = sink.Close()
		return nil, nil, usageError("%v", err)
	}
	cfg.Logger.Info("kafka: incidents correlated across consumers", "facts_topic", topic)
	return sink, corr, nil
}
