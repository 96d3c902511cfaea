// Package pipeline judges audit events: redact → detect → correlate. It is
// the one path every event takes, whatever its source: replay of files, the
// webhook and Kafka hand it the same ingest.Batch, so a finding found live
// is found again by replaying the same log.
//
// The pipeline writes nothing. What becomes of a judged batch (stored,
// spooled, printed) is its caller's business (package live); incidents are
// read from it by live.Publisher.
//
// It may import ingest, redact and detect; nothing above them.
package pipeline

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/redact"
)

// Stats counts what went through the pipeline. Its JSON form is the
// "summary" object of replay output.
type Stats struct {
	Type      string         `json:"type"` // always "summary"
	Events    int            `json:"events"`
	BadLines  int            `json:"bad_lines"`
	Findings  int            `json:"findings"`
	Incidents int            `json:"incidents"`
	ByRule    map[string]int `json:"by_rule"`
	Inputs    int            `json:"inputs"`
}

// Pipeline redacts, detects and correlates batches. Judge may be called
// from several goroutines; batches are judged one at a time because
// sequence rules and correlation keep state.
type Pipeline struct {
	redactor   *redact.Redactor
	engine     *detect.Engine
	correlator *incident.Correlator

	mu    sync.Mutex
	stats Stats
}

// New assembles a pipeline.
func New(r *redact.Redactor, e *detect.Engine, c *incident.Correlator) *Pipeline {
	return &Pipeline{redactor: r, engine: e, correlator: c, stats: Stats{Type: "summary", ByRule: map[string]int{}}}
}

// Prepare redacts one record and parses the bodies rules will read
// (detect.Engine.Parse). It is safe for concurrent use, so sources call it
// from their decoding workers (ingest.FileReader.Prepare), and Judge from
// the caller's goroutine, before it takes its lock.
func (p *Pipeline) Prepare(rec *ingest.Record) {
	p.redactor.Record(rec)
	if rec.Parsed == nil && rec.Event != nil {
		if parsed := p.engine.Parse(rec.Event); parsed != nil {
			rec.Parsed = parsed
		}
	}
}

// Judge redacts the batch's records in place, runs the rules on them and
// hands them to the correlator; it returns the batch's findings. Bad inputs
// are only counted here; reporting them is the source's business.
//
// A batch delivered again (a retry whose answer was lost, a Kafka
// redelivery) yields its findings again, since the first delivery may never
// have reached the store, while counts and incidents take each finding once.
//
// The error is a rule failing at run time: the batch is judged all the same
// by every other rule, and its events must still be kept.
func (p *Pipeline) Judge(b ingest.Batch) ([]detect.Finding, error) {
	for i := range b.Records {
		p.Prepare(&b.Records[i])
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var findings []detect.Finding
	var evalErr error
	for i := range b.Records {
		rec := &b.Records[i]
		parsed, _ := rec.Parsed.(*detect.Parsed)
		rec.Parsed = nil // judged once: its maps need not outlive the batch
		fs, judged, err := p.engine.EvaluateParsed(rec.Event, parsed, rec.Location)
		if err != nil && evalErr == nil {
			evalErr = fmt.Errorf("detect: %w", err)
		}
		if judged {
			p.correlator.Observe(rec.Event)
		}
		findings = append(findings, fs...)
	}
	added := p.correlator.Add(findings...)
	p.stats.Events += len(b.Records)
	p.stats.BadLines += len(b.Bad)
	p.stats.Findings += len(added)
	for _, f := range added {
		p.stats.ByRule[f.Rule]++
	}
	return findings, evalErr
}

// SetHistory gives detection a baseline (detect.Engine.SetHistory); serve
// replaces it as it relearns, between batches.
func (p *Pipeline) SetHistory(h detect.History) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.engine.SetHistory(h)
}

// AddInputs counts inputs read (files, stdin).
func (p *Pipeline) AddInputs(n int) {
	p.mu.Lock()
	p.stats.Inputs += n
	p.mu.Unlock()
}

// Findings returns every finding so far, in output order.
func (p *Pipeline) Findings() []detect.Finding {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.correlator.Findings()
}

// Incidents builds the incidents from everything judged so far.
func (p *Pipeline) Incidents() []incident.Incident {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.correlator.Incidents()
}

// Stats returns a copy of the counters, with incidents counted as given.
func (p *Pipeline) Stats(incidents int) Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Incidents = incidents
	s.ByRule = make(map[string]int, len(p.stats.ByRule))
	for k, v := range p.stats.ByRule {
		s.ByRule[k] = v
	}
	return s
}

// Sync is a no-op: the pipeline's correlator is always up to date. With
// Seen, Prune and Incidents it makes the pipeline a live.IncidentSource.
func (p *Pipeline) Sync(context.Context) error { return nil }

// Seen counts the findings and events judged so far (live.IncidentSource).
func (p *Pipeline) Seen() (findings, events int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats.Findings, p.stats.Events
}

// Prune bounds the correlation state of a long-running pipeline (kaudit
// serve): see incident.Limits; now is the receiver's clock.
func (p *Pipeline) Prune(l incident.Limits, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.correlator.Prune(l, now)
}

// CorrelatorSize reports the findings, requests and links the correlator
// holds, for metrics.
func (p *Pipeline) CorrelatorSize() (findings, touches, links int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.correlator.Size()
}

// RuleIDs returns the ids in by_rule, sorted (text output lists them).
func (s Stats) RuleIDs() []string {
	ids := make([]string, 0, len(s.ByRule))
	for k := range s.ByRule {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	return ids
}
