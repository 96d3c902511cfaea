package clickhouse

import (
	"context"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/store"
)

// The analyst's reads, each run through reread so that losing the node
// kaudit reads through costs a cluster-mode query nothing, even part-way
// through its answer. Each is documented on the function it wraps.

// Timeline lists one entry per request in time order (see timelineOf).
func (s *Store) Timeline(ctx context.Context, q store.Query) ([]store.Entry, error) {
	return reread(ctx, s, func() ([]store.Entry, error) { return s.timelineOf(ctx, q) })
}

// Incidents lists incidents, most severe first (see incidentsOf).
func (s *Store) Incidents(ctx context.Context, q store.IncidentQuery) ([]incident.Incident, error) {
	return reread(ctx, s, func() ([]incident.Incident, error) { return s.incidentsOf(ctx, q) })
}

// Incident returns one incident with its findings and its actors' requests
// (see incidentOf).
func (s *Store) Incident(ctx context.Context, id string) (*store.IncidentDetail, error) {
	return reread(ctx, s, func() (*store.IncidentDetail, error) { return s.incidentOf(ctx, id) })
}

// Findings reads the findings on the given requests, each once (see
// findingsOf).
func (s *Store) Findings(ctx context.Context, auditIDs []string) ([]detect.Finding, error) {
	return reread(ctx, s, func() ([]detect.Finding, error) { return s.findingsOf(ctx, auditIDs) })
}

// Event returns the redacted JSON of every stored stage of a request (see
// eventOf).
func (s *Store) Event(ctx context.Context, auditID string) ([][]byte, error) {
	return reread(ctx, s, func() ([][]byte, error) { return s.eventOf(ctx, auditID) })
}

// ObjectBefore returns the object as the latest request on it before t
// showed it (see objectBefore).
func (s *Store) ObjectBefore(ctx context.Context, ref store.ObjectRef, t time.Time) (*store.ObjectVersion, error) {
	return reread(ctx, s, func() (*store.ObjectVersion, error) { return s.objectBefore(ctx, ref, t) })
}

// Span returns the times of the first and last stored request (see spanOf).
func (s *Store) Span(ctx context.Context) (first, last time.Time, err error) {
	span, err := reread(ctx, s, func() ([2]time.Time, error) {
		first, last, err := s.spanOf(ctx)
		return [2]time.Time{first, last}, err
	})
	return span[0], span[1], err
}

// reread runs a whole read again, from the start, when a broken connection
// cut its answer after rows had been read. failoverConn retries only up to
// the first row, since past it the caller has consumed part of one
// result, and a second result (another replica's, in another order) cannot
// continue it; a read that collects its result before returning can drop
// the part and start over. Single-server mode does not retry: there is no
// other node to read from.
func reread[T any](ctx context.Context, s *Store, read func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := read()
		if err == nil || s.cfg.Cluster == "" || !retryRead(ctx, attempt, err) {
			return v, err
		}
	}
}
