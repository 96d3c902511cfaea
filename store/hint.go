package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Hint says why a timeline query found nothing when a near miss would have
// found something: the actor is the short name of longer ones (a service
// account's NAME of system:serviceaccount:NS:NAME), or the filters match
// requests outside the time window. The CLI turns a useful hint into an
// error, the web view shows it.
type Hint struct {
	// Actors are the actors whose names hold the actor asked for.
	Actors []string `json:"actors,omitempty"`
	// OutsideWindow says the filters match requests outside since/until.
	OutsideWindow bool `json:"outside_window,omitempty"`
	// First and Last are the times the store covers (zero when empty).
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// hintActors bounds the actors a hint names, and hintScan the requests it
// reads to find them.
const (
	hintActors = 5
	hintScan   = 2000
)

// HintFor looks for a near miss of q, which found nothing.
func HintFor(ctx context.Context, r Reader, q Query) (Hint, error) {
	var h Hint
	var err error
	if h.First, h.Last, err = r.Span(ctx); err != nil {
		return h, err
	}
	if q.Actor != "" {
		wide := q
		wide.Actor, wide.Limit, wide.Offset = "", hintScan, 0
		wide.Terms = append(slices.Clone(q.Terms), Term{Field: FieldActor, Pattern: "*" + strings.ToLower(q.Actor) + "*"})
		wide.Since, wide.Until = time.Time{}, time.Time{}
		entries, err := r.Timeline(ctx, wide)
		if err != nil {
			return h, err
		}
		for _, e := range entries {
			for _, a := range []string{e.User, e.ImpersonatedUser} {
				if a != "" && a != q.Actor && strings.Contains(strings.ToLower(a), strings.ToLower(q.Actor)) && !slices.Contains(h.Actors, a) && len(h.Actors) < hintActors {
					h.Actors = append(h.Actors, a)
				}
			}
		}
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		all := q
		all.Since, all.Until, all.Limit, all.Offset = time.Time{}, time.Time{}, 1, 0
		entries, err := r.Timeline(ctx, all)
		if err != nil {
			return h, err
		}
		h.OutsideWindow = len(entries) > 0
	}
	return h, nil
}

// Useful reports whether the hint names a near miss.
func (h *Hint) Useful() bool { return len(h.Actors) > 0 || h.OutsideWindow }

// Text says the hint in words: "did you mean …; the log covers
// 09:53:01–09:53:46 on 2026-11-22". what names the data: "the log", "the
// store".
func (h *Hint) Text(what string) string {
	var parts []string
	if len(h.Actors) > 0 {
		parts = append(parts, "did you mean "+strings.Join(h.Actors, " or "))
	}
	if h.OutsideWindow {
		parts = append(parts, "the filters match requests outside the time window")
	}
	parts = append(parts, what+" "+CoverText(h.First, h.Last))
	return strings.Join(parts, "; ")
}

// CoverText says which times a span covers: "covers 09:53:01–09:53:46 on
// 2026-11-22" (UTC), "holds no requests" when empty.
func CoverText(first, last time.Time) string {
	if first.IsZero() {
		return "holds no requests"
	}
	first, last = first.UTC(), last.UTC()
	if first.Format(time.DateOnly) == last.Format(time.DateOnly) {
		return fmt.Sprintf("covers %s–%s on %s (UTC)", first.Format(time.TimeOnly), last.Add(time.Second-1).Truncate(time.Second).Format(time.TimeOnly), first.Format(time.DateOnly))
	}
	return fmt.Sprintf("covers %s – %s (UTC)", first.Format(time.DateTime), last.Format(time.DateTime))
}

// Describe names the query's filters as an analyst gave them: "actor
// backup, namespace team-a, search -system:*, since 2026-11-22T09:00:00Z".
func (q *Query) Describe() string {
	var parts []string
	for _, f := range []struct{ name, val string }{
		{"actor", q.Actor}, {"source IP", q.SourceIP}, {"namespace", q.Namespace}, {"resource", q.Resource},
		{"name", q.Name}, {"verb", q.Verb}, {"audit id", q.AuditID},
	} {
		if f.val != "" {
			parts = append(parts, f.name+" "+f.val)
		}
	}
	if len(q.Terms) > 0 {
		words := make([]string, len(q.Terms))
		for i, t := range q.Terms {
			words[i] = t.String()
		}
		parts = append(parts, "search "+strings.Join(words, " "))
	}
	if !q.Since.IsZero() {
		parts = append(parts, "since "+q.Since.UTC().Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		parts = append(parts, "until "+q.Until.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}
