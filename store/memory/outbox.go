package memory

import (
	"context"

	"time"

	"github.com/kaudit/kaudit/store"
)

type deliveryKey struct{ receiver, id string }

type lease struct {
	holder  string
	expires time.Time
}

// PutDeliveries keeps, of each delivery's versions, the one of highest
// state rank, then the latest (store.DeliveryVersion).
func (s *Store) PutDeliveries(_ context.Context, ds []store.Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deliveries == nil {
		s.deliveries = map[deliveryKey]store.Delivery{}
	}
	for _, d := range ds {
		k := deliveryKey{d.Receiver, d.ID}
		if old, ok := s.deliveries[k]; ok && store.DeliveryVersion(&old) > store.DeliveryVersion(&d) {
			continue
		}
		d.Notification = append([]byte(nil), d.Notification...)
		s.deliveries[k] = d
	}
	return nil
}

// Deliveries returns the deliveries created at or after since.
func (s *Store) Deliveries(_ context.Context, since time.Time) ([]store.Delivery, error) {
	s.mu.RLock()
	out := make([]store.Delivery, 0, len(s.deliveries))
	for _, d := range s.deliveries {
		if !d.Created.Before(since) {
			out = append(out, d)
		}
	}
	s.mu.RUnlock()
	store.SortDeliveries(out)
	return out, nil
}

// Lease grants name to holder when it is free, expired or held by holder.
func (s *Store) Lease(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases == nil {
		s.leases = map[string]lease{}
	}
	now := time.Now()
	l, ok := s.leases[name]
	if ok && l.holder != holder && now.Before(l.expires) {
		return false, nil
	}
	s.leases[name] = lease{holder: holder, expires: now.Add(ttl)}
	return true, nil
}
