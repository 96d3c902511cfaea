package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/store"
)

// objectBefore returns the object as the latest request on it before t
// showed it. It reads the store.VersionCandidates latest successful
// requests on the object from events_by_object (through its key), then
// their event JSON from events (through its key), newest first, until one
// shows the object.
func (s *Store) objectBefore(ctx context.Context, ref store.ObjectRef, t time.Time) (*store.ObjectVersion, error) {
	var w where
	w.add("resource = ? AND namespace = ? AND name = ? AND api_group = ?", ref.Resource, ref.Namespace, ref.Name, ref.APIGroup)
	w.add("subresource = '' AND verb IN ('get', 'create', 'update', 'patch') AND code >= 200 AND code < 300")
	w.add("ts <= toDateTime(?) AND time_us < ?", t.Unix(), t.UnixMicro())
	q := fmt.Sprintf("SELECT audit_id, argMax(time_us, version) AS tu, argMax(user, version), argMax(impersonated_user, version), argMax(verb, version)"+
		" FROM events_by_object%s GROUP BY audit_id ORDER BY tu DESC, audit_id DESC LIMIT %d", w.sql(), store.VersionCandidates)
	rows, err := s.conn.Query(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("object versions query: %w", err)
	}
	var cands []store.Entry
	var times []int64
	for rows.Next() {
		var e store.Entry
		var tu int64
		if err := rows.Scan(&e.AuditID, &tu, &e.User, &e.ImpersonatedUser, &e.Verb); err != nil {
			rows.Close()
			return nil, fmt.Errorf("object versions query: %w", err)
		}
		e.Time = time.UnixMicro(tu).UTC().Format(detect.TimeFormat)
		e.Derive()
		cands = append(cands, e)
		times = append(times, tu)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("object versions query: %w", err)
	}
	for i := range cands {
		raw, err := s.bestStage(ctx, cands[i].User, times[i], cands[i].AuditID)
		if err != nil {
			return nil, err
		}
		if v := store.NewObjectVersion(&cands[i], raw); v != nil {
			return v, nil
		}
	}
	return nil, fmt.Errorf("object %s %s/%s before %s: %w", ref.Resource, ref.Namespace, ref.Name, t.Format(time.RFC3339), store.ErrNotFound)
}

// bestStage reads the event JSON of a request's most telling stage.
func (s *Store) bestStage(ctx context.Context, user string, timeUs int64, auditID string) ([]byte, error) {
	rows, err := s.conn.Query(ctx, "SELECT argMax(event, version) FROM events WHERE user = ? AND time_us = ? AND audit_id = ?", user, timeUs, auditID)
	if err != nil {
		return nil, fmt.Errorf("event query: %w", err)
	}
	defer rows.Close()
	var raw string
	if rows.Next() {
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("event query: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("event query: %w", err)
	}
	return []byte(raw), nil
}

// spanOf returns the times of the first and last stored request, from the
// event index (narrow: no event JSON).
func (s *Store) spanOf(ctx context.Context) (first, last time.Time, err error) {
	rows, err := s.conn.Query(ctx, "SELECT count(), min(time_us), max(time_us) FROM event_index")
	if err != nil {
		return first, last, fmt.Errorf("span query: %w", err)
	}
	defer rows.Close()
	var n uint64
	var lo, hi int64
	if rows.Next() {
		if err := rows.Scan(&n, &lo, &hi); err != nil {
			return first, last, fmt.Errorf("span query: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return first, last, fmt.Errorf("span query: %w", err)
	}
	if n == 0 {
		return first, last, nil
	}
	return time.UnixMicro(lo).UTC(), time.UnixMicro(hi).UTC(), nil
}
