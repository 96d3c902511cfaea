package detect

import (
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// seqRunner evaluates expressions with a state's functions at given event
// times, the way the engine does.
type seqRunner struct {
	t *testing.T
	s *state
}

func (r seqRunner) at(sec int, code string) any {
	r.t.Helper()
	p, err := expr.Compile(code, append([]expr.Option{expr.Env(&Env{})}, r.s.functions()...)...)
	if err != nil {
		r.t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
	r.s.now = now
	r.s.prune(now)
	out, err := vm.Run(p, &Env{})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func TestSequenceFunctions(t *testing.T) {
	r := seqRunner{t, newState()}

	// recall sees a value within its window, measured in event time, and not
	// before it was remembered (an event that arrived out of order).
	r.at(100, `remember_value("minted", "sa", "mallory from 198.51.100.23")`)
	if got := r.at(99, `recall("minted", "sa", "1h")`); got != "" {
		t.Errorf("recall before the mint: %q", got)
	}
	if got := r.at(100+3599, `recall("minted", "sa", "1h")`); got != "mallory from 198.51.100.23" {
		t.Errorf("recall within the window: %q", got)
	}
	if got := r.at(100+3601, `recall("minted", "sa", "1h")`); got != "" {
		t.Errorf("recall after the window: %q", got)
	}

	// added: nothing the first time (no baseline), then only what is new.
	if got := r.at(0, `added("c", "deploy/shop", ["app"])`); got != nil && len(got.([]any)) != 0 {
		t.Errorf("first sight: %v", got)
	}
	if got := r.at(1, `added("c", "deploy/shop", ["app", "proxy"])`); len(got.([]any)) != 1 || got.([]any)[0] != "proxy" {
		t.Errorf("container added: %v", got)
	}
	if got := r.at(2, `added("c", "deploy/shop", ["app", "proxy"])`); len(got.([]any)) != 0 {
		t.Errorf("nothing new: %v", got)
	}

	// count_in and count_distinct count within a sliding window.
	for i := 0; i < 5; i++ {
		r.at(3000+i*20, `count_in("req", "alice", "1m")`)
	}
	if got := r.at(3000+100, `count_in("req", "alice", "1m")`); got != 4 {
		t.Errorf("count_in: %v, want 4 (events at 3040, 3060, 3080 and this one; a window includes its edge)", got)
	}
	r.at(4000, `count_distinct("ns", "mallory", "team-a", "10m")`)
	r.at(4001, `count_distinct("ns", "mallory", "team-a", "10m")`)
	if got := r.at(4002, `count_distinct("ns", "mallory", "billing", "10m")`); got != 2 {
		t.Errorf("count_distinct: %v, want 2", got)
	}

	// novel: the first value is the baseline; a different one is novel once.
	want := []bool{false, false, true, false}
	for i, ip := range []string{"10.0.0.1", "10.0.0.1", "198.51.100.23", "198.51.100.23"} {
		if got := r.at(5000+i, `novel("src", "sa", "`+ip+`")`); got != want[i] {
			t.Errorf("novel #%d (%s): %v, want %v", i, ip, got, want[i])
		}
	}

	// prune forgets marks older than the longest window once event time has moved on.
	r.at(6000, `remember("enumerated", "mallory")`)
	r.at(6000+2*3600, `true`)
	if _, ok := r.s.marks[[2]string{"enumerated", "mallory"}]; ok {
		t.Error("a two-hour-old mark survived pruning with windows of at most an hour")
	}
}
