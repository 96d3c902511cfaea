package kafka

import (
	"context"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Headers set on a dead-lettered message, beside its original key and value.
const (
	HeaderSource = "kaudit-source" // "kafka:TOPIC/PARTITION/OFFSET" of the original
	HeaderError  = "kaudit-error"  // why it could not be read
)

// deadLetterTries bounds how often a dead-letter write is tried before the
// message is given up (logged and counted): a dead-letter topic that is
// down must not block the partition.
const deadLetterTries = 3

// deadLetter writes malformed messages to the dead-letter topic.
type deadLetter struct {
	w *kafkago.Writer
}

func newDeadLetter(c *Config) (*deadLetter, error) {
	w, err := c.NewWriter(c.DeadLetterTopic, WriterOptions{Balancer: &kafkago.Hash{}, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 3})
	if err != nil {
		return nil, err
	}
	return &deadLetter{w: w}, nil
}

// poison is a message to dead-letter and why.
type poison struct {
	msg    kafkago.Message
	reason string
}

// write sends the messages, trying a few times; the error says what was
// given up.
func (d *deadLetter) write(ctx context.Context, ps []poison) error {
	out := make([]kafkago.Message, len(ps))
	for i, p := range ps {
		out[i] = kafkago.Message{
			Key:   p.msg.Key,
			Value: p.msg.Value,
			Headers: append(append([]kafkago.Header(nil), p.msg.Headers...),
				kafkago.Header{Key: HeaderSource, Value: []byte(Location(&p.msg))},
				kafkago.Header{Key: HeaderError, Value: []byte(p.reason)}),
		}
	}
	var err error
	for try := 0; try < deadLetterTries; try++ {
		if try > 0 && !sleep(ctx, time.Duration(try)*200*time.Millisecond) {
			break
		}
		if err = d.w.WriteMessages(ctx, out...); err == nil {
			return nil
		}
	}
	return fmt.Errorf("dead-letter topic %s: %w", d.w.Topic, err)
}

func (d *deadLetter) close() error { return d.w.Close() }

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
