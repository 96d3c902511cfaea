package kafka

import (
	"context"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"
	kafkago "github.com/segmentio/kafka-go"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/ingest"
)

// Forwarder is the Acceptor of webhook receivers in forwarding mode
// (webhook.forward: kafka): it writes each event to the topic as one JSON
// message, the form log shippers use, keyed by the event's actor, and
// returns nil once the brokers acknowledged every message (acks=all). The
// apiserver is answered only then, so nothing it was told is stored is lost.
//
// Keying by actor puts every event of one actor, both stages of every
// request included, in one partition, read in order by one consumer: the
// per-actor state of detection lives in one place (see deploy/scale-out.md).
type Forwarder struct {
	w   *kafkago.Writer
	key KeyFunc
}

// KeyFunc names the partition key of an event. kaudit keys by actor
// (detect.ActorOf): the transport itself knows nothing of detection.
type KeyFunc func(*auditv1.Event) string

// NewForwarder checks cfg and opens a writer to cfg.Topic. The partitioner
// is murmur2, the Java client's default, so a shipper keying by the same
// actor name with a stock producer lands in the same partition.
func NewForwarder(cfg Config, key KeyFunc) (*Forwarder, error) {
	if key == nil {
		return nil, errors.New("kafka forward: no partition key function")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A webhook batch is written at once; waiting for more (kafka-go's
	// default is 1 s) would only delay the apiserver's answer: the default
	// BatchTimeout of 2 ms.
	w, err := cfg.NewWriter(cfg.Topic, WriterOptions{Balancer: &kafkago.Murmur2Balancer{}, BatchSize: 1000, Compression: kafkago.Lz4})
	if err != nil {
		return nil, err
	}
	return &Forwarder{w: w, key: key}, nil
}

// Accept writes the batch's events and returns once Kafka has them all.
// Bad inputs are not forwarded: the receiver reported them to its caller.
func (f *Forwarder) Accept(ctx context.Context, b ingest.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	msgs := make([]kafkago.Message, 0, len(b.Records))
	for i := range b.Records {
		ev := b.Records[i].Event
		if ev == nil {
			continue
		}
		// Webhook items carry no kind/apiVersion; a message stands alone.
		ev.Kind, ev.APIVersion = ingest.KindEvent, ingest.APIVersion
		v, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("kafka forward: encode event %s: %w", ev.AuditID, err)
		}
		msgs = append(msgs, kafkago.Message{Key: []byte(f.key(ev)), Value: v})
	}
	if err := f.w.WriteMessages(ctx, msgs...); err != nil {
		var we kafkago.WriteErrors
		if errors.As(err, &we) {
			return fmt.Errorf("kafka forward to %s: %d of %d messages not acknowledged: %w", f.w.Topic, we.Count(), len(msgs), err)
		}
		return fmt.Errorf("kafka forward to %s: %w", f.w.Topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (f *Forwarder) Close() error { return f.w.Close() }
