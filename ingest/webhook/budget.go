package webhook

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// The in-flight budget bounds the memory requests take: the body as sent,
// once decompressed, and the events decoded from it, each counted before
// it is read or decoded. It is global (MaxInFlightBytes) and per client
// identity (MaxClientInFlightBytes): a client holding all of its own share
// (eight slow or huge bodies from one token) leaves the rest to the others,
// the apiserver among them.

var (
	// errBudgetBusy: no room before the request's queue wait ran out.
	errBudgetBusy = errors.New("too many bytes in flight")
	// errBudgetTooBig: the request needs more than a client may hold at
	// all; waiting would never help.
	errBudgetTooBig = errors.New("larger than a client's in-flight budget")
)

// budget hands out bytes of the in-flight budget.
type budget struct {
	global    *semaphore.Weighted
	clientMax int64

	mu      sync.Mutex
	clients map[string]*clientShare
}

// clientShare is one identity's part of the budget, kept while a request
// of it holds some.
type clientShare struct {
	sem   *semaphore.Weighted
	users int
}

func newBudget(global, perClient int64) *budget {
	return &budget{global: semaphore.NewWeighted(global), clientMax: perClient, clients: map[string]*clientShare{}}
}

// charge is what one request holds of the budget. It is used by the
// request's goroutine only.
type charge struct {
	b        *budget
	id       string
	share    *clientShare
	held     int64
	ctx      context.Context
	deadline time.Time
}

// open starts a request's charge for client id; bytes are added as they
// are read or decoded, waiting for room until deadline.
func (b *budget) open(ctx context.Context, id string, deadline time.Time) *charge {
	b.mu.Lock()
	sh := b.clients[id]
	if sh == nil {
		sh = &clientShare{sem: semaphore.NewWeighted(b.clientMax)}
		b.clients[id] = sh
	}
	sh.users++
	b.mu.Unlock()
	return &charge{b: b, id: id, share: sh, ctx: ctx, deadline: deadline}
}

// add takes n more bytes, from the client's share and then the global
// budget.
func (c *charge) add(n int64) error {
	if n <= 0 {
		return nil
	}
	if c.held+n > c.b.clientMax {
		return errBudgetTooBig
	}
	if !acquire(c.ctx, c.share.sem, n, c.deadline) {
		return errBudgetBusy
	}
	if !acquire(c.ctx, c.b.global, n, c.deadline) {
		c.share.sem.Release(n)
		return errBudgetBusy
	}
	c.held += n
	return nil
}

// close gives back everything the request held.
func (c *charge) close() {
	if c.held > 0 {
		c.b.global.Release(c.held)
		c.share.sem.Release(c.held)
		c.held = 0
	}
	c.b.mu.Lock()
	if c.share.users--; c.share.users == 0 {
		delete(c.b.clients, c.id)
	}
	c.b.mu.Unlock()
}

func acquire(ctx context.Context, sem *semaphore.Weighted, n int64, deadline time.Time) bool {
	if sem.TryAcquire(n) {
		return true
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return sem.Acquire(ctx, n) == nil
}

// itemWeight is what decoding an item of n bytes costs in memory, as
// measured on the sample (about 2,300 bytes an event of 1,300 bytes of
// JSON) and on lists of tiny items (about 480 bytes an item of 100), with
// room for the JSON the store and the spool write of it again.
func itemWeight(n int) int64 { return 512 + 2*int64(n) }
