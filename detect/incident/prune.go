package incident

import (
	"sort"
	"time"
)

// Limits bound what a long-running Correlator keeps (kaudit serve): it
// forgets what is older than Window behind the newest event time it saw,
// and keeps at most the newest MaxFindings findings, MaxTouchesPerActor
// requests per actor and MaxLinks links. Replay never prunes: it reads a
// finite log and must give the whole answer.
type Limits struct {
	Window             time.Duration
	MaxFindings        int
	MaxTouchesPerActor int
	MaxLinks           int
}

// Prune drops what falls outside l. Time is the events' own (the newest
// seen), never the wall clock, as everywhere in detection. An incident whose
// first findings were pruned is rebuilt from the rest, under a new id; the
// store keeps the earlier version.
func (c *Correlator) Prune(l Limits) {
	cut := time.Time{}
	if newest := c.newest(); l.Window > 0 && !newest.IsZero() {
		cut = newest.Add(-l.Window)
	}
	c.pruneFindings(cut, l.MaxFindings)
	c.pruneTouches(cut, l.MaxTouchesPerActor)
	c.pruneLinks(cut, l.MaxLinks)
	for k, cr := range c.created {
		if cr.at.Before(cut) {
			delete(c.created, k)
		}
	}
}

// newest is the time of the newest finding or request held.
func (c *Correlator) newest() time.Time {
	var newest time.Time
	for _, f := range c.findings {
		if f.At.After(newest) {
			newest = f.At
		}
	}
	for _, ts := range c.touches {
		for _, t := range ts {
			if t.At.After(newest) {
				newest = t.At
			}
		}
	}
	return newest
}

// pruneFindings keeps the findings at or after cut, the newest max of them
// (0: no cap).
func (c *Correlator) pruneFindings(cut time.Time, max int) {
	fs := c.findings[:0]
	for _, f := range c.findings {
		if !f.At.Before(cut) {
			fs = append(fs, f)
		}
	}
	if max > 0 && len(fs) > max {
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].At.Before(fs[j].At) })
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
func (c *Correlator) pruneTouches(cut time.Time, max int) {
	for actor, ts := range c.touches {
		kept := ts[:0]
		for _, t := range ts {
			if !t.At.Before(cut) {
				kept = append(kept, t)
			}
		}
		if max > 0 && len(kept) > max {
			sort.SliceStable(kept, func(i, j int) bool { return kept[i].At.Before(kept[j].At) })
			kept = kept[len(kept)-max:]
		}
		if len(kept) == 0 {
			delete(c.touches, actor)
			continue
		}
		// Copy so that the dropped requests' backing array is freed.
		c.touches[actor] = append([]Touch(nil), kept...)
	}
}

// pruneLinks keeps the links at or after cut, the newest max of them (0: no
// cap), and reindexes them by audit id.
func (c *Correlator) pruneLinks(cut time.Time, max int) {
	links := make([]Link, 0, len(c.links))
	for _, lk := range c.links {
		if !lk.at.Before(cut) {
			links = append(links, lk)
		}
	}
	if max > 0 && len(links) > max {
		sort.SliceStable(links, func(i, j int) bool { return links[i].at.Before(links[j].at) })
		links = links[len(links)-max:]
	}
	c.links = links
	c.byAudit = make(map[string][]int, len(links))
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
