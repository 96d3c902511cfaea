package kafka

import (
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// maxBatchBytes keeps writers under the brokers' default message.max.bytes
// (1,048,588), with room for the record batch's own framing.
const maxBatchBytes = 1_000_000

// WriterOptions are what differs between kaudit's writers: the forwarder
// keys by actor (murmur2, the Java client's partitioner), the dead-letter
// writer keeps a message's key, the facts writer spreads round-robin.
type WriterOptions struct {
	Balancer     kafkago.Balancer
	BatchTimeout time.Duration // default 2 ms: a caller waits for its write
	BatchSize    int           // kafka-go's default (100) when zero
	MaxAttempts  int           // default 5
	Compression  kafkago.Compression
}

// NewWriter returns a writer to topic on c's brokers, authenticated as c
// says, acknowledged by every in-sync replica (RequireAll): kaudit reports
// a batch durable only once Kafka cannot lose it.
func (c *Config) NewWriter(topic string, o WriterOptions) (*kafkago.Writer, error) {
	tr, err := c.transport()
	if err != nil {
		return nil, err
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 2 * time.Millisecond
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	return &kafkago.Writer{
		Addr:         kafkago.TCP(c.Brokers...),
		Topic:        topic,
		Transport:    tr,
		Balancer:     o.Balancer,
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: o.BatchTimeout,
		BatchSize:    o.BatchSize,
		BatchBytes:   maxBatchBytes,
		MaxAttempts:  o.MaxAttempts,
		Compression:  o.Compression,
	}, nil
}

// NewClient returns a client for metadata and offset requests on c's
// brokers.
func (c *Config) NewClient() (*kafkago.Client, error) {
	tr, err := c.transport()
	if err != nil {
		return nil, err
	}
	return &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: tr, Timeout: 10 * time.Second}, nil
}

// NewPartitionReader returns a reader of one partition of topic, from its
// first offset, outside any consumer group: every reader sees all of it.
func (c *Config) NewPartitionReader(topic string, partition int) (*kafkago.Reader, error) {
	d, err := c.dialer()
	if err != nil {
		return nil, err
	}
	return kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: c.Brokers, Topic: topic, Partition: partition, Dialer: d,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: c.maxWait(), StartOffset: kafkago.FirstOffset,
	}), nil
}

// Log returns the configured logger, or slog's default.
func (c *Config) Log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}
