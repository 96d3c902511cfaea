package live

import (
	"context"
	"errors"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/redact"
)

// Forwarder is the acceptor of a receiver in forwarding mode
// (webhook.forward: kafka): it redacts each batch, then writes it to the
// Kafka topic keyed by actor, where a consumer group judges and stores it
// (Loki's distributor in front of its ingesters, with Kafka between). It
// judges nothing: secrets are redacted before they leave, because Kafka's
// retention and readers are not kaudit's to control.
type Forwarder struct {
	redactor *redact.Redactor
	kafka    *kafka.Forwarder
}

var _ ingest.Acceptor = (*Forwarder)(nil)

// NewForwarder opens a writer to cfg.Topic.
func NewForwarder(r *redact.Redactor, cfg kafka.Config) (*Forwarder, error) {
	f, err := kafka.NewForwarder(cfg, detect.ActorOf)
	if err != nil {
		return nil, err
	}
	return &Forwarder{redactor: r, kafka: f}, nil
}

// Accept redacts the batch's events in place and returns once Kafka has
// them all.
func (f *Forwarder) Accept(ctx context.Context, b ingest.Batch) error {
	for i := range b.Records {
		f.redactor.Record(&b.Records[i])
	}
	return f.kafka.Accept(ctx, b)
}

// Close flushes and closes the writer.
func (f *Forwarder) Close() error {
	if err := f.kafka.Close(); err != nil {
		return errors.Join(errors.New("kafka forwarder close"), err)
	}
	return nil
}
