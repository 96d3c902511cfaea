package incident

import (
	"slices"
	"sort"
	"time"
)

// Limits bound what a long-running Correlator keeps (kaudit serve): it
// forgets what is older than Window behind the newest event time it saw,
// and keeps at most the newest MaxFindings findings, MaxTouchesPerActor
// requests per actor and MaxLinks links. Replay never prunes: it reads a
// finite log and must give the whole answer.
//
// MaxSkew (ingest.max_clock_skew) bounds "the newest event time" by the
// receiver's clock: what is dated further ahead of the clock than that
// never counts as the newest, and goes first when a cap is reached.
type Limits struct {
	Window             time.Duration
	MaxFindings        int
	MaxTouchesPerActor int
	MaxLinks           int
	MaxSkew            time.Duration
}

// Prune drops what falls outside l. Time is the events' own (the newest
// seen), as everywhere in detection, but bounded by the receiver's clock
// now plus l.MaxSkew: one event dated hours or years ahead (a skewed
// apiserver clock, a hostile client) must not push every real finding out
// of the window, which would stop incidents until a restart. A zero now
// leaves event time unbounded. An incident whose first findings were
// pruned is rebuilt from the rest, under a new id; the store keeps the
// earlier version.
func (c *Correlator) Prune(l Limits, now time.Time) {
	var bound time.Time
	if !now.IsZero() {
		bound = now.Add(l.MaxSkew)
	}
	cut := time.Time{}
	if newest := c.newest(bound); l.Window > 0 && !newest.IsZero() {
		cut = newest.Add(-l.Window)
	}
	r := ranker{bound: bound}
	c.pruneFindings(cut, l.MaxFindings, r)
	c.pruneTouches(cut, l.MaxTouchesPerActor, r)
	c.pruneLinks(cut, l.MaxLinks, r)
	for k, cr := range c.created {
		if cr.at.Before(cut) {
			delete(c.created, k)
		}
	}
}

// ranker orders what a cap keeps: by time, except that what is dated past
// the bound (the receiver's clock plus the allowed skew) ranks oldest, so
// that a flood of future-dated events cannot push out real ones.
type ranker struct{ bound time.Time }

func (r ranker) future(t time.Time) bool { return !r.bound.IsZero() && t.After(r.bound) }

// cmp orders a and b as before does, for the slices package.
func (r ranker) cmp(a, b time.Time) int {
	switch {
	case r.before(a, b):
		return -1
	case r.before(b, a):
		return 1
	}
	return 0
}

// before reports whether a ranks before (is dropped before) b.
func (r ranker) before(a, b time.Time) bool {
	fa, fb := r.future(a), r.future(b)
	if fa != fb {
		return fa
	}
	return a.Before(b)
}

// newest is the time of the newest finding or request held, leaving out
// what is dated after bound (zero: no bound).
func (c *Correlator) newest(bound time.Time) time.Time {
	r := ranker{bound: bound}
	var newest time.Time
	for _, f := range c.findings {
		if f.At.After(newest) && !r.future(f.At) {
			newest = f.At
		}
	}
	for _, ts := range c.touches {
		for i := range ts {
			if at := ts[i].at(); at.After(newest) && !r.future(at) {
				newest = at
			}
		}
	}
	return newest
}

// pruneFindings keeps the findings at or after cut, the newest max of them
// (0: no cap).
func (c *Correlator) pruneFindings(cut time.Time, max int, r ranker) {
	fs := c.findings[:0]
	for _, f := range c.findings {
		if !f.At.Before(cut) {
			fs = append(fs, f)
		}
	}
	if max > 0 && len(fs) > max {
		sort.SliceStable(fs, func(i, j int) bool { return r.before(fs[i].At, fs[j].At) })
		fs = append(fs[:0], fs[len(fs)-max:]...)
	}
	clear(c.findings[len(fs):])
	c.findings = fs
	c.seen = make(map[string]struct{}, len(fs))
	for i := range fs {
		c.seen[findingKey(&fs[i])] = struct{}{}
	}
}

// pruneTouches keeps each actor's requests at or after cut, the newest max
// of them (0: no cap).
func (c *Correlator) pruneTouches(cut time.Time, max int, r ranker) {
	need := 0 // what newestTouches' buffer is kept at: twice the most arrivals it merged
	for actor, ts := range c.touches {
		// Nothing is dropped from a busy actor at most prunes: its
		// requests in the window are kept where they are, not each
		// copied onto itself.
		i := 0
		for i < len(ts) && !ts[i].before(cut) {
			i++
		}
		kept := ts[:i]
		for _, t := range ts[min(i+1, len(ts)):] {
			if !t.before(cut) {
				kept = append(kept, t)
			}
		}
		if max > 0 && len(kept) > max {
			var arrivals int
			kept, arrivals = c.newestTouches(kept, max, r)
			if 2*arrivals > need {
				need = 2 * arrivals
			}
		}
		if len(kept) == 0 {
			delete(c.touches, actor)
			continue
		}
		// An actor at its cap is busy: it will fill the array again
		// before the next prune.
		c.touches[actor] = compact(ts, kept, max > 0 && len(kept) == max)
	}
	if cap(c.merged) > need && cap(c.merged) > minMergeBuffer {
		// Grown by a burst of arrivals: not kept at that size.
		c.merged = nil
	}
	c.reindexNames()
}

// minMergeBuffer is the size newestTouches' buffer may keep whatever the
// last prune needed. Above it, the buffer is kept at up to twice the most
// one actor needed in the last prune, so that actors of different sizes
// share it.
const minMergeBuffer = 4096

// newestTouches returns the newest keep of ts as ranked by r, in that
// order: what a stable sort of ts by r would end with; and how many
// requests it merged as arrivals. The requests kept
// at the last prune are in that order already, and those that arrived
// since (out of order, from concurrent senders) are a few; so it sorts
// only the part after the sorted prefix and merges it into the prefix.
// Sorting every request of a busy actor at every prune was most of
// pruning under load.
func (c *Correlator) newestTouches(ts []touch, keep int, r ranker) (newest []touch, arrivals int) {
	byTime := func(a, b touch) int { return r.cmp(a.at(), b.at()) }
	p := 1
	for p < len(ts) && byTime(ts[p-1], ts[p]) <= 0 {
		p++
	}
	if p < len(ts) {
		slices.SortStableFunc(ts[p:], byTime)
		// Merged from the back, with the sorted arrivals set aside: the
		// prefix's requests older than every arrival stay where they are,
		// so a prune moves the arrivals and the few they overtake, not the
		// actor's whole history (twice, through a buffer of its size).
		tail := append(c.merged[:0], ts[p:]...)
		i, j := p-1, len(tail)-1
		for k := len(ts) - 1; j >= 0; k-- {
			// Of equal times the arrival goes last: stable.
			if i >= 0 && byTime(tail[j], ts[i]) < 0 {
				ts[k] = ts[i]
				i--
			} else {
				ts[k] = tail[j]
				j--
			}
		}
		c.merged = tail[:0]
	}
	return ts[len(ts)-keep:], len(ts) - p
}

// pruneLinks keeps the links at or after cut, the newest max of them (0: no
// cap), and reindexes them by audit id.
//
// The links are kept in their own array, and the index in its own map: a
// fresh array of exactly the kept links was grown again, by copies of
// itself, by the links that arrived before the next prune.
func (c *Correlator) pruneLinks(cut time.Time, max int, r ranker) {
	links := c.links[:0]
	for _, lk := range c.links {
		if !lk.at.Before(cut) {
			links = append(links, lk)
		}
	}
	if max > 0 && len(links) > max {
		if byTime := func(a, b Link) int { return r.cmp(a.at, b.at) }; !slices.IsSortedFunc(links, byTime) {
			slices.SortStableFunc(links, byTime)
		}
		links = links[:copy(links, links[len(links)-max:])]
	}
	clear(c.links[len(links):]) // the dropped links' strings
	c.links = links
	clear(c.byAudit)
	for i, lk := range links {
		c.byAudit[lk.AuditID] = append(c.byAudit[lk.AuditID], i)
	}
}

// Size reports what the correlator holds: findings, requests, links.
func (c *Correlator) Size() (findings, touches, links int) {
	for _, ts := range c.touches {
		touches += len(ts)
	}
	return len(c.findings), touches, len(c.links)
}

// compact returns kept (a part of ts) at the start of ts's array; or,
// unless busy, in an array of its own when it holds less than a quarter
// of it, so that the rest is freed. Copying every
// actor's requests at every prune was 3% of the bytes serve allocated
// under load, and growing a busy actor's array again from its cap after
// each prune 4%.
func compact(ts, kept []touch, busy bool) []touch {
	if !busy && len(kept) < cap(ts)/4 {
		return append([]touch(nil), kept...)
	}
	n := len(kept)
	if n > 0 && &kept[0] != &ts[0] {
		copy(ts, kept)
	}
	// What the array holds past n is dropped requests: a touch holds no
	// pointer, so they keep nothing else alive, and appends overwrite them.
	return ts[:n]
}
