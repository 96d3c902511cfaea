// Package memory is the embedded store: everything in the process's memory,
// with the same query semantics as ClickHouse. It backs `kaudit timeline
// PATH...`, `kaudit incidents PATH...` and `kaudit ui PATH...` on a forensic
// workstation with nothing installed, and serves as the reference the
// ClickHouse store is tested against.
package memory

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/baseline"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
)

// Store is an in-memory store.Store. It is safe for concurrent use.
type Store struct {
	mu        sync.RWMutex
	requests  map[string]*request // by audit id
	findings  map[findingKey]detect.Finding
	incidents map[string]incident.Incident
	// The notifications' outbox (outbox.go).
	deliveries map[deliveryKey]store.Delivery
	leases     map[string]lease
}

// request holds the stages of one request, keyed by stage name so that a
// stage delivered twice is held once.
type request struct {
	stages map[string]*stage
}

type stage struct {
	entry store.Entry
	at    time.Time
	rank  int
	raw   []byte // the redacted event as JSON
}

// findingKey is a finding's identity: one rule on one stage of one request.
type findingKey struct{ auditID, stage, rule string }

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		requests:  map[string]*request{},
		findings:  map[findingKey]detect.Finding{},
		incidents: map[string]incident.Incident{},
	}
}

// Write stores events and findings. A stage written again replaces the
// earlier copy (the last write wins, as in ClickHouse's ReplacingMergeTree),
// so a replayed file or a redelivered batch shows each event once.
func (s *Store) Write(_ context.Context, events []ingest.Record, findings []detect.Finding) error {
	// Marshal outside the lock: it is the costly part.
	stages := make([]*stage, 0, len(events))
	for i := range events {
		rec := &events[i]
		if rec.Event == nil {
			continue
		}
		raw, err := json.Marshal(rec.Event)
		if err != nil {
			return fmt.Errorf("memory store: marshal event %s: %w", rec.Event.AuditID, err)
		}
		stages = append(stages, &stage{
			entry: store.EntryOf(rec),
			at:    detect.EventTime(rec.Event),
			rank:  store.StageRank(string(rec.Event.Stage)),
			raw:   raw,
		})
	}
	s.put(stages, findings)
	return nil
}

// put stores stages and findings; a stage stored again replaces the
// earlier copy.
func (s *Store) put(stages []*stage, findings []detect.Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range stages {
		r := s.requests[st.entry.AuditID]
		if r == nil {
			r = &request{stages: map[string]*stage{}}
			s.requests[st.entry.AuditID] = r
		}
		r.stages[st.entry.Stage] = st
	}
	for _, f := range findings {
		s.findings[findingKey{f.AuditID, f.Stage, f.Rule}] = f
	}
}

// WriteRows stores rendered rows and their findings (store.RowWriter), as
// Write stores the records they were rendered from: serve's write-ahead
// path works on the in-memory store too.
func (s *Store) WriteRows(_ context.Context, rows []store.Row, findings []detect.Finding) error {
	stages := make([]*stage, len(rows))
	for i := range rows {
		r := &rows[i]
		// The row's bytes may belong to a larger buffer (a spool entry):
		// keep a copy of the JSON only.
		stages[i] = &stage{entry: r.Entry(), at: r.At, rank: store.StageRank(r.Stage), raw: append([]byte(nil), r.JSON...)}
	}
	s.put(stages, findings)
	return nil
}

// WriteIncidents stores incidents, replacing earlier versions by id.
func (s *Store) WriteIncidents(_ context.Context, incs []incident.Incident) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inc := range incs {
		s.incidents[inc.ID] = inc
	}
	return nil
}

// best is the stage a timeline shows for a request: the one of highest
// rank; between stages of equal rank (unknown stages), the greater name,
// so the choice does not depend on map order.
func (r *request) best() *stage {
	var b *stage
	for _, st := range r.stages {
		if b == nil || st.rank > b.rank || (st.rank == b.rank && st.entry.Stage > b.entry.Stage) {
			b = st
		}
	}
	return b
}

// Timeline lists one entry per request in time order (ties broken by audit
// id). A zero Limit means no limit.
func (s *Store) Timeline(_ context.Context, q store.Query) ([]store.Entry, error) {
	s.mu.RLock()
	matched := s.match(func(e *store.Entry, at time.Time) bool {
		return q.Matches(e) && q.InWindow(at) && (q.After == nil || !q.After.Before(at, e.AuditID))
	})
	s.mu.RUnlock()
	return page(matched, q.Offset, q.Limit), nil
}

// match returns the best stage of every request that keep accepts, in
// timeline order. The caller holds the lock.
func (s *Store) match(keep func(*store.Entry, time.Time) bool) []store.Entry {
	hits := s.matchStages(keep)
	out := make([]store.Entry, len(hits))
	for i, h := range hits {
		out[i] = h.entry
	}
	return out
}

// matchStages is match returning the best stages themselves (with their
// JSON). The caller holds the lock.
func (s *Store) matchStages(keep func(*store.Entry, time.Time) bool) []*stage {
	var hits []*stage
	for _, r := range s.requests {
		b := r.best()
		if keep(&b.entry, b.at) {
			hits = append(hits, b)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].at.Equal(hits[j].at) {
			return hits[i].at.Before(hits[j].at)
		}
		return hits[i].entry.AuditID < hits[j].entry.AuditID
	})
	return hits
}

func page(entries []store.Entry, offset, limit int) []store.Entry {
	if offset > 0 {
		if offset >= len(entries) {
			return []store.Entry{}
		}
		entries = entries[offset:]
	}
	if limit > 0 && limit < len(entries) {
		entries = entries[:limit]
	}
	return entries
}

// Incidents lists incidents, most severe first, then by start time.
func (s *Store) Incidents(_ context.Context, q store.IncidentQuery) ([]incident.Incident, error) {
	s.mu.RLock()
	out := make([]incident.Incident, 0, len(s.incidents))
	for _, inc := range s.incidents {
		if q.IncidentMatches(&inc) {
			out = append(out, inc)
		}
	}
	s.mu.RUnlock()
	store.SortIncidents(out)
	if q.Limit > 0 && q.Limit < len(out) {
		out = out[:q.Limit]
	}
	return out, nil
}

// Incident returns one incident with its findings and every request of its
// actors (as user or impersonated user) over its span.
func (s *Store) Incident(_ context.Context, id string) (*store.IncidentDetail, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	inc, ok := s.incidents[id]
	if !ok {
		return nil, fmt.Errorf("incident %s: %w", id, store.ErrNotFound)
	}
	ids := make(map[string]bool, len(inc.Findings))
	for _, a := range inc.Findings {
		ids[a] = true
	}
	d := &store.IncidentDetail{Incident: inc, Findings: []detect.Finding{}}
	for _, f := range s.findings {
		if ids[f.AuditID] {
			d.Findings = append(d.Findings, f)
		}
	}
	incident.SortFindings(d.Findings)
	actors := make(map[string]bool, len(inc.Actors))
	for _, a := range inc.Actors {
		actors[a] = true
	}
	d.Timeline = s.match(func(e *store.Entry, at time.Time) bool {
		if !actors[e.User] && !(e.ImpersonatedUser != "" && actors[e.ImpersonatedUser]) {
			return false
		}
		return !at.Before(inc.StartTime) && !at.After(inc.EndTime)
	})
	return d, nil
}

// Event returns the redacted JSON of every stored stage of a request, in
// stage order.
func (s *Store) Event(_ context.Context, auditID string) ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.requests[auditID]
	if r == nil {
		return nil, fmt.Errorf("event %s: %w", auditID, store.ErrNotFound)
	}
	sts := make([]*stage, 0, len(r.stages))
	for _, st := range r.stages {
		sts = append(sts, st)
	}
	sort.Slice(sts, func(i, j int) bool {
		if sts[i].rank != sts[j].rank {
			return sts[i].rank < sts[j].rank
		}
		return sts[i].entry.Stage < sts[j].entry.Stage
	})
	out := make([][]byte, len(sts))
	for i, st := range sts {
		out[i] = st.raw
	}
	return out, nil
}

// Findings returns the findings on the given requests, each once.
func (s *Store) Findings(_ context.Context, auditIDs []string) ([]detect.Finding, error) {
	ids := make(map[string]bool, len(auditIDs))
	for _, id := range auditIDs {
		ids[id] = true
	}
	out := []detect.Finding{}
	s.mu.RLock()
	for _, f := range s.findings {
		if ids[f.AuditID] {
			out = append(out, f)
		}
	}
	s.mu.RUnlock()
	incident.SortFindings(out)
	return out, nil
}

// ObjectBefore returns the object as the latest request on it before t
// showed it, looking at the store.VersionCandidates latest requests that
// can show it, as ClickHouse does.
func (s *Store) ObjectBefore(_ context.Context, ref store.ObjectRef, t time.Time) (*store.ObjectVersion, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cands := s.matchStages(func(e *store.Entry, at time.Time) bool {
		return at.Before(t) && ref.MatchesRef(e) && store.ShowsObject(e.Verb, e.Subresource, e.Code)
	})
	for i := len(cands) - 1; i >= 0 && i >= len(cands)-store.VersionCandidates; i-- {
		if v := store.NewObjectVersion(&cands[i].entry, cands[i].raw); v != nil {
			return v, nil
		}
	}
	return nil, fmt.Errorf("object %s %s/%s before %s: %w", ref.Resource, ref.Namespace, ref.Name, t.Format(time.RFC3339), store.ErrNotFound)
}

// Span returns the times of the first and last stored request.
func (s *Store) Span(_ context.Context) (first, last time.Time, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.requests {
		at := r.best().at
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	return first, last, nil
}

// Close releases nothing: the store lives as long as the process.
func (s *Store) Close() error { return nil }

// LearnBaseline learns, from the stored events of [since, until], what
// each actor did (store.BaselineReader).
func (s *Store) LearnBaseline(_ context.Context, b *baseline.Baseline, since, until time.Time) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, 0, len(s.requests))
	for id := range s.requests {
		ids = append(ids, id)
	}
	sort.Strings(ids) // the same store always learns the same baseline
	for _, id := range ids {
		for _, st := range s.requests[id].stages {
			if (!since.IsZero() && st.at.Before(since)) || (!until.IsZero() && st.at.After(until)) {
				continue
			}
			ev, err := ingest.DecodeEvent(st.raw)
			if err != nil {
				return fmt.Errorf("memory store: stored event %s: %w", id, err)
			}
			b.LearnEvent(ev)
		}
	}
	return nil
}
