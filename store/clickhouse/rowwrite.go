package clickhouse

import (
	"context"
	"fmt"
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
	for i := range rows {
		r := &rows[i]
		v := version(r.Stage, now)
		b.ev.addRow(r, v)
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
