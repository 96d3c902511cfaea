package live

import (
	"context"
	"log/slog"
	"time"

	"github.com/kaudit/kaudit/detect/baseline"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/store"
)

// Defaults of a Learner.
const (
	DefaultBaselineWindow  = 14 * 24 * time.Hour
	DefaultBaselineSettle  = time.Hour
	DefaultBaselineRefresh = 10 * time.Minute
)

// Learner keeps the baseline of a server current: it learns it from the
// store's events of [now-Window, now-Settle], at start and every Every,
// and hands it to the pipeline. The state lives in the store, so a restart
// relearns the same baseline; Settle keeps what is happening now (an
// attack in progress) from becoming routine while it happens.
type Learner struct {
	Store    store.BaselineReader
	Pipeline *pipeline.Pipeline
	Window   time.Duration
	Settle   time.Duration
	Every    time.Duration
	MinCount int
	Logger   *slog.Logger
	// Now is the receiver's clock (default time.Now): the window follows it,
	// never the events' own times, which a skewed client sets.
	Now func() time.Time
}

func (l *Learner) defaults() {
	if l.Window <= 0 {
		l.Window = DefaultBaselineWindow
	}
	if l.Settle < 0 {
		l.Settle = 0
	}
	if l.Every <= 0 {
		l.Every = DefaultBaselineRefresh
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.Logger == nil {
		l.Logger = slog.Default()
	}
}

// Learn relearns the baseline once and hands it to the pipeline.
func (l *Learner) Learn(ctx context.Context) (*baseline.Baseline, error) {
	l.defaults()
	now := l.Now()
	b := baseline.New()
	b.MinCount = l.MinCount
	if err := l.Store.LearnBaseline(ctx, b, now.Add(-l.Window), now.Add(-l.Settle)); err != nil {
		return nil, err
	}
	l.Pipeline.SetHistory(b)
	return b, nil
}

// Run learns at once, then every Every until ctx ends. A failed learn
// (the store away) keeps the last baseline and is tried again at the next
// tick.
func (l *Learner) Run(ctx context.Context) {
	l.defaults()
	learn := func() {
		b, err := l.Learn(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.Logger.Warn("baseline not relearned; keeping the last one", "err", err)
			}
			return
		}
		l.Logger.Info("baseline learned", "requests", b.Events, "identities", len(b.Identities), "since", b.Since, "until", b.Until)
	}
	learn()
	t := time.NewTicker(l.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			learn()
		}
	}
}
