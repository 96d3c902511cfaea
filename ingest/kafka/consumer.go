package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/ingest"
)

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
	c := &Consumer{cfg: cfg, acc: acc, log: cfg.Log()}
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

// Run consumes until ctx ends, then finishes the batches in hand (within
// DrainTimeout), leaves the group and returns nil. It returns an error only
// when the brokers cannot be read at all.
//
// Each partition has a worker that batches its messages and hands them to
// the Acceptor one batch after the other, so one partition's events (one
// actor's, when the topic is keyed by actor) reach detection in order,
// while batches of different partitions are in the Acceptor at once (up to
// MaxInFlight): a synchronous store write takes the same time for one
// batch as for several, so this is what makes a consumer as fast as the
// store allows. Offsets are per partition, so each worker commits its own.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.close()
	// The batches in flight outlive ctx by at most DrainTimeout.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(DrainTimeout, cancel)
		context.AfterFunc(hctx, func() { t.Stop() })
	})
	defer stop()

	slots := make(chan struct{}, c.cfg.maxInFlight())
	workers := map[int]chan kafkago.Message{}
	var wg sync.WaitGroup
	var err error
	for {
		m, ferr := c.reader.FetchMessage(ctx)
		if ferr != nil {
			err = ferr
			break
		}
		ch, ok := workers[m.Partition]
		if !ok {
			ch = make(chan kafkago.Message, min(c.cfg.batchMessages(), 1000))
			workers[m.Partition] = ch
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.work(ctx, hctx, ch, slots)
			}()
		}
		select {
		case ch <- m:
		case <-ctx.Done():
		}
	}
	for _, ch := range workers {
		close(ch)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("kafka: read %s: %w", c.cfg.Topic, err)
}

// work batches one partition's messages and handles them in order. After
// a batch that could not be made durable (the consumer is stopping) it
// handles nothing more of the partition: committing a later offset would
// commit that batch too.
func (c *Consumer) work(ctx, hctx context.Context, ch <-chan kafkago.Message, slots chan struct{}) {
	for {
		batch := c.collect(ctx, ch)
		if len(batch) == 0 {
			return
		}
		slots <- struct{}{}
		ok := c.handle(ctx, hctx, batch)
		<-slots
		if !ok {
			for range ch { // drained, not committed: redelivered
			}
			return
		}
	}
}

// collect waits for one message, then gathers more for up to BatchWait or
// until the batch is full. It returns nothing once the partition's channel
// is closed or the consumer is stopping with no batch begun.
func (c *Consumer) collect(ctx context.Context, ch <-chan kafkago.Message) []kafkago.Message {
	if ctx.Err() != nil {
		return nil // stopping: start no new batch
	}
	var batch []kafkago.Message
	select {
	case m, ok := <-ch:
		if !ok {
			return nil
		}
		batch = append(batch, m)
	case <-ctx.Done():
		return nil
	}
	timer := time.NewTimer(c.cfg.batchWait())
	defer timer.Stop()
	for max := c.cfg.batchMessages(); len(batch) < max; {
		select {
		case m, ok := <-ch:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		case <-timer.C:
			return batch
		case <-ctx.Done():
			// Stopping: what is in hand is still worth finishing.
			return batch
		}
	}
	return batch
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
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval, retry.Multiplier = 100*time.Millisecond, 5*time.Second, 2
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
		wait := retry.NextBackOff()
		c.log.Warn("kafka: batch not durable, retrying", "events", len(b.Records), "retry_in", wait, "error", err)
		if !sleep(ctx, wait) {
			return false
		}
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
