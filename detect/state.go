package detect

import (
	"fmt"
	"sync"
	"time"

	"github.com/expr-lang/expr"
)

// state is the per-key memory that sequence rules keep across events: what
// an actor did recently (remember/seen), how many distinct things it touched
// in a window (count_distinct), and which values it has shown before (novel).
// Time is the events' own time, never the wall clock, so a replay of a log
// gives the same findings as the live run that saw it.
type state struct {
	now     time.Time
	marks   map[[2]string]time.Time         // {tag, key} -> last time remembered (a pair: seen looks up without building a string)
	values  map[string]valueAt              // tag|key -> last value remembered
	sets    map[string]map[string]struct{}  // tag|key -> the set added() saw last
	events  map[string][]time.Time          // tag|key -> times counted by count_in
	longest time.Duration                   // the longest window any rule asked for
	pruned  time.Time                       // when prune last ran
	counts  map[string]map[string]time.Time // tag|key -> value -> last time seen
	history map[string]map[string]struct{}  // tag|key -> values seen
	windows map[string]time.Duration        // parsed window strings
	mu      sync.Mutex                      // guards windows (parsing at compile time)
}

// maxHistoryValues bounds how many distinct values novel() remembers per key.
const maxHistoryValues = 1024

// maxCounted bounds the times count_in keeps per key: a flood is a flood
// long before this many requests.
const maxCounted = 100000

// maxKeys bounds how many keys sets and novel histories keep: actors and
// objects come from clients, so unbounded maps would let anyone grow memory.
const maxKeys = 100000

// valueAt is a value remembered with its event time.
type valueAt struct {
	v  string
	at time.Time
}

func newState() *state {
	return &state{
		marks:   map[[2]string]time.Time{},
		values:  map[string]valueAt{},
		sets:    map[string]map[string]struct{}{},
		events:  map[string][]time.Time{},
		counts:  map[string]map[string]time.Time{},
		history: map[string]map[string]struct{}{},
		windows: map[string]time.Duration{},
	}
}

func (s *state) window(w string) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.windows[w]; ok {
		return d, nil
	}
	d, err := time.ParseDuration(w)
	if err != nil {
		return 0, fmt.Errorf("window %q: %w", w, err)
	}
	s.windows[w] = d
	if d > s.longest {
		s.longest = d
	}
	return d, nil
}

// prune forgets marks, values and counts older than the longest window any
// rule uses, at most once a minute of event time, so that memory on a live
// stream stays bounded by recent activity.
func (s *state) prune(now time.Time) {
	if now.Sub(s.pruned) < time.Minute {
		return
	}
	s.pruned = now
	horizon := s.longest
	if horizon < time.Hour {
		horizon = time.Hour
	}
	for k, t := range s.marks {
		if now.Sub(t) > horizon {
			delete(s.marks, k)
		}
	}
	for k, v := range s.values {
		if now.Sub(v.at) > horizon {
			delete(s.values, k)
		}
	}
	for k, vals := range s.counts {
		for v, t := range vals {
			if now.Sub(t) > horizon {
				delete(vals, v)
			}
		}
		if len(vals) == 0 {
			delete(s.counts, k)
		}
	}
	for k, ts := range s.events {
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) > horizon {
			delete(s.events, k)
		}
	}
	if len(s.sets) > maxKeys {
		s.sets = map[string]map[string]struct{}{}
	}
	if len(s.history) > maxKeys {
		s.history = map[string]map[string]struct{}{}
	}
}

// stringsOf turns an expr list into strings, skipping what is not one.
func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// functions returns the stateful expr functions bound to this state.
func (s *state) functions() []expr.Option {
	return []expr.Option{
		expr.Function("remember", s.remember, new(func(string, string) bool)),
		expr.Function("remember_value", s.rememberValue, new(func(string, string, string) bool)),
		expr.Function("recall", s.recall, new(func(string, string, string) string)),
		expr.Function("added", s.added, new(func(string, string, []any) []any)),
		expr.Function("count_in", s.countIn, new(func(string, string, string) int)),
		expr.Function("seen", s.seen, new(func(string, string, string) bool)),
		expr.Function("count_distinct", s.countDistinct, new(func(string, string, string, string) int)),
		expr.Function("novel", s.novel, new(func(string, string, string) bool)),
	}
}

// str reads an expr argument the function's signature declared a string.
func str(v any) string { x, _ := v.(string); return x }

// remember(tag, key) records that key did tag now; always true, so it can
// end a condition: `... && remember("enumerated", actor)`.
func (s *state) remember(p ...any) (any, error) {
	s.marks[[2]string{str(p[0]), str(p[1])}] = s.now
	return true, nil
}

// remember_value(tag, key, value) records value for key now; always true.
// recall(tag, key, window) returns it while it is recent: "who minted a
// token for this service account, and from where".
func (s *state) rememberValue(p ...any) (any, error) {
	s.values[str(p[0])+"|"+str(p[1])] = valueAt{v: str(p[2]), at: s.now}
	return true, nil
}

func (s *state) recall(p ...any) (any, error) {
	d, err := s.window(str(p[2]))
	if err != nil {
		return nil, err
	}
	v, ok := s.values[str(p[0])+"|"+str(p[1])]
	if !ok || s.now.Before(v.at) || s.now.Sub(v.at) > d {
		return "", nil
	}
	return v.v, nil
}

// added(tag, key, values) records the list values as key's current set and
// returns those not in the set recorded before; nothing the first time key
// is seen (there is nothing to compare with). A workload's container names:
// a new one is an injected sidecar.
func (s *state) added(p ...any) (any, error) {
	k := str(p[0]) + "|" + str(p[1])
	vals := stringsOf(p[2])
	prev, known := s.sets[k]
	cur := make(map[string]struct{}, len(vals))
	var out []any
	for _, v := range vals {
		cur[v] = struct{}{}
		if _, ok := prev[v]; known && !ok {
			out = append(out, v)
		}
	}
	s.sets[k] = cur
	return out, nil
}

// count_in(tag, key, window) counts this event for key and returns how many
// events key had within window: floods of requests.
func (s *state) countIn(p ...any) (any, error) {
	d, err := s.window(str(p[2]))
	if err != nil {
		return nil, err
	}
	k := str(p[0]) + "|" + str(p[1])
	ts := append(s.events[k], s.now)
	i := 0
	for i < len(ts) && s.now.Sub(ts[i]) > d {
		i++
	}
	ts = ts[i:]
	if len(ts) > maxCounted {
		ts = ts[len(ts)-maxCounted:]
	}
	s.events[k] = ts
	return len(ts), nil
}

// seen(tag, key, window) tells whether key did tag within window.
func (s *state) seen(p ...any) (any, error) {
	d, err := s.window(str(p[2]))
	if err != nil {
		return nil, err
	}
	t, ok := s.marks[[2]string{str(p[0]), str(p[1])}]
	return ok && !s.now.Before(t) && s.now.Sub(t) <= d, nil
}

// count_distinct(tag, key, value, window) records value for key and returns
// how many distinct values key showed within window.
func (s *state) countDistinct(p ...any) (any, error) {
	d, err := s.window(str(p[3]))
	if err != nil {
		return nil, err
	}
	k := str(p[0]) + "|" + str(p[1])
	vals := s.counts[k]
	if vals == nil {
		vals = map[string]time.Time{}
		s.counts[k] = vals
	}
	vals[str(p[2])] = s.now
	n := 0
	for v, t := range vals {
		if s.now.Sub(t) > d {
			delete(vals, v)
			continue
		}
		n++
	}
	return n, nil
}

// novel(tag, key, value) records value for key and is true when key has a
// history of other values and never showed this one: a known identity from
// a new source or with a new client.
func (s *state) novel(p ...any) (any, error) {
	k := str(p[0]) + "|" + str(p[1])
	v := str(p[2])
	h := s.history[k]
	if h == nil {
		s.history[k] = map[string]struct{}{v: {}}
		return false, nil
	}
	if _, ok := h[v]; ok {
		return false, nil
	}
	if len(h) < maxHistoryValues {
		h[v] = struct{}{}
	}
	return true, nil
}
