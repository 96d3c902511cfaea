package investigate

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/store"
)

// Paging limits. The defaults keep a response small enough for a page; the
// caps keep one request from asking the store for everything.
const (
	defaultTimelineLimit = 100
	maxTimelineLimit     = 1000
	defaultIncidentLimit = 500
	maxIncidentLimit     = 5000
	// maxOffset keeps offset paging for compatibility within what a page
	// query can afford; cursor (next_cursor) pages any depth.
	maxOffset = 1_000_000
)

// paramError is a bad query parameter, answered with 400 naming it.
type paramError struct {
	name, msg string
}

func (e *paramError) Error() string { return fmt.Sprintf("query parameter %s: %s", e.name, e.msg) }

// timelineParams are the filters of `kaudit timeline`, as query parameters;
// q is its --search (store.ParseTerms), and actor takes a glob or a -name
// to leave out, as --actor does. cursor continues a page by keyset.
var timelineParams = []string{"actor", "source_ip", "namespace", "resource", "name", "verb", "audit_id", "q", "since", "until", "limit", "offset", "cursor"}

// incidentParams filter the incident list.
var incidentParams = []string{"actor", "min_severity", "since", "until", "limit"}

// checkKnown refuses parameters the endpoint does not take: a misspelt
// filter silently ignored would show an analyst more than they asked for
// and let them believe it was filtered.
func checkKnown(q url.Values, known []string) error {
	for k, vs := range q {
		ok := false
		for _, n := range known {
			if k == n {
				ok = true
				break
			}
		}
		if !ok {
			return &paramError{k, "unknown; this endpoint takes " + strings.Join(known, ", ")}
		}
		if len(vs) > 1 {
			return &paramError{k, "given more than once"}
		}
	}
	return nil
}

// parseTimelineQuery turns query parameters into a store query.
func parseTimelineQuery(q url.Values, now time.Time) (store.Query, error) {
	if err := checkKnown(q, timelineParams); err != nil {
		return store.Query{}, err
	}
	sq := store.Query{
		SourceIP: q.Get("source_ip"), Namespace: q.Get("namespace"),
		Resource: q.Get("resource"), Name: q.Get("name"), Verb: q.Get("verb"), AuditID: q.Get("audit_id"),
	}
	sq.FilterActor(q.Get("actor"))
	terms, err := store.ParseTerms(q.Get("q"))
	if err != nil {
		return sq, &paramError{"q", err.Error()}
	}
	sq.Terms = append(sq.Terms, terms...)
	if sq.Since, sq.Until, err = parseWindow(q, now); err != nil {
		return sq, err
	}
	if sq.Limit, err = parseInt(q, "limit", defaultTimelineLimit, 1, maxTimelineLimit); err != nil {
		return sq, err
	}
	if sq.Offset, err = parseInt(q, "offset", 0, 0, maxOffset); err != nil {
		if pe, ok := err.(*paramError); ok {
			pe.msg += "; page further with cursor (next_cursor)"
		}
		return sq, err
	}
	if c := q.Get("cursor"); c != "" {
		if sq.After, err = decodeCursor(c); err != nil {
			return sq, err
		}
	}
	return sq, nil
}

// parseIncidentQuery turns query parameters into an incident query.
func parseIncidentQuery(q url.Values, now time.Time) (store.IncidentQuery, error) {
	if err := checkKnown(q, incidentParams); err != nil {
		return store.IncidentQuery{}, err
	}
	iq := store.IncidentQuery{Actor: q.Get("actor")}
	var err error
	if s := q.Get("min_severity"); s != "" {
		if iq.MinSeverity, err = rulefile.ParseSeverity(s); err != nil {
			return iq, &paramError{"min_severity", err.Error()}
		}
	}
	if iq.Since, iq.Until, err = parseWindow(q, now); err != nil {
		return iq, err
	}
	if iq.Limit, err = parseInt(q, "limit", defaultIncidentLimit, 1, maxIncidentLimit); err != nil {
		return iq, err
	}
	return iq, nil
}

// parseWindow reads since and until as `kaudit timeline` does
// (store.ParseWindow), naming the parameter at fault.
func parseWindow(q url.Values, now time.Time) (from, to time.Time, err error) {
	from, to, err = store.ParseWindow(q.Get("since"), q.Get("until"), now)
	var we *store.WindowError
	if errors.As(err, &we) {
		return from, to, &paramError{we.Bound, we.Msg}
	}
	return from, to, err
}

// parseInt reads an integer in [lo, hi], def when absent.
func parseInt(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, &paramError{name, fmt.Sprintf("%q: want a whole number from %d to %d", s, lo, hi)}
	}
	return n, nil
}
