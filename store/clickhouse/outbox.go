package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/kaudit/kaudit/store"
)

const deliveryColumns = "created, created_us, receiver, id, incident_id, seq, state, attempts, next_us, last_error, notification, updated_us, version"

// PutDeliveries inserts a version of each delivery; queries keep the one
// of highest version (store.DeliveryVersion). It is synchronous and retried
// like incidents.
func (s *Store) PutDeliveries(ctx context.Context, ds []store.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	n := len(ds)
	var (
		created   = make([]time.Time, 0, n)
		createdUs = make([]int64, 0, n)
		receiver  = make([]string, 0, n)
		id        = make([]string, 0, n)
		incID     = make([]string, 0, n)
		seq       = make([]uint32, 0, n)
		state     = make([]string, 0, n)
		attempts  = make([]uint32, 0, n)
		next      = make([]int64, 0, n)
		lastErr   = make([]string, 0, n)
		body      = make([]string, 0, n)
		updated   = make([]int64, 0, n)
		version   = make([]uint64, 0, n)
	)
	for i := range ds {
		d := &ds[i]
		created = append(created, d.Created.UTC().Truncate(time.Second))
		createdUs = append(createdUs, d.Created.UnixMicro())
		receiver = append(receiver, d.Receiver)
		id = append(id, d.ID)
		incID = append(incID, d.IncidentID)
		seq = append(seq, uint32(d.Seq))
		state = append(state, d.State)
		attempts = append(attempts, uint32(d.Attempts))
		next = append(next, unixMicro(d.NextAttempt))
		lastErr = append(lastErr, d.LastError)
		body = append(body, string(d.Notification))
		updated = append(updated, d.Updated.UnixMicro())
		version = append(version, store.DeliveryVersion(d))
	}
	cols := []any{created, createdUs, receiver, id, incID, seq, state, attempts, next, lastErr, body, updated, version}
	_, err := s.retry(ctx, func() (struct{}, error) {
		return struct{}{}, s.insertColumns(ctx, "notifications", deliveryColumns, cols)
	}, func(err error, next time.Duration) {
		s.cfg.Logf("store: insert of %d notification deliveries failed, retrying in %s: %v", n, next.Round(time.Millisecond), err)
	})
	if err != nil {
		return fmt.Errorf("store: %d notification deliveries not stored: %w", n, err)
	}
	return nil
}

func unixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// Deliveries reads the kept version of every delivery created at or after
// since.
func (s *Store) Deliveries(ctx context.Context, since time.Time) ([]store.Delivery, error) {
	const q = `SELECT receiver, id, argMax(created_us, version), argMax(incident_id, version), argMax(seq, version),
	argMax(state, version), argMax(attempts, version), argMax(next_us, version), argMax(last_error, version),
	argMax(notification, version), argMax(updated_us, version)
FROM notifications WHERE created >= ? GROUP BY receiver, id`
	rows, err := s.conn.Query(ctx, q, since.UTC().Truncate(time.Second))
	if err != nil {
		return nil, fmt.Errorf("notifications query: %w", err)
	}
	defer rows.Close()
	out := []store.Delivery{}
	for rows.Next() {
		var (
			d                           store.Delivery
			createdUs, nextUs, updateUs int64
			seq, attempts               uint32
			body                        string
		)
		if err := rows.Scan(&d.Receiver, &d.ID, &createdUs, &d.IncidentID, &seq, &d.State, &attempts, &nextUs, &d.LastError, &body, &updateUs); err != nil {
			return nil, fmt.Errorf("notifications query: %w", err)
		}
		d.Created, d.NextAttempt, d.Updated = fromMicro(createdUs), fromMicro(nextUs), fromMicro(updateUs)
		if d.Created.Before(since) {
			continue // same second as since, but earlier
		}
		d.Seq, d.Attempts, d.Notification = int(seq), int(attempts), []byte(body)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notifications query: %w", err)
	}
	store.SortDeliveries(out)
	return out, nil
}

// leaseSettle is how long Lease waits after writing a claim before reading
// who won: a concurrent claim lands within it, and both claimants then see
// the same winner (the latest version).
const leaseSettle = 300 * time.Millisecond

// Lease grants name to holder when it is free, expired, or held by holder.
// ClickHouse has no transactions: a claimant writes its claim, waits
// leaseSettle, and reads the latest claim back; of two processes claiming at
// once, both read the same winner. Clocks of the processes must agree to
// well under ttl.
func (s *Store) Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	cur, expires, err := s.leaseHolder(ctx, name)
	if err != nil {
		return false, err
	}
	now := time.Now()
	if cur != "" && cur != holder && now.Before(expires) {
		return false, nil
	}
	cols := []any{[]string{name}, []string{holder}, []int64{now.Add(ttl).UnixMicro()}, []uint64{uint64(now.UnixMicro())}}
	if err := s.insertColumns(ctx, "notify_lease", "name, holder, expires_us, version", cols); err != nil {
		return false, fmt.Errorf("notify lease: %w", err)
	}
	if cur == holder {
		return true, nil // a renewal: nobody else claims an unexpired lease
	}
	select {
	case <-time.After(leaseSettle):
	case <-ctx.Done():
		return false, ctx.Err()
	}
	cur, _, err = s.leaseHolder(ctx, name)
	if err != nil {
		return false, err
	}
	return cur == holder, nil
}

func (s *Store) leaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	rows, err := s.conn.Query(ctx, "SELECT argMax(holder, version), argMax(expires_us, version) FROM notify_lease WHERE name = ? GROUP BY name", name)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("notify lease: %w", err)
	}
	defer rows.Close()
	var holder string
	var us int64
	if rows.Next() {
		if err := rows.Scan(&holder, &us); err != nil {
			return "", time.Time{}, fmt.Errorf("notify lease: %w", err)
		}
	}
	return holder, fromMicro(us), rows.Err()
}
