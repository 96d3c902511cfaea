package clickhouse

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/store"
)

// eventCols holds event rows column by column: clickhouse-go appends whole
// columns far faster than rows, and a failed batch is re-sent from here.
type eventCols struct {
	ts                                          []time.Time
	timeUs                                      []int64
	auditID, stage, user                        []string
	groups                                      [][]string
	impersonated                                []string
	sourceIPs                                   [][]string
	userAgent, verb, apiGroup, resource, subres []string
	namespace, name                             []string
	code                                        []int32
	requestURI, decision, location, event       []string
	version                                     []uint64
	bytes                                       int
}

const eventColumns = "ts, time_us, audit_id, stage, user, groups, impersonated_user, source_ips, user_agent, verb, api_group, resource, subresource, namespace, name, code, request_uri, decision, location, event, version"

// narrowColumns are the columns of events_impersonated and
// events_by_object: those of events without the JSON.
const narrowColumns = "ts, time_us, audit_id, stage, user, groups, impersonated_user, source_ips, user_agent, verb, api_group, resource, subresource, namespace, name, code, request_uri, decision, location, version"

// indexColumns are the columns of event_index.
const indexColumns = "ts, time_us, audit_id, stage, user, version"

func (c *eventCols) index() []any {
	return []any{c.ts, c.timeUs, c.auditID, c.stage, c.user, c.version}
}

func (c *eventCols) len() int { return len(c.auditID) }

// reset empties the columns for reuse by the next batch, keeping their
// capacity and dropping their references to the last batch's strings.
func (c *eventCols) reset() {
	clear(c.auditID)
	clear(c.stage)
	clear(c.user)
	clear(c.groups)
	clear(c.impersonated)
	clear(c.sourceIPs)
	clear(c.userAgent)
	clear(c.verb)
	clear(c.apiGroup)
	clear(c.resource)
	clear(c.subres)
	clear(c.namespace)
	clear(c.name)
	clear(c.requestURI)
	clear(c.decision)
	clear(c.location)
	clear(c.event)
	*c = eventCols{
		ts: c.ts[:0], timeUs: c.timeUs[:0], auditID: c.auditID[:0], stage: c.stage[:0], user: c.user[:0],
		groups: c.groups[:0], impersonated: c.impersonated[:0], sourceIPs: c.sourceIPs[:0], userAgent: c.userAgent[:0],
		verb: c.verb[:0], apiGroup: c.apiGroup[:0], resource: c.resource[:0], subres: c.subres[:0],
		namespace: c.namespace[:0], name: c.name[:0], code: c.code[:0], requestURI: c.requestURI[:0],
		decision: c.decision[:0], location: c.location[:0], event: c.event[:0], version: c.version[:0],
	}
}

// narrow are the columns of events_impersonated and events_by_object.
func (c *eventCols) narrow() []any {
	return []any{c.ts, c.timeUs, c.auditID, c.stage, c.user, c.groups, c.impersonated, c.sourceIPs, c.userAgent,
		c.verb, c.apiGroup, c.resource, c.subres, c.namespace, c.name, c.code, c.requestURI, c.decision, c.location, c.version}
}

func (c *eventCols) columns() []any {
	return []any{c.ts, c.timeUs, c.auditID, c.stage, c.user, c.groups, c.impersonated, c.sourceIPs, c.userAgent,
		c.verb, c.apiGroup, c.resource, c.subres, c.namespace, c.name, c.code, c.requestURI, c.decision, c.location, c.event, c.version}
}

// eventRow is one converted event before it joins a batch.
type eventRow struct {
	e    store.Entry
	at   time.Time
	raw  []byte
	vers uint64
}

// version orders the rows of one request: the stage rank in the top byte
// (queries pick the most telling stage with argMax(column, version)), then
// the write time in microseconds (the latest duplicate wins, in queries
// before a merge as in ReplacingMergeTree after it).
func version(stage string, now time.Time) uint64 {
	return uint64(store.StageRank(stage))<<56 | uint64(now.UnixMicro())&(1<<56-1)
}

// convert marshals the redacted events to JSON and extracts their columns,
// on several cores for large batches: marshaling is the costly part of a
// write.
func convert(events []ingest.Record, now time.Time) ([]eventRow, error) {
	rows := make([]eventRow, len(events))
	errs := make([]error, len(events))
	// One Renderer per goroutine: it marshals events faster than Marshal
	// (store.Renderer), into a buffer each row then copies.
	one := func(i int, r *store.Renderer) {
		rec := &events[i]
		if rec.Event == nil {
			return
		}
		raw, err := r.JSON(rec.Event)
		if err != nil {
			errs[i] = err
			return
		}
		raw = bytes.Clone(raw)
		e := store.EntryOf(rec)
		rows[i] = eventRow{e: e, at: detect.EventTime(rec.Event), raw: raw, vers: version(e.Stage, now)}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(events) < 256 || workers == 1 {
		r := store.NewRenderer()
		for i := range events {
			one(i, r)
		}
	} else {
		var wg sync.WaitGroup
		chunk := (len(events) + workers - 1) / workers
		for lo := 0; lo < len(events); lo += chunk {
			hi := min(lo+chunk, len(events))
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := store.NewRenderer()
				for i := lo; i < hi; i++ {
					one(i, r)
				}
			}()
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := rows[:0]
	for _, r := range rows {
		if r.raw != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *eventCols) add(r *eventRow) {
	e := &r.e
	c.ts = append(c.ts, dateTime(r.at))
	c.timeUs = append(c.timeUs, r.at.UnixMicro())
	c.auditID = append(c.auditID, e.AuditID)
	c.stage = append(c.stage, e.Stage)
	c.user = append(c.user, e.User)
	c.groups = append(c.groups, e.Groups)
	c.impersonated = append(c.impersonated, e.ImpersonatedUser)
	c.sourceIPs = append(c.sourceIPs, e.SourceIPs)
	c.userAgent = append(c.userAgent, e.UserAgent)
	c.verb = append(c.verb, e.Verb)
	c.apiGroup = append(c.apiGroup, e.APIGroup)
	c.resource = append(c.resource, e.Resource)
	c.subres = append(c.subres, e.Subresource)
	c.namespace = append(c.namespace, e.Namespace)
	c.name = append(c.name, e.Name)
	c.code = append(c.code, int32(e.Code))
	c.requestURI = append(c.requestURI, e.RequestURI)
	c.decision = append(c.decision, e.Decision)
	c.location = append(c.location, e.Location)
	// The JSON is never modified after marshaling: share its bytes rather
	// than copy a whole batch of events once more.
	c.event = append(c.event, unsafe.String(unsafe.SliceData(r.raw), len(r.raw)))
	c.version = append(c.version, r.vers)
	c.bytes += len(r.raw)
}

// findingCols holds finding rows column by column.
type findingCols struct {
	ts                                    []time.Time
	timeUs                                []int64
	auditID, stage, rule, severity, actor []string
	finding                               []string
	version                               []uint64
}

const findingColumns = "ts, time_us, audit_id, stage, rule, severity, actor, finding, version"

func (c *findingCols) len() int { return len(c.auditID) }

func (c *findingCols) columns() []any {
	return []any{c.ts, c.timeUs, c.auditID, c.stage, c.rule, c.severity, c.actor, c.finding, c.version}
}

func (c *findingCols) add(f *detect.Finding, now time.Time) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("marshal finding %s/%s: %w", f.AuditID, f.Rule, err)
	}
	at := f.At
	if at.IsZero() {
		if at, err = detect.ParseTime(f.Time); err != nil {
			return fmt.Errorf("finding %s/%s: %w", f.AuditID, f.Rule, err)
		}
	}
	c.ts = append(c.ts, dateTime(at))
	c.timeUs = append(c.timeUs, at.UnixMicro())
	c.auditID = append(c.auditID, f.AuditID)
	c.stage = append(c.stage, f.Stage)
	c.rule = append(c.rule, f.Rule)
	c.severity = append(c.severity, f.Severity)
	c.actor = append(c.actor, f.Actor())
	c.finding = append(c.finding, string(raw))
	c.version = append(c.version, uint64(now.UnixMicro()))
	return nil
}

// incidentCols holds incident rows column by column.
type incidentCols struct {
	start    []time.Time
	id       []string
	severity []string
	actors   [][]string
	incident []string
	version  []uint64
}

const incidentColumns = "start, id, severity, actors, incident, version"

func (c *incidentCols) columns() []any {
	return []any{c.start, c.id, c.severity, c.actors, c.incident, c.version}
}

func (c *incidentCols) add(inc *incident.Incident, now time.Time) error {
	raw, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("marshal incident %s: %w", inc.ID, err)
	}
	start := inc.StartTime
	if start.IsZero() {
		if start, err = detect.ParseTime(inc.Start); err != nil {
			return fmt.Errorf("incident %s: %w", inc.ID, err)
		}
	}
	c.start = append(c.start, dateTime(start))
	c.id = append(c.id, inc.ID)
	c.severity = append(c.severity, inc.Severity)
	actors := inc.Actors
	if actors == nil {
		actors = []string{}
	}
	c.actors = append(c.actors, actors)
	c.incident = append(c.incident, string(raw))
	c.version = append(c.version, uint64(now.UnixMicro()))
	return nil
}
