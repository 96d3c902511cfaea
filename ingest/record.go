// Package ingest owns kaudit's sources and decoding: it turns log files,
// webhook bodies and Kafka messages into audit events with their provenance.
// Every source yields the same Record type, so everything downstream
// (redaction, detection, correlation, storage) is shared by replay and live
// ingest alike.
package ingest

import (
	"context"
	"fmt"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Record is one decoded audit event together with where it came from.
type Record struct {
	// Event is the decoded audit event. Redaction rewrites its request and
	// response objects in place before any later stage sees it.
	Event *auditv1.Event
	// Location says where the event came from: "FILE:LINE" for files,
	// "FILE:LINE#N" for item N of an EventList document, "kafka:TOPIC/PARTITION/OFFSET"
	// for Kafka and "webhook:ADDR" for the webhook.
	Location string
	// Redacted is set once the redaction stage has run on Event, so that a
	// source which redacts in its own workers is not redacted twice.
	Redacted bool
	// Parsed is what detection worked out of Event ahead of judging it,
	// in the source's own workers (its bodies, parsed), so that judging,
	// which runs one event at a time, does not. Opaque here; nil when
	// nothing was.
	Parsed any
}

// BadInput is input that could not be decoded into an event: a malformed line,
// a wrong kind, a missing required field. It is reported and counted, and
// never stops the good events beside it.
type BadInput struct {
	// Location is where the bad input is, in the same form as Record.Location.
	Location string
	// Reason says what is wrong with it.
	Reason string
}

// Error formats the bad input as "LOCATION: REASON", the form the CLI prints.
func (b BadInput) Error() string { return fmt.Sprintf("%s: %s", b.Location, b.Reason) }

// Batch is a group of records decoded together, with the bad inputs found
// among them. Sources hand batches downstream so that per-event overhead
// (channel sends, locks, store round trips) is paid once per batch.
type Batch struct {
	Records []Record
	Bad     []BadInput
}

// Acceptor takes a decoded batch from a source (the webhook, Kafka) and
// returns nil only once the batch is durable: stored, spooled to disk, or
// written to Kafka in forwarding mode. Sources acknowledge upstream (HTTP
// 2xx, Kafka offset commit) only after Accept returned nil, so nothing
// acknowledged is ever lost.
type Acceptor interface {
	Accept(ctx context.Context, b Batch) error
}
