package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/ingest"
)

// maxBatchBytes keeps writers under the brokers' default message.max.bytes
// (1,048,588), which a batch must fit in.
const maxBatchBytes = 1_000_000

// DrainTimeout is how long a stopping consumer keeps trying to make its
// in-flight batch durable and commit it before it gives up (the batch is
// then redelivered to whoever owns the partition next).
const DrainTimeout = 10 * time.Second

// Stats counts what a consumer did; serve exports it as metrics.
type Stats struct {
	Messages         int64 // messages fetched
	Events           int64 // events made durable by the Acceptor
	Malformed        int64 // messages that held something unreadable
	BadItems         int64 // unreadable events among them (items of lists count one each)
	DeadLettered     int64 // malformed messages written to the dead-letter topic
	DeadLetterFailed int64 // malformed messages the dead-letter topic would not take
	AcceptRetries    int64 // batches the Acceptor refused, retried
	Commits          int64 // offset commits
	CommitErrors     int64 // commits refused (a rebalance took the partition): redelivered
}

type counters struct {
	messages, events, malformed, badItems, deadLettered, deadLetterFailed atomic.Int64
	acceptRetries, commits, commitErrors                                  atomic.Int64
}

// Consumer reads one topic as a member of a consumer group and hands what it
// decodes to an Acceptor. It commits a message's offset only after the
// Acceptor returned nil for the batch holding it, so a crash or a rebalance
// redelivers instead of losing: delivery is at least once, and the store
// shows each (auditID, stage) once.
type Consumer struct {
	cfg    Config
	acc    ingest.Acceptor
	log    *slog.Logger
	reader *kafkago.Reader
	dlq    *deadLetter
	n      counters
}

// NewConsumer checks cfg and prepares a consumer; Run starts it. A group
// seen for the first time starts at the oldest retained message: for
// forensics, an event the topic still holds is worth reading.
func NewConsumer(cfg Config, acc ingest.Acceptor) (*Consumer, error) {
	if err := cfg.validateConsumer(); err != nil {
		return nil, err
	}
	if acc == nil {
		return nil, errors.New("kafka consumer: no acceptor")
	}
	d, err := cfg.dialer()
	if err != nil {
		return nil, err
	}
	c := &Consumer{cfg: cfg, acc: acc, log: cfg.logger()}
	if cfg.DeadLetterTopic != "" {
		if c.dlq, err = newDeadLetter(&cfg); err != nil {
			return nil, err
		}
	}
	c.reader = kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.Group,
		Topic:             cfg.Topic,
		Dialer:            d,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           cfg.maxWait(),
		QueueCapacity:     1000,
		CommitInterval:    0, // synchronous: CommitMessages returns once the broker has the offsets
		StartOffset:       kafkago.FirstOffset,
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			c.log.Warn("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	return c, nil
}

// Stats returns the counters so far.
func (c *Consumer) Stats() Stats {
	return Stats{
		Messages: c.n.messages.Load(), Events: c.n.events.Load(), Malformed: c.n.malformed.Load(),
		BadItems: c.n.badItems.Load(), DeadLettered: c.n.deadLettered.Load(), DeadLetterFailed: c.n.deadLetterFailed.Load(),
		AcceptRetries: c.n.acceptRetries.Load(), Commits: c.n.commits.Load(), CommitErrors: c.n.commitErrors.Load(),
	}
}

// Run consumes until ctx ends, then finishes the batch in hand (within
// DrainTimeout), leaves the group and returns nil. It returns an error only
// when the brokers cannot be read at all.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.close()
	fetched := make(chan kafkago.Message, c.cfg.batchMessages())
	fetchErr := make(chan error, 1)
	go func() {
		for {
			m, err := c.reader.FetchMessage(ctx)
			if err != nil {
				fetchErr <- err
				return
			}
			select {
			case fetched <- m:
			case <-ctx.Done():
				fetchErr <- ctx.Err()
				return
			}
		}
	}()
	// The in-flight batch outlives ctx by at most DrainTimeout.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(DrainTimeout, cancel)
		context.AfterFunc(hctx, func() { t.Stop() })
	})
	defer stop()
	for {
		batch, err := c.collect(ctx, fetched, fetchErr)
		if len(batch) > 0 && !c.handle(ctx, hctx, batch) {
			// The batch is not durable and the consumer is stopping.
			// Nothing after it may be committed either (a later offset
			// commits the earlier ones), so stop here.
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("kafka: read %s: %w", c.cfg.Topic, err)
		}
	}
}

// collect waits for one message, then gathers more for up to BatchWait or
// until the batch is full.
func (c *Consumer) collect(ctx context.Context, fetched <-chan kafkago.Message, fetchErr <-chan error) ([]kafkago.Message, error) {
	max := c.cfg.batchMessages()
	var batch []kafkago.Message
	select {
	case m := <-fetched:
		batch = append(batch, m)
	case err := <-fetchErr:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	timer := time.NewTimer(c.cfg.batchWait())
	defer timer.Stop()
	for len(batch) < max {
		select {
		case m := <-fetched:
			batch = append(batch, m)
		case <-timer.C:
			return batch, nil
		case <-ctx.Done():
			// Stopping: what is in hand is still worth finishing.
			return batch, nil
		}
	}
	return batch, nil
}

// handle decodes a batch of messages, makes its events durable, dead-letters
// what could not be read and commits. ctx says whether the consumer is
// stopping; hctx bounds the work on this batch. It returns false when the
// batch could not be made durable before the consumer stopped.
func (c *Consumer) handle(ctx, hctx context.Context, msgs []kafkago.Message) bool {
	c.n.messages.Add(int64(len(msgs)))
	var b ingest.Batch
	var poisons []poison
	for i := range msgs {
		m := &msgs[i]
		d := decodeMessage(m)
		b.Records = append(b.Records, d.records...)
		b.Bad = append(b.Bad, d.bad...)
		if d.reason == "" {
			continue
		}
		c.n.malformed.Add(1)
		c.n.badItems.Add(int64(len(d.bad)))
		c.log.Warn("kafka: malformed message", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset,
			"reason", d.reason, "dead_letter_topic", c.cfg.DeadLetterTopic)
		poisons = append(poisons, poison{msg: *m, reason: d.reason})
	}
	if len(b.Records) > 0 || len(b.Bad) > 0 {
		if !c.accept(ctx, hctx, b) {
			return false // not durable: not committed, redelivered
		}
		c.n.events.Add(int64(len(b.Records)))
	}
	if len(poisons) > 0 && c.dlq != nil {
		if err := c.dlq.write(hctx, poisons); err != nil {
			// Never block the partition on the dead-letter topic: the
			// message is in the log above with its offset, and counted.
			c.n.deadLetterFailed.Add(int64(len(poisons)))
			c.log.Error("kafka: dead-letter write failed; malformed messages skipped", "messages", len(poisons), "error", err)
		} else {
			c.n.deadLettered.Add(int64(len(poisons)))
		}
	}
	if err := c.reader.CommitMessages(hctx, msgs...); err != nil {
		c.n.commitErrors.Add(1)
		// The batch is durable; a partition that moved will redeliver it
		// to its new owner, and the store shows it once.
		c.log.Warn("kafka: offset commit failed; the batch will be redelivered", "topic", c.cfg.Topic, "messages", len(msgs), "error", err)
		return true
	}
	c.n.commits.Add(1)
	return true
}

// accept hands the batch to the Acceptor until it takes it, backing off
// between tries; false when the consumer stopped before that.
func (c *Consumer) accept(ctx, hctx context.Context, b ingest.Batch) bool {
	backoff := 100 * time.Millisecond
	for {
		err := c.acc.Accept(hctx, b)
		if err == nil {
			return true
		}
		c.n.acceptRetries.Add(1)
		if ctx.Err() != nil || hctx.Err() != nil {
			c.log.Warn("kafka: stopping with a batch not durable; it will be redelivered", "events", len(b.Records), "error", err)
			return false
		}
		c.log.Warn("kafka: batch not durable, retrying", "events", len(b.Records), "retry_in", backoff, "error", err)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (c *Consumer) close() {
	if err := c.reader.Close(); err != nil {
		c.log.Warn("kafka: closing reader", "error", err)
	}
	if c.dlq != nil {
		if err := c.dlq.close(); err != nil {
			c.log.Warn("kafka: closing dead-letter writer", "error", err)
		}
	}
}
