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
	marks   map[string]time.Time            // tag|key -> last time remembered
	counts  map[string]map[string]time.Time // tag|key -> value -> last time seen
	history map[string]map[string]struct{}  // tag|key -> values seen
	windows map[string]time.Duration        // parsed window strings
	mu      sync.Mutex                      // guards windows (parsing at compile time)
}

// maxHistoryValues bounds how many distinct values novel() remembers per key.
const maxHistoryValues = 1024

func newState() *state {
	return &state{
		marks:   map[string]time.Time{},
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
	return d, nil
}

// functions returns the stateful expr functions bound to this state.
func (s *state) functions() []expr.Option {
	str := func(v any) string { x, _ := v.(string); return x }
	return []expr.Option{
		// remember(tag, key) records that key did tag now; always true, so it
		// can end a condition: `... && remember("enumerated", actor)`.
		expr.Function("remember", func(p ...any) (any, error) {
			s.marks[str(p[0])+"|"+str(p[1])] = s.now
			return true, nil
		}, new(func(string, string) bool)),
		// seen(tag, key, window) tells whether key did tag within window.
		expr.Function("seen", func(p ...any) (any, error) {
			d, err := s.window(str(p[2]))
			if err != nil {
				return nil, err
			}
			t, ok := s.marks[str(p[0])+"|"+str(p[1])]
			return ok && !s.now.Before(t) && s.now.Sub(t) <= d, nil
		}, new(func(string, string, string) bool)),
		// count_distinct(tag, key, value, window) records value for key and
		// returns how many distinct values key showed within window.
		expr.Function("count_distinct", func(p ...any) (any, error) {
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
		}, new(func(string, string, string, string) int)),
		// novel(tag, key, value) records value for key and is true when key
		// has a history of other values and never showed this one: a known
		// identity from a new source or with a new client.
		expr.Function("novel", func(p ...any) (any, error) {
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
		}, new(func(string, string, string) bool)),
	}
}
