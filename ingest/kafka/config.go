// Package kafka makes Kafka a source and a destination of kaudit's pipeline
// through github.com/segmentio/kafka-go: a Consumer reads audit events from a
// topic as a member of a consumer group and hands them to an ingest.Acceptor,
// committing offsets only once the Acceptor made them durable; a Forwarder is
// an ingest.Acceptor that writes events to a topic keyed by actor, so that
// webhook receivers can hand their batches to Kafka and any number of
// consumers can do the rest.
package kafka

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config is what both the Consumer and the Forwarder need to reach the
// brokers, with the consumer's own settings beside it.
type Config struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	// Topic is the topic consumed (Consumer) or written (Forwarder).
	Topic string
	// Group is the consumer group; every kaudit consuming Topic for one
	// store must use the same group, so each partition has one reader.
	Group string
	// DeadLetterTopic, when set, receives every message that could not be
	// decoded, unchanged, with headers saying where it came from and why.
	DeadLetterTopic string
	// ClientID names kaudit to the brokers (their logs and quotas).
	ClientID string

	TLS  TLSConfig
	SASL SASLConfig

	// BatchMessages caps the messages handed to the Acceptor at once
	// (DefaultBatchMessages when zero). The Acceptor answers only once the
	// batch is durable, and a ClickHouse insert costs about as much for
	// 1,000 rows as for 5,000 (one part each), so large batches are what
	// makes one consumer fast.
	BatchMessages int
	// MaxInFlight caps the batches (of different partitions) in the
	// Acceptor at once (DefaultMaxInFlight when zero). Memory is about
	// MaxInFlight × BatchMessages decoded events, plus up to 1,000 raw
	// messages waiting per assigned partition.
	MaxInFlight int
	// BatchWait is how long a batch waits for more messages once it holds
	// one (DefaultBatchWait when zero): the latency added to a quiet topic.
	BatchWait time.Duration
	// MaxWait bounds one fetch of an idle partition (DefaultMaxWait when
	// zero). Data is returned as soon as there is any (MinBytes is 1), so
	// this is not latency; but kafka-go waits that long to notice a
	// rebalance or a close, which its own default of 10 s makes slow. Much
	// shorter values make kafka-go's read deadline race the broker's answer
	// on idle partitions (it reconnects and logs an i/o timeout).
	MaxWait time.Duration
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout are the group
	// membership timers (kafka-go's defaults when zero: 30 s, 3 s, 30 s).
	// A shorter heartbeat lets a member notice a rebalance sooner.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration

	// Logger receives the consumer's and forwarder's structured logs
	// (slog.Default() when nil).
	Logger *slog.Logger
}

// Defaults for the zero values of Config.
const (
	DefaultBatchMessages = 5000
	DefaultBatchWait     = 100 * time.Millisecond
	DefaultMaxInFlight   = 4
	DefaultMaxWait       = 2 * time.Second
)

// TLSConfig is the client side of TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on; it is implied by any file below.
	Enabled bool
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates
	// (the system pool when empty).
	CAFile string
	// CertFile and KeyFile are kaudit's client certificate, for brokers
	// that authenticate clients by certificate (mTLS).
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string
	// InsecureSkipVerify disables verification of the brokers'
	// certificates: for tests only, and logged as a warning.
	InsecureSkipVerify bool
}

// SASL mechanisms accepted in SASLConfig.Mechanism.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// SASLConfig is the SASL authentication to the brokers.
type SASLConfig struct {
	// Mechanism is "" (none), "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string
	Username  string
	Password  string
}

// on reports whether any TLS setting asks for TLS.
func (t TLSConfig) on() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// Validate checks the settings both sides share. Messages name the
// configuration keys of `kaudit serve` (kafka.*), which is where an operator
// fixes them.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: no broker given"))
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" || !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("kafka.brokers: %q is not host:port", b))
		}
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("kafka.topic: not set"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("kafka.tls.cert and kafka.tls.key: give both or neither"))
	}
	switch strings.ToLower(c.SASL.Mechanism) {
	case "":
		if c.SASL.Username != "" || c.SASL.Password != "" {
			errs = append(errs, errors.New("kafka.sasl.mechanism: not set, but kafka.sasl.username or password is"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASL.Username == "" {
			errs = append(errs, errors.New("kafka.sasl.username: not set"))
		}
	default:
		errs = append(errs, fmt.Errorf("kafka.sasl.mechanism: %q, want plain, scram-sha-256 or scram-sha-512", c.SASL.Mechanism))
	}
	return errors.Join(errs...)
}

// validateConsumer adds the checks only a consumer needs.
func (c *Config) validateConsumer() error {
	err := c.Validate()
	if c.Group == "" {
		err = errors.Join(err, errors.New("kafka.group: not set (consumers of one store share one group)"))
	}
	if c.DeadLetterTopic != "" && c.DeadLetterTopic == c.Topic {
		err = errors.Join(err, errors.New("kafka.dead_letter_topic: must differ from kafka.topic"))
	}
	return err
}

func (c *Config) batchMessages() int {
	if c.BatchMessages > 0 {
		return c.BatchMessages
	}
	return DefaultBatchMessages
}

func (c *Config) maxInFlight() int {
	if c.MaxInFlight > 0 {
		return c.MaxInFlight
	}
	return DefaultMaxInFlight
}

func (c *Config) batchWait() time.Duration {
	if c.BatchWait > 0 {
		return c.BatchWait
	}
	return DefaultBatchWait
}

func (c *Config) maxWait() time.Duration {
	if c.MaxWait > 0 {
		return c.MaxWait
	}
	return DefaultMaxWait
}
