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
	"github.com/kaudit/kaudit/detect/baseline"
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
	// Findings returns the findings on the given requests, each once, in
	// the order of incident.SortFindings.
	Findings(ctx context.Context, auditIDs []string) ([]detect.Finding, error)
	// ObjectBefore returns the object as the latest stored request before
	// t showed it (see ObjectOf): the "before" of an update or a patch.
	// ErrNotFound when no stored request shows it.
	ObjectBefore(ctx context.Context, ref ObjectRef, t time.Time) (*ObjectVersion, error)
	// Span returns the request times of the first and the last stored
	// request (zero times when the store holds none), so that an empty
	// answer can say which times the store covers.
	Span(ctx context.Context) (first, last time.Time, err error)
}

// BaselineReader learns a baseline from the stored events of a window:
// every allowed request of every actor, at the stage detection judges.
// kaudit serve rebuilds its baseline this way, so that a restart loses
// nothing of it.
type BaselineReader interface {
	LearnBaseline(ctx context.Context, b *baseline.Baseline, since, until time.Time) error
}

// Store is both sides of one store, the notifications' outbox, and its
// lifetime.
type Store interface {
	Writer
	Reader
	Outbox
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
	// Terms are search words (ParseTerms): substrings and globs over the
	// actor, object, client and request URI, or words to leave out. Every
	// term must pass.
	Terms []Term
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
	// Findings are the rules that fired on the request, when the reader
	// asked for them (AnnotateFindings); the stores' Timeline leaves them
	// empty.
	Findings []EntryFinding `json:"findings,omitempty"`
}

// EntryFinding is a finding as a timeline shows it beside its request.
type EntryFinding struct {
	Rule        string `json:"rule"`
	Severity    string `json:"severity"`
	Title       string `json:"title"`
	TechniqueID string `json:"technique_id"`
}

// IncidentQuery selects incidents. Empty fields do not filter.
type IncidentQuery struct {
	Actor string
	// AuditID keeps the incidents holding a finding on this request.
	AuditID     string
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
