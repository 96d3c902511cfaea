package facts

import (
	"context"
	"fmt"

	json "github.com/goccy/go-json"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka"
)

// Sink is a pipeline sink that publishes each batch's correlation facts
// (its findings, and its requests reduced to what correlation reads) to the
// facts topic, where every consumer's Correlation reads them. Placed after
// the store among the pipeline's sinks (in kaudit serve: the durable
// acceptor's After sink), it publishes only what was stored; a batch
// retried after a failure publishes again, and readers deduplicate.
type Sink struct {
	w *kafkago.Writer
}

// NewSink opens a writer to topic on cfg's brokers.
func NewSink(cfg kafka.Config, topic string) (*Sink, error) {
	cfg.Topic = topic
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Lz4: user names and resources repeat a lot.
	w, err := cfg.NewWriter(topic, kafka.WriterOptions{Balancer: &kafkago.RoundRobin{}, Compression: kafkago.Lz4})
	if err != nil {
		return nil, err
	}
	return &Sink{w: w}, nil
}

// Write publishes the facts of one batch and returns once Kafka has them.
func (s *Sink) Write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error {
	var msgs []kafkago.Message
	cur := facts{Findings: findings}
	flush := func() error {
		if len(cur.Findings) == 0 && len(cur.Requests) == 0 {
			return nil
		}
		v, err := json.Marshal(&cur)
		if err != nil {
			return fmt.Errorf("facts: encode: %w", err)
		}
		msgs = append(msgs, kafkago.Message{Value: v})
		cur = facts{}
		return nil
	}
	for i := range events {
		ev := events[i].Event
		if ev == nil || !correlated(ev) {
			continue
		}
		cur.Requests = append(cur.Requests, reduce(ev))
		if len(cur.Requests) == maxFactsRequests {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := s.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("facts topic %s: %w", s.w.Topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (s *Sink) Close() error { return s.w.Close() }
