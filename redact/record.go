package redact

import "github.com/kaudit/kaudit/ingest"

// Record redacts one decoded record, once: a source may redact in its own
// decoding workers (the file reader does), and the record is then marked so
// that no later stage hashes the markers again.
func (r *Redactor) Record(rec *ingest.Record) {
	if rec.Redacted || rec.Event == nil {
		return
	}
	r.Redact(rec.Event)
	rec.Redacted = true
}
