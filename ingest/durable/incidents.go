package durable

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/store"
)

// DefaultLimits bound live correlation: incidents are rebuilt from the last
// two hours of event time, at most 5,000 findings, 10,000 requests per
// actor and 10,000 identity links (incident.Limits). Rebuilding all
// incidents is linear in those, and runs every Publisher.Every.
var DefaultLimits = incident.Limits{
	Window:             2 * time.Hour,
	MaxFindings:        5000,
	MaxTouchesPerActor: 10000,
	MaxLinks:           10000,
}

// IncidentSource is what a Publisher builds incidents from: the pipeline's
// own correlator (one kaudit sees every event), or kafka.Correlation, which
// reads the facts every consumer of a group publishes (each sees only its
// partitions' actors, and incidents join actors).
type IncidentSource interface {
	// Sync brings the source up to date before a rebuild (reads what other
	// consumers published); the pipeline is always up to date.
	Sync(ctx context.Context) error
	// Seen counts the findings and requests the source took so far; the
	// Publisher rebuilds when they moved.
	Seen() (findings, events int)
	// Prune bounds the source's state (see incident.Limits).
	Prune(incident.Limits)
	// Incidents builds the incidents from what the source holds.
	Incidents() []incident.Incident
}

// pipelineSource is the pipeline as an IncidentSource.
type pipelineSource struct{ p *pipeline.Pipeline }

func (s pipelineSource) Sync(context.Context) error { return nil }

func (s pipelineSource) Seen() (findings, events int) {
	st := s.p.Stats(0)
	return st.Findings, st.Events
}

func (s pipelineSource) Prune(l incident.Limits) { s.p.Prune(l) }

func (s pipelineSource) Incidents() []incident.Incident { return s.p.Incidents() }

// syncTimeout bounds one Sync: a source that cannot be read (Kafka down)
// costs a tick, not the publisher; the next tick goes on from there.
const syncTimeout = 30 * time.Second

// Publisher keeps the store's incidents current while kaudit serves: it
// rebuilds them from its source when findings arrived, writes those that
// changed, and prunes the source (and the pipeline's correlator) to Limits.
type Publisher struct {
	// Pipeline judges this kaudit's batches; its correlator is pruned on
	// every rebuild, and it is the source when Source is nil.
	Pipeline *pipeline.Pipeline
	// Source, when set, is where incidents come from instead of the
	// pipeline's correlator (kafka.Correlation under kafka.facts_topic).
	Source IncidentSource
	Store  store.Store
	// Every is how often incidents are rebuilt (default 2 s): the query API
	// shows a new incident within that, plus the store's write.
	Every  time.Duration
	Limits incident.Limits
	Logger *slog.Logger

	lastFindings int
	lastEvents   int
	lastFull     time.Time
	written      map[string]string // incident id -> fingerprint last written
}

// Run publishes until ctx ends, then once more, so that the incidents of
// the last batches before a shutdown are stored.
func (p *Publisher) Run(ctx context.Context) {
	if p.Every <= 0 {
		p.Every = 2 * time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p.Publish(fctx)
			cancel()
			return
		case <-t.C:
			p.Publish(ctx)
		}
	}
}

// refreshEvery rebuilds incidents without new findings, so that what
// their actors went on touching shows too.
const refreshEvery = 30 * time.Second

// Publish writes the incidents that changed since the last call: at once
// when findings arrived, every refreshEvery when only events did.
func (p *Publisher) Publish(ctx context.Context) {
	src := p.Source
	if src == nil {
		src = pipelineSource{p.Pipeline}
	}
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	err := src.Sync(sctx)
	cancel()
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if err != nil {
		// What was read before the error is in the source: rebuild from it.
		p.Logger.Warn("incident source not fully read; going on with what it holds", "err", err)
	}
	n, events := src.Seen()
	if n == p.lastFindings && (events == p.lastEvents || time.Since(p.lastFull) < refreshEvery) {
		return
	}
	if p.Source != nil && p.Pipeline != nil {
		// The pipeline's correlator still takes every local batch.
		p.Pipeline.Prune(p.Limits)
	}
	src.Prune(p.Limits)
	incs := src.Incidents()
	if p.written == nil {
		p.written = map[string]string{}
	}
	var changed []incident.Incident
	current := make(map[string]string, len(incs))
	for _, inc := range incs {
		fp := fingerprint(&inc)
		current[inc.ID] = fp
		if p.written[inc.ID] != fp {
			changed = append(changed, inc)
		}
	}
	if len(changed) > 0 {
		if err := p.Store.WriteIncidents(ctx, changed); err != nil {
			// Incidents are rebuilt from the correlator: the next tick
			// tries again with whatever is current then.
			p.Logger.Warn("incidents not written; retrying at the next tick", "incidents", len(changed), "err", err)
			return
		}
	}
	p.written = current
	p.lastFindings, p.lastEvents, p.lastFull = n, events, time.Now()
}

// fingerprint changes whenever an incident gains findings, severity, span
// or actors.
func fingerprint(inc *incident.Incident) string {
	return inc.Severity + "|" + inc.Start + "|" + inc.End + "|" + strconv.Itoa(inc.FindingCount) + "|" + strconv.Itoa(len(inc.Actors)) + "|" + strconv.Itoa(len(inc.Touched)) + "|" + strconv.Itoa(len(inc.Links))
}
