package investigate

import "sync"

// DefaultMaxQueriesPerAnalyst is how many store queries one analyst (one
// token, through the API or any of its sessions) may run at once: a page
// and its incident view need two, and a script looping over pages one.
const DefaultMaxQueriesPerAnalyst = 4

// queryCap counts the store queries each analyst runs, so that one analyst
// (or one leaked token) cannot keep the store busy for everyone: past the
// cap the API answers 429 rather than queue another query at ClickHouse.
type queryCap struct {
	max int

	mu      sync.Mutex
	running map[string]int
}

func newQueryCap(max int) *queryCap { return &queryCap{max: max, running: map[string]int{}} }

// enter takes a slot for analyst; false when all of theirs are taken.
func (c *queryCap) enter(analyst string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running[analyst] >= c.max {
		return false
	}
	c.running[analyst]++
	return true
}

// leave gives the slot back.
func (c *queryCap) leave(analyst string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running[analyst]--; c.running[analyst] <= 0 {
		delete(c.running, analyst)
	}
}
