// Package pipeline is the one path every audit event takes, whatever its
// source: decode (in ingest) → redact → detect → correlate → sinks. Replay of
// files and live ingest from the webhook or Kafka run this same code, so a
// finding found live is found again by replaying the same log.
package pipeline

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/redact"
)

// Sink receives what the pipeline produced from one batch: every event
// (redacted, all stages) and the findings among them. A store is a sink.
type Sink interface {
	Write(ctx context.Context, events []ingest.Record, findings []detect.Finding) error
}

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

// Pipeline runs batches through redaction, detection and correlation and
// hands the results to its sinks. Process may be called from several
// goroutines; batches are judged one at a time because sequence rules and
// correlation keep state.
type Pipeline struct {
	redactor   *redact.Redactor
	engine     *detect.Engine
	correlator *incident.Correlator
	sinks      []Sink

	mu    sync.Mutex
	stats Stats
}

// New assembles a pipeline. sinks may be empty (replay to stdout only).
func New(r *redact.Redactor, e *detect.Engine, c *incident.Correlator, sinks ...Sink) *Pipeline {
	return &Pipeline{redactor: r, engine: e, correlator: c, sinks: sinks, stats: Stats{Type: "summary", ByRule: map[string]int{}}}
}

// Prepare redacts one record. It is safe for concurrent use, so sources
// call it from their decoding workers (ingest.FileReader.Prepare).
func (p *Pipeline) Prepare(rec *ingest.Record) {
	if rec.Redacted {
		return
	}
	p.redactor.Redact(rec.Event)
	rec.Redacted = true
}

// Process runs one batch through the pipeline and returns its findings. Bad
// inputs are only counted here; reporting them is the source's business.
// A sink error is returned after every sink was tried: the caller (a
// webhook handler, a Kafka consumer) decides to retry or spool.
func (p *Pipeline) Process(ctx context.Context, b ingest.Batch) ([]detect.Finding, error) {
	for i := range b.Records {
		p.Prepare(&b.Records[i])
	}
	p.mu.Lock()
	var findings []detect.Finding
	var evalErr error
	for _, rec := range b.Records {
		fs, judged, err := p.engine.Evaluate(rec.Event, rec.Location)
		if err != nil && evalErr == nil {
			evalErr = err
		}
		if judged {
			p.correlator.Observe(rec.Event)
		}
		findings = append(findings, fs...)
	}
	// A batch delivered again (a retry whose answer was lost, a Kafka
	// redelivery) yields its findings again: sinks get them again, since the
	// first delivery may never have reached the store, while counts and
	// incidents take each finding once.
	added := p.correlator.Add(findings...)
	p.stats.Events += len(b.Records)
	p.stats.BadLines += len(b.Bad)
	p.stats.Findings += len(added)
	for _, f := range added {
		p.stats.ByRule[f.Rule]++
	}
	p.mu.Unlock()
	if evalErr != nil {
		// A rule that fails at run time (a type it did not expect) must not
		// cost the event: it is stored, and the error reported.
		evalErr = fmt.Errorf("detect: %w", evalErr)
	}
	var sinkErr error
	for _, s := range p.sinks {
		if err := s.Write(ctx, b.Records, findings); err != nil && sinkErr == nil {
			sinkErr = err
		}
	}
	if sinkErr != nil {
		return findings, sinkErr
	}
	return findings, evalErr
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

// Incidents builds the incidents from everything processed so far.
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

// RuleIDs returns the ids in by_rule, sorted (text output lists them).
func (s Stats) RuleIDs() []string {
	ids := make([]string, 0, len(s.ByRule))
	for k := range s.ByRule {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	return ids
}
