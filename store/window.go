package store

import (
	"fmt"
	"strings"
	"time"
)

// WindowError names the bound of a time window that could not be read:
// "since" or "until". The CLI reports it as --since/--until, the query API
// as the query parameter of that name.
type WindowError struct {
	Bound string // "since" or "until"
	Msg   string
}

func (e *WindowError) Error() string { return e.Bound + ": " + e.Msg }

// ParseWindow reads the bounds of a time window as an analyst types them:
// an RFC 3339 time (2026-11-22T09:53:40Z) or a positive duration meaning
// that long before now (2h, 30m). Empty bounds are open (the zero time).
// Until before since is an error, so that a swapped pair does not quietly
// select nothing. `kaudit timeline`, `kaudit incidents` and the query API
// all read their windows here.
func ParseWindow(since, until string, now time.Time) (from, to time.Time, err error) {
	if from, err = parseBound("since", since, now); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if to, err = parseBound("until", until, now); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return time.Time{}, time.Time{}, &WindowError{"until", fmt.Sprintf("%s is before since (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))}
	}
	return from, to, nil
}

func parseBound(bound, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, &WindowError{bound, fmt.Sprintf("%q: want an RFC 3339 time (2026-11-22T09:53:40Z) or a duration before now (2h, 30m)", s)}
	}
	return now.Add(-d).UTC(), nil
}
