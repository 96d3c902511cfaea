// Package store keeps every audit event, finding and incident, and answers
// the analyst's queries over them: one actor's timeline, one object's
// history, one source's requests, incidents. Two implementations share the
// Store interface: ClickHouse (store/clickhouse) for production, and an
// in-memory store (store/memory) for replay and `kaudit timeline PATH...`
// on a workstation with nothing installed.
//
// Writers (package live) see only Writer, readers (package investigate, the
// query commands) only Reader. The package may import ingest and detect;
// nothing above them.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
)

// Writer is what judged batches and incidents are written to.
type Writer interface {
	// Write stores a batch of events (every stage, redacted) and their
	// findings. An event's identity is (auditID, stage): writing the same
	// event twice shows it once in every query.
	Write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error
	// WriteIncidents stores incidents, replacing earlier versions by id.
	WriteIncidents(ctx context.Context, incidents []incident.Incident) error
}

// Reader answers the analyst's queries: the query commands, the query API
// and the web view read through it.
type Reader interface {
	// Timeline lists requests (one entry per request, not per stage) in
	// time order.
	Timeline(ctx context.Context, q Query) ([]Entry, error)
	// Incidents lists incidents, most severe first, then by start time.
	Incidents(ctx context.Context, q IncidentQuery) ([]incident.Incident, error)
	// Incident returns one incident with its findings and the full timeline
	// of its actors over its span; ErrNotFound when there is none.
	Incident(ctx context.Context, id string) (*IncidentDetail, error)
	// Event returns the stored (redacted) JSON of every stage of a request.
	Event(ctx context.Context, auditID string) ([][]byte, error)
}

// Store is both sides of one store, and its lifetime.
type Store interface {
	Writer
	Reader
	// Close flushes pending writes and releases the store.
	Close() error
}

// Query selects timeline entries. Empty fields do not filter.
type Query struct {
	// Actor matches the user or the impersonated user.
	Actor     string
	SourceIP  string
	Namespace string
	Resource  string
	Name      string
	Verb      string
	AuditID   string
	Since     time.Time
	Until     time.Time
	// Limit caps the entries returned (0: the implementation's default).
	Limit int
	// Offset skips entries, for paging. Deep offsets cost the store more
	// than the page: After is the way to page far.
	Offset int
	// After, when set, starts the timeline after that entry (keyset
	// paging): the next page costs what the first did, however deep.
	After *Cursor
}

// Cursor is a position in a timeline: the time (unix microseconds) and
// audit id of an entry. Timelines are ordered by both.
type Cursor struct {
	TimeUs  int64
	AuditID string
}

// CursorOf is the position of an entry (the last of a page).
func CursorOf(e *Entry) (Cursor, error) {
	t, err := detect.ParseTime(e.Time)
	if err != nil {
		return Cursor{}, err
	}
	return Cursor{TimeUs: t.UnixMicro(), AuditID: e.AuditID}, nil
}

// Before reports whether the request at time t with audit id id comes
// before or at the cursor, so that a page After it leaves it out.
func (c *Cursor) Before(t time.Time, id string) bool {
	us := t.UnixMicro()
	return us < c.TimeUs || us == c.TimeUs && id <= c.AuditID
}

// ErrQueryLimit is returned when a query needs more than the store allows
// one analyst query (memory, time, rows read): the analyst narrows the
// window or adds a filter.
var ErrQueryLimit = errors.New("the query needs more than the store allows one query")

// Entry is one request in a timeline. Its JSON form is an interface
// (`kaudit timeline --format json`): fields may be added, never renamed.
type Entry struct {
	Time    string `json:"time"`
	AuditID string `json:"audit_id"`
	// Actor is who the request is about: the impersonated user, else the
	// user (detect.Actor).
	Actor            string   `json:"actor"`
	Stage            string   `json:"stage"`
	User             string   `json:"user"`
	Groups           []string `json:"groups"`
	ImpersonatedUser string   `json:"impersonated_user"`
	SourceIPs        []string `json:"source_ips"`
	UserAgent        string   `json:"user_agent"`
	Verb             string   `json:"verb"`
	APIGroup         string   `json:"api_group"`
	Resource         string   `json:"resource"`
	Subresource      string   `json:"subresource"`
	Namespace        string   `json:"namespace"`
	Name             string   `json:"name"`
	Code             int      `json:"code"`
	RequestURI       string   `json:"request_uri"`
	Decision         string   `json:"decision"`
	// Denied says the cluster refused the request (detect.Denied).
	Denied   bool   `json:"denied"`
	Location string `json:"location"`
}

// IncidentQuery selects incidents. Empty fields do not filter.
type IncidentQuery struct {
	Actor       string
	MinSeverity string
	Since       time.Time
	Until       time.Time
	Limit       int
}

// IncidentDetail is one incident with what an analyst opens it for.
type IncidentDetail struct {
	Incident incident.Incident `json:"incident"`
	Findings []detect.Finding  `json:"findings"`
	Timeline []Entry           `json:"timeline"`
}

// ErrNotFound is returned for an incident or event id the store does not hold.
var ErrNotFound = errors.New("not found")
