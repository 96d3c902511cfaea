package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/store"
)

var _ store.RowWriter = (*Store)(nil)

// WriteRows stores rendered rows and their findings now, in one INSERT per
// table, retried like a batch of Write (Config.RetryFor). It is the write
// of the spool's flusher, which gathers seconds of batches itself: the
// writer's own batching (BatchAge) would only add a wait.
func (s *Store) WriteRows(ctx context.Context, rows []store.Row, findings []detect.Finding) error {
	if len(rows) == 0 && len(findings) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	now := time.Now()
	w := s.w
	w.mu.Lock()
	b := &pending{first: now, done: make(chan struct{}), ev: w.takeSpare(), src: w.takeSpare()}
	w.mu.Unlock()
	serverCopies := s.serverCopies()
	for _, i := range eventsOrder(rows) {
		r := &rows[i]
		v := version(r.Stage, now)
		b.ev.addRow(r, v)
		if serverCopies {
			continue
		}
		if r.ImpersonatedUser != "" {
			b.imp.addRow(r, v)
		}
		for _, ip := range r.SourceIPs {
			b.src.addRow(r, v)
			b.srcIP = append(b.srcIP, ip)
		}
	}
	for i := range findings {
		if err := b.fi.add(&findings[i], now); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	err := w.send(b)
	w.mu.Lock()
	w.recycle(b)
	w.mu.Unlock()
	return err
}

// eventsOrder is the order of rows by the events table's sorting key
// (user, time_us, audit_id, stage), compared as ClickHouse compares them
// (strings byte by byte). ClickHouse sorts every part it writes by its
// key unless the block already is: sorted here, the server skips
// reordering the events' JSON, which, with the page faults of the copy it
// made, was a sixth of its CPU per event under load. A wrong order costs
// only that: the server sorts what is not sorted.
func eventsOrder(rows []store.Row) []int32 {
	type key struct {
		user, auditID, stage string
		us                   int64
		i                    int32
	}
	keys := make([]key, len(rows))
	for i := range rows {
		r := &rows[i]
		keys[i] = key{user: r.User, auditID: r.AuditID, stage: r.Stage, us: r.At.UnixMicro(), i: int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.user, b.user); c != 0 {
			return c
		}
		if c := cmp.Compare(a.us, b.us); c != 0 {
			return c
		}
		if c := strings.Compare(a.auditID, b.auditID); c != 0 {
			return c
		}
		return strings.Compare(a.stage, b.stage)
	})
	order := make([]int32, len(keys))
	for j := range keys {
		order[j] = keys[j].i
	}
	return order
}

// addRow appends a rendered row with its version.
func (c *eventCols) addRow(r *store.Row, vers uint64) {
	c.ts = append(c.ts, dateTime(r.At))
	c.timeUs = append(c.timeUs, r.At.UnixMicro())
	c.auditID = append(c.auditID, r.AuditID)
	c.stage = append(c.stage, r.Stage)
	c.user = append(c.user, r.User)
	c.groups = append(c.groups, r.Groups)
	c.impersonated = append(c.impersonated, r.ImpersonatedUser)
	c.sourceIPs = append(c.sourceIPs, r.SourceIPs)
	c.userAgent = append(c.userAgent, r.UserAgent)
	c.verb = append(c.verb, r.Verb)
	c.apiGroup = append(c.apiGroup, r.APIGroup)
	c.resource = append(c.resource, r.Resource)
	c.subres = append(c.subres, r.Subresource)
	c.namespace = append(c.namespace, r.Namespace)
	c.name = append(c.name, r.Name)
	c.code = append(c.code, r.Code)
	c.requestURI = append(c.requestURI, r.RequestURI)
	c.decision = append(c.decision, r.Decision)
	c.location = append(c.location, r.Location)
	// The row's JSON is not modified once rendered: share its bytes.
	c.event = append(c.event, unsafe.String(unsafe.SliceData(r.JSON), len(r.JSON)))
	c.version = append(c.version, vers)
	c.bytes += len(r.JSON)
}
