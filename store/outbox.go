package store

import (
	"context"
	"sort"
	"time"
)

// Outbox is the durable queue of incident notifications (live/notify): one
// Delivery per notification and receiver, written when the notification is
// decided and rewritten as its delivery goes on, and a lease that lets one
// of several kaudit processes sharing the store deliver at a time. It is
// neither the analysts' Reader nor the pipeline's Writer: only the notifier
// uses it.
type Outbox interface {
	// PutDeliveries writes deliveries. A delivery is identified by
	// (Receiver, ID); of its versions the store keeps the one of highest
	// state rank (StateRank), then of latest Updated, so that a delivery
	// once sent is never made pending again by a late writer.
	PutDeliveries(ctx context.Context, ds []Delivery) error
	// Deliveries returns the kept version of every delivery created at or
	// after since, ordered by receiver, incident, sequence.
	Deliveries(ctx context.Context, since time.Time) ([]Delivery, error)
	// Lease asks for the lease name on behalf of holder for ttl: it is
	// granted (true) when nobody holds it or holder already does, and the
	// holder must ask again before ttl runs out to keep it.
	Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
}

// States of a delivery.
const (
	// DeliveryPending is decided, not yet acknowledged by the receiver.
	DeliveryPending = "pending"
	// DeliverySent was acknowledged by the receiver (a 2xx answer).
	DeliverySent = "sent"
	// DeliveryDropped was given up on (refused for good, or too old).
	DeliveryDropped = "dropped"
)

// StateRank orders delivery states: a delivery only moves up.
func StateRank(state string) int {
	switch state {
	case DeliverySent, DeliveryDropped:
		return 2
	case DeliveryPending:
		return 1
	}
	return 0
}

// Delivery is one notification for one receiver.
type Delivery struct {
	Receiver string
	// ID is the notification's stable key (the receiver's deduplication
	// key): the same for every attempt, every process and every restart.
	ID         string
	IncidentID string
	// Seq orders the notifications of one incident.
	Seq      int
	State    string
	Attempts int
	// NextAttempt is when a pending delivery is tried next.
	NextAttempt time.Time
	LastError   string
	// Created is when the notification was decided; it never changes.
	Created time.Time
	// Updated is when this version was written.
	Updated time.Time
	// Notification is the body, as JSON: every attempt sends the same.
	Notification []byte
}

// DeliveryVersion is the version of a delivery row: its state rank, then
// its write time, so that the kept version is the one of highest rank.
func DeliveryVersion(d *Delivery) uint64 {
	return uint64(StateRank(d.State))<<56 | uint64(d.Updated.UnixMicro())&(1<<56-1)
}

// SortDeliveries orders deliveries by receiver, incident, sequence and id.
func SortDeliveries(ds []Delivery) {
	sort.Slice(ds, func(i, j int) bool {
		a, b := &ds[i], &ds[j]
		if a.Receiver != b.Receiver {
			return a.Receiver < b.Receiver
		}
		if a.IncidentID != b.IncidentID {
			return a.IncidentID < b.IncidentID
		}
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.ID < b.ID
	})
}
