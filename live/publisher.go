package live

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/store"
)

// DefaultLimits bound live correlation: incidents are rebuilt from the last
// two hours of event time, at most 5,000 findings, 10,000 requests per
// actor and 10,000 identity links (incident.Limits), with event time
// bounded by the receiver's clock plus ingest.max_clock_skew. Rebuilding
// all incidents is linear in those, and runs every Publisher.Every.
var DefaultLimits = incident.Limits{
	Window:             2 * time.Hour,
	MaxFindings:        5000,
	MaxTouchesPerActor: 10000,
	MaxLinks:           10000,
	MaxSkew:            detect.DefaultMaxClockSkew,
}

// IncidentSource is what a Publisher builds incidents from: the pipeline's
// own correlator (one kaudit sees every event), or facts.Correlation, which
// reads the facts every consumer of a group publishes (each sees only its
// partitions' actors, and incidents join actors).
type IncidentSource interface {
	// Sync brings the source up to date before a rebuild (reads what other
	// consumers published); the pipeline is always up to date.
	Sync(ctx context.Context) error
	// Seen counts the findings and requests the source took so far; the
	// Publisher rebuilds when they moved.
	Seen() (findings, events int)
	// Prune bounds the source's state (see incident.Limits); now is the
	// receiver's clock, which bounds the events' time.
	Prune(l incident.Limits, now time.Time)
	// Incidents builds the incidents from what the source holds.
	Incidents() []incident.Incident
}

// syncTimeout bounds one Sync: a source that cannot be read (Kafka down)
// costs a tick, not the publisher; the next tick goes on from there.
const syncTimeout = 30 * time.Second

// Publisher writes the incidents of a pipeline to a store: once at the end
// of a replay or of loading files into `kaudit ui`, and every few seconds
// while kaudit serves, writing only those that changed and pruning the
// correlation state to Limits. It is the one way incidents reach a store.
type Publisher struct {
	// Pipeline judges this kaudit's batches; it is the source of incidents
	// unless Source is set, and is pruned on every rebuild either way.
	Pipeline *pipeline.Pipeline
	// Source, when set, is where incidents come from instead of the
	// pipeline's correlator (facts.Correlation under kafka.facts_topic).
	Source IncidentSource
	// Store receives the incidents (nil: they are only returned).
	Store store.Writer
	// Every is how often Run rebuilds incidents (default 2 s): the query
	// API shows a new incident within that, plus the store's write.
	Every time.Duration
	// Limits bound the correlation state of a long run (zero: no pruning,
	// as a replay must give the whole answer).
	Limits incident.Limits
	// Notify, when set, hears every rebuilt list of incidents once it is
	// stored (live/notify's Notifier.Observe).
	Notify func([]incident.Incident)
	Logger *slog.Logger
	// Now is the receiver's clock, which bounds event time when pruning
	// (default time.Now).
	Now func() time.Time

	lastFindings int
	lastEvents   int
	lastFull     time.Time
	written      map[string]string // incident id -> fingerprint last written
}

// Run publishes until ctx ends, then once more, so that the incidents of
// the last batches before a shutdown are stored. Errors are logged: the
// next tick writes whatever is current then.
func (p *Publisher) Run(ctx context.Context) {
	every := p.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p.publishLogged(fctx)
			cancel()
			return
		case <-t.C:
			p.publishLogged(ctx)
		}
	}
}

func (p *Publisher) publishLogged(ctx context.Context) {
	if _, err := p.Publish(ctx); err != nil {
		p.logger().Warn("incidents not written; retrying at the next tick", "err", err)
	}
}

func (p *Publisher) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}

// refreshEvery rebuilds incidents without new findings, so that what
// their actors went on touching shows too.
const refreshEvery = 30 * time.Second

// Publish rebuilds the incidents, writes those that changed since the last
// call to the store and returns them all. Between runs of a server it skips
// the rebuild (returning nil) when nothing moved: at once when findings
// arrived, every refreshEvery when only events did.
func (p *Publisher) Publish(ctx context.Context) ([]incident.Incident, error) {
	src := p.source()
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	err := src.Sync(sctx)
	cancel()
	if err != nil {
		// What was read before the error is in the source: rebuild from it.
		p.logger().Warn("incident source not fully read; going on with what it holds", "err", err)
	}
	n, events := src.Seen()
	if p.written != nil && n == p.lastFindings && (events == p.lastEvents || time.Since(p.lastFull) < refreshEvery) {
		return nil, nil
	}
	if p.Limits != (incident.Limits{}) {
		now := p.now()
		if p.Source != nil {
			// The pipeline's correlator still takes every local batch.
			p.Pipeline.Prune(p.Limits, now)
		}
		src.Prune(p.Limits, now)
	}
	incs := src.Incidents()
	current := make(map[string]string, len(incs))
	var changed []incident.Incident
	for _, inc := range incs {
		fp := fingerprint(&inc)
		current[inc.ID] = fp
		if p.written[inc.ID] != fp {
			changed = append(changed, inc)
		}
	}
	if len(changed) > 0 && p.Store != nil {
		if err := p.Store.WriteIncidents(ctx, changed); err != nil {
			return incs, fmt.Errorf("write %d incidents: %w", len(changed), err)
		}
	}
	p.written = current
	p.lastFindings, p.lastEvents, p.lastFull = n, events, time.Now()
	if p.Notify != nil {
		p.Notify(incs)
	}
	return incs, nil
}

func (p *Publisher) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

func (p *Publisher) source() IncidentSource {
	if p.Source != nil {
		return p.Source
	}
	return p.Pipeline
}

// fingerprint changes whenever an incident gains findings, severity, span
// or actors.
func fingerprint(inc *incident.Incident) string {
	return inc.Severity + "|" + inc.Start + "|" + inc.End + "|" + strconv.Itoa(inc.FindingCount) + "|" + strconv.Itoa(len(inc.Actors)) + "|" + strconv.Itoa(len(inc.Touched)) + "|" + strconv.Itoa(len(inc.Links))
}
