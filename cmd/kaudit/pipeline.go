package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/live"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/redact"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store"
)

// newRedactor builds the redaction stage from redact.key, or a random
// per-run key with a warning.
func (a *app) newRedactor() (*redact.Redactor, error) {
	key := a.v.GetString(keyRedactKey)
	if key == "" {
		fmt.Fprintln(a.stderr, "kaudit: warning: redact.key (KAUDIT_REDACT_KEY) is not set; secrets are hashed with a random per-run key, so hashes match only within this run")
		return redact.NewRandom(), nil
	}
	r, err := redact.New([]byte(key))
	if err != nil {
		return nil, usageError("%s: %v", keyRedactKey, err)
	}
	return r, nil
}

// newPipeline builds the judging pipeline from configuration: redaction,
// the rules of the built-in library and rules.dir, and correlation.
func (a *app) newPipeline() (*pipeline.Pipeline, error) {
	r, err := a.newRedactor()
	if err != nil {
		return nil, err
	}
	set, err := rules.Load(a.v.GetString(keyRulesDir))
	if err != nil {
		return nil, usageError("%v", err)
	}
	eng, err := detect.NewEngine(set)
	if err != nil {
		return nil, usageError("%v", err)
	}
	skew, err := a.maxClockSkew()
	if err != nil {
		return nil, err
	}
	eng.SetClock(time.Now, skew)
	return pipeline.New(r, eng, a.newCorrelator()), nil
}

// maxClockSkew reads ingest.max_clock_skew: how far ahead of this machine's
// clock an event may be dated before it is flagged (rule event-dated-ahead)
// and kept out of the windows' and the correlator's notion of now.
func (a *app) maxClockSkew() (time.Duration, error) {
	if !a.v.IsSet(keyIngestMaxClockSkew) {
		return detect.DefaultMaxClockSkew, nil
	}
	d, err := time.ParseDuration(a.v.GetString(keyIngestMaxClockSkew))
	if err != nil || d < 0 {
		return 0, usageError("%s %q: want a duration of zero or more (10m)", keyIngestMaxClockSkew, a.v.GetString(keyIngestMaxClockSkew))
	}
	return d, nil
}

// newCorrelator returns an empty correlator with incident.gap.
func (a *app) newCorrelator() *incident.Correlator {
	return incident.New(a.v.GetDuration(keyIncidentGap), rules.Tactics())
}

// judged is what a run over files produced.
type judged struct {
	pipeline  *pipeline.Pipeline
	incidents []incident.Incident
	errs      []error // one per input that could not be read, or a store failure
	inputs    []string
}

// judgeFiles runs files through the live acceptor into st (nil: judged
// only), exactly as serve judges webhook batches, then publishes the
// incidents they form to st. replay, and ui, timeline and incidents over
// PATH, all read files through here. The caller closes st, which flushes
// what an asynchronous store still holds.
func (a *app) judgeFiles(ctx context.Context, paths []string, strict bool, st store.Writer) (*judged, error) {
	p, err := a.newPipeline()
	if err != nil {
		return nil, err
	}
	b, err := a.loadBaseline(ctx)
	if err != nil {
		return nil, err
	}
	if b != nil {
		p.SetHistory(b)
	}
	cfg := live.Config{Pipeline: p, Logger: a.logger()}
	if st != nil {
		cfg.Store = st
	}
	acc, err := live.New(cfg)
	if err != nil {
		return nil, err
	}
	j := &judged{pipeline: p}
	j.errs, j.inputs = a.readInputs(ctx, p, acc, paths, strict)
	if err := acc.Close(ctx); err != nil {
		j.errs = append(j.errs, err)
	}
	pub := &live.Publisher{Pipeline: p, Store: st, Logger: a.logger()}
	if j.incidents, err = pub.Publish(context.WithoutCancel(ctx)); err != nil {
		j.errs = append(j.errs, err)
	}
	return j, nil
}

// logger is how library code reports to a person at the terminal: one
// line per event, without timestamps.
func (a *app) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, at slog.Attr) slog.Attr {
			if at.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return at
		},
	}))
}
