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
	copies := !s.serverCopies()
	for _, i := range eventsOrder(rows) {
		r := &rows[i]
		v := version(r.Stage, now)
		b.addRequest(copies, r.ImpersonatedUser, r.SourceIPs, func(c *eventCols) { c.addRow(r, v) })
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
//
// Users are ranked first and rows sorted by rank: a flush holds few
// distinct users (controllers, nodes), whose names are long and share
// their heads (system:serviceaccount:…, system:node:…), and comparing
// them was most of the sort, 2.5% of kaudit's CPU under load.
func eventsOrder(rows []store.Row) []int32 {
	type key struct {
		user int32 // the rank of the row's user, once ranked
		i    int32
		us   int64
	}
	keys := make([]key, len(rows))
	seen := make(map[string]int32) // user -> index in users
	var users []string
	for i := range rows {
		r := &rows[i]
		u, ok := seen[r.User]
		if !ok {
			u = int32(len(users))
			seen[r.User] = u
			users = append(users, r.User)
		}
		keys[i] = key{user: u, i: int32(i), us: r.At.UnixMicro()}
	}
	byName := make([]int32, len(users))
	for j := range byName {
		byName[j] = int32(j)
	}
	slices.SortFunc(byName, func(a, b int32) int { return strings.Compare(users[a], users[b]) })
	rank := make([]int32, len(users))
	for r, u := range byName {
		rank[u] = int32(r)
	}
	for j := range keys {
		keys[j].user = rank[keys[j].user]
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.user, b.user); c != 0 {
			return c
		}
		if c := cmp.Compare(a.us, b.us); c != 0 {
			return c
		}
		ra, rb := &rows[a.i], &rows[b.i]
		if c := strings.Compare(ra.AuditID, rb.AuditID); c != 0 {
			return c
		}
		return strings.Compare(ra.Stage, rb.Stage)
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
