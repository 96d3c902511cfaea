package store

import (
	"context"
	"fmt"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
)

// Row is an event as a store keeps it: the columns queries filter on and
// the redacted event as JSON. It is rendered once, where the event is
// judged (Renderer), so that a write-ahead log can hold rows and its flusher
// can hand them to the store without decoding and encoding every event
// again: on the webhook path that round trip cost more than the insert.
type Row struct {
	// At is when the request was received (detect.EventTime).
	At                                                                time.Time
	AuditID, Stage, User                                              string
	Groups                                                            []string
	ImpersonatedUser                                                  string
	SourceIPs                                                         []string
	UserAgent, Verb, APIGroup, Resource, Subresource, Namespace, Name string
	Code                                                              int32
	RequestURI, Decision, Location                                    string
	// JSON is the redacted event, as Event returns it.
	JSON []byte
}

// RowWriter is a store that takes rendered rows (ClickHouse). The live
// acceptor spools rows and writes them through it.
type RowWriter interface {
	// WriteRows stores rows and their findings; like Write, writing a row
	// twice shows it once.
	WriteRows(ctx context.Context, rows []Row, findings []detect.Finding) error
}

// columnsOf reads a record's columns: the one place an event's fields are
// mapped to what stores keep (Renderer, EntryOf).
func columnsOf(rec *ingest.Record) Row {
	ev := rec.Event
	r := Row{
		At:         detect.EventTime(ev),
		AuditID:    string(ev.AuditID),
		Stage:      string(ev.Stage),
		User:       ev.User.Username,
		Groups:     nonNil(ev.User.Groups),
		SourceIPs:  nonNil(ev.SourceIPs),
		UserAgent:  ev.UserAgent,
		Verb:       ev.Verb,
		RequestURI: ev.RequestURI,
		Decision:   ev.Annotations["authorization.k8s.io/decision"],
		Location:   rec.Location,
	}
	if iu := ev.ImpersonatedUser; iu != nil {
		r.ImpersonatedUser = iu.Username
	}
	if ref := ev.ObjectRef; ref != nil {
		r.APIGroup, r.Resource, r.Subresource = ref.APIGroup, ref.Resource, ref.Subresource
		r.Namespace, r.Name = ref.Namespace, ref.Name
	}
	if ev.ResponseStatus != nil {
		r.Code = ev.ResponseStatus.Code
	}
	return r
}

// WriteRows stores rows through the store behind, when it takes rows
// (RowWriter); until the store opened it fails with ErrNotOpen, like Write.
func (l *Lazy) WriteRows(ctx context.Context, rows []Row, findings []detect.Finding) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	rw, ok := st.(RowWriter)
	if !ok {
		return fmt.Errorf("store %T does not take rendered rows", st)
	}
	return rw.WriteRows(ctx, rows, findings)
}

// Entry is the row's timeline entry, as EntryOf gives for its record.
func (r *Row) Entry() Entry {
	e := Entry{
		Time: r.At.Format(detect.TimeFormat), AuditID: r.AuditID, Stage: r.Stage, User: r.User,
		Groups: nonNil(r.Groups), ImpersonatedUser: r.ImpersonatedUser, SourceIPs: nonNil(r.SourceIPs),
		UserAgent: r.UserAgent, Verb: r.Verb, APIGroup: r.APIGroup, Resource: r.Resource, Subresource: r.Subresource,
		Namespace: r.Namespace, Name: r.Name, Code: int(r.Code), RequestURI: r.RequestURI, Decision: r.Decision,
		Location: r.Location,
	}
	e.Derive()
	return e
}
