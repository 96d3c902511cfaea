package detect

import "time"

// DefaultMaxClockSkew is ingest.max_clock_skew when unset: how far ahead of
// kaudit's own clock an event may be dated before it counts as skewed.
const DefaultMaxClockSkew = 10 * time.Minute

// Skew is where an event's time stands against the receiver's clock.
// Detection runs on event time (a replay finds what the live run found),
// but one event dated hours or years ahead must not move the engine's or
// the correlator's notion of "now": windows and pruning stop at the
// receiver's clock plus the allowed skew.
type Skew struct {
	// Ahead is how far the event is dated after the receiver's clock
	// (zero or negative for the past).
	Ahead time.Duration
	// Skewed is true when Ahead exceeds the allowed skew.
	Skewed bool
	// Now is the event's time as windows and pruning use it: the event's
	// own time, or the receiver's clock when the event is dated beyond the
	// allowed skew (when it was received is all that is known of it).
	Now time.Time
}

// SkewOf places an event time t against the receiver's clock now, allowing
// maxSkew.
func SkewOf(t, now time.Time, maxSkew time.Duration) Skew {
	s := Skew{Ahead: t.Sub(now), Now: t}
	if t.After(now.Add(maxSkew)) {
		s.Skewed, s.Now = true, now
	}
	return s
}
