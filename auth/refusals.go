package auth

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// RefusalLog writes refused requests to a log at a bounded rate: one line
// for each of them let an unauthenticated flood write megabytes (4 MB for
// 20,000 requests). It lets a burst through, then about one line a second,
// each saying how many refusals were left out since the last one; the
// listeners' metrics count every refusal.
type RefusalLog struct {
	log *slog.Logger
	lim *Throttle

	mu         sync.Mutex
	suppressed int64        // since the last line
	total      atomic.Int64 // ever
}

// NewRefusalLog logs to log, a burst of 20 lines and then one a second
// (clock now; nil: time.Now).
func NewRefusalLog(log *slog.Logger, now func() time.Time) *RefusalLog {
	return &RefusalLog{log: log, lim: NewThrottle(20, time.Second, now)}
}

// Warn logs a refusal, or counts it when lines are coming too fast.
func (l *RefusalLog) Warn(msg string, args ...any) {
	l.mu.Lock()
	if ok, _ := l.lim.Allow("log"); !ok {
		l.suppressed++
		l.mu.Unlock()
		l.total.Add(1)
		return
	}
	l.lim.Fail("log")
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "refusals_not_logged_before", n)
	}
	l.log.Warn(msg, args...)
}

// Suppressed counts the refusals not logged, ever.
func (l *RefusalLog) Suppressed() int64 { return l.total.Load() }
