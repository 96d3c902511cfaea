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

// Publisher keeps the store's incidents current while kaudit serves: it
// rebuilds them from the pipeline's correlator when findings arrived, writes
// those that changed, and prunes the correlator to Limits.
type Publisher struct {
	Pipeline *pipeline.Pipeline
	Store    store.Store
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
	st := p.Pipeline.Stats(0)
	n := st.Findings
	if n == p.lastFindings && (st.Events == p.lastEvents || time.Since(p.lastFull) < refreshEvery) {
		return
	}
	p.Pipeline.Prune(p.Limits)
	incs := p.Pipeline.Incidents()
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
	p.lastFindings, p.lastEvents, p.lastFull = n, st.Events, time.Now()
}

// fingerprint changes whenever an incident gains findings, severity, span
// or actors.
func fingerprint(inc *incident.Incident) string {
	return inc.Severity + "|" + inc.Start + "|" + inc.End + "|" + strconv.Itoa(inc.FindingCount) + "|" + strconv.Itoa(len(inc.Actors)) + "|" + strconv.Itoa(len(inc.Touched)) + "|" + strconv.Itoa(len(inc.Links))
}
