package store

import (
	"slices"
	"sort"
	"strings"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/ingest"
)

// StageRank orders an event's stages by how much they tell about the
// request: a timeline shows one entry per request, the stage of highest
// rank (ResponseComplete or Panic, else ResponseStarted for a long-running
// request that never completed, else what there is). Every implementation
// picks the same stage, so the in-memory store and ClickHouse give the same
// timeline.
func StageRank(stage string) int {
	switch auditv1.Stage(stage) {
	case auditv1.StageRequestReceived:
		return 1
	case auditv1.StageResponseStarted:
		return 2
	case auditv1.StageResponseComplete:
		return 3
	case auditv1.StagePanic:
		return 4
	}
	return 0
}

// EntryOf reduces a record to its timeline entry: who, from where, what
// verb on which object, with which outcome.
func EntryOf(rec *ingest.Record) Entry {
	r := columnsOf(rec)
	return r.Entry()
}

// Derive sets the fields an entry derives from its others (Actor, Denied),
// the same way in every store.
func (e *Entry) Derive() {
	e.Actor = detect.Actor(e.User, e.ImpersonatedUser)
	e.Denied = detect.Denied(e.Code, e.Decision)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Matches reports whether an entry passes the query's filters, other than
// the time window, limit and offset (which need the parsed time). Both
// stores apply the same rules; ClickHouse does so in SQL.
func (q *Query) Matches(e *Entry) bool {
	if q.Actor != "" && e.User != q.Actor && e.ImpersonatedUser != q.Actor {
		return false
	}
	if q.SourceIP != "" && !slices.Contains(e.SourceIPs, q.SourceIP) {
		return false
	}
	if q.Namespace != "" && e.Namespace != q.Namespace {
		return false
	}
	if q.Resource != "" && e.Resource != q.Resource {
		return false
	}
	if q.Name != "" && e.Name != q.Name {
		return false
	}
	if q.Verb != "" && e.Verb != q.Verb {
		return false
	}
	if q.AuditID != "" && e.AuditID != q.AuditID {
		return false
	}
	for _, t := range q.Terms {
		if !t.Matches(e) {
			return false
		}
	}
	return true
}

// SortIncidents puts incidents in the order Incidents returns them: most
// severe first, then by start time, then by id.
func SortIncidents(incs []incident.Incident) {
	sort.SliceStable(incs, func(i, j int) bool {
		a, b := &incs[i], &incs[j]
		ra, rb := rulefile.SeverityRank(a.Severity), rulefile.SeverityRank(b.Severity)
		if ra != rb {
			return ra > rb
		}
		if !a.StartTime.Equal(b.StartTime) {
			return a.StartTime.Before(b.StartTime)
		}
		return strings.Compare(a.ID, b.ID) < 0
	})
}

// IncidentMatches reports whether an incident passes the query's filters
// other than its limit: an actor among its actors, a severity at or above
// MinSeverity, and a span that overlaps [Since, Until].
func (q *IncidentQuery) IncidentMatches(inc *incident.Incident) bool {
	if q.Actor != "" && !slices.Contains(inc.Actors, q.Actor) {
		return false
	}
	if q.AuditID != "" && !slices.Contains(inc.Findings, q.AuditID) {
		return false
	}
	if q.MinSeverity != "" && rulefile.SeverityRank(inc.Severity) < rulefile.SeverityRank(q.MinSeverity) {
		return false
	}
	if !q.Since.IsZero() && inc.EndTime.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && inc.StartTime.After(q.Until) {
		return false
	}
	return true
}

// InWindow reports whether t lies in the query's time window, both ends
// included (an incident's timeline ends at its last finding).
func (q *Query) InWindow(t time.Time) bool {
	if !q.Since.IsZero() && t.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && t.After(q.Until) {
		return false
	}
	return true
}
