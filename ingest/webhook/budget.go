package webhook

import (
	"context"
	"errors"
	"sync"
	"time"
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

// budget hands out bytes of the in-flight budget. Requests charge a little
// at a time (a chunk, an item), so requests that each hold part of what
// they need could wait for one another until they all time out (with a
// FIFO semaphore, the first of eight gzip bodies stalled behind the seven
// waiting for its bytes). So bytes go to whoever they fit, and when they
// do not, the oldest request holding bytes of the full pool waits for room
// while younger holders give up at once (429), freeing theirs: the oldest
// always finishes. A request that holds nothing yet waits for room.
type budget struct {
	globalMax, clientMax int64

	mu      sync.Mutex
	used    int64
	clients map[string]*clientShare
	holders map[*charge]struct{} // charges holding bytes
	seq     uint64
	freed   chan struct{} // closed, and replaced, whenever bytes come back
}

// clientShare is one identity's part of the budget, kept while a request
// of it holds some.
type clientShare struct {
	used  int64
	users int
}

func newBudget(global, perClient int64) *budget {
	return &budget{globalMax: global, clientMax: perClient, clients: map[string]*clientShare{},
		holders: map[*charge]struct{}{}, freed: make(chan struct{})}
}

// charge is what one request holds of the budget. It is used by the
// request's goroutine only.
type charge struct {
	b        *budget
	seq      uint64 // order of arrival: lower is older
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
		sh = &clientShare{}
		b.clients[id] = sh
	}
	sh.users++
	b.seq++
	c := &charge{b: b, seq: b.seq, id: id, share: sh, ctx: ctx, deadline: deadline}
	b.mu.Unlock()
	return c
}

// olderHolder reports whether a request older than c holds bytes of the
// pool c waits for: its client's share when that is what is full, else the
// global budget. Called with mu held.
func (b *budget) olderHolder(c *charge, shareFull bool) bool {
	for h := range b.holders {
		if h.seq < c.seq && (!shareFull || h.share == c.share) {
			return true
		}
	}
	return false
}

// add takes n more bytes, from the client's share and the global budget
// together, waiting until both have room or the deadline passes.
func (c *charge) add(n int64) error {
	if n <= 0 {
		return nil
	}
	b := c.b
	if c.held+n > b.clientMax {
		return errBudgetTooBig
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	b.mu.Lock()
	for {
		if c.take(n) {
			b.mu.Unlock()
			return nil
		}
		if c.held > 0 && b.olderHolder(c, c.share.used+n > b.clientMax) {
			b.mu.Unlock()
			return errBudgetBusy
		}
		freed := b.freed
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(c.deadline))
		}
		select {
		case <-freed:
		case <-timer.C:
			return errBudgetBusy
		case <-c.ctx.Done():
			return errBudgetBusy
		}
		b.mu.Lock()
	}
}

// take takes n bytes for c if both the client's share and the global
// budget have room for them; b.mu is held.
func (c *charge) take(n int64) bool {
	if c.share.used+n > c.b.clientMax || c.b.used+n > c.b.globalMax {
		return false
	}
	c.share.used += n
	c.b.used += n
	c.held += n
	c.b.holders[c] = struct{}{}
	return true
}

// tryAdd takes n more bytes if both the client's share and the global
// budget have room now, without waiting: a list that cannot be weighed
// whole at once is weighed item by item, by add, which waits its turn.
func (c *charge) tryAdd(n int64) bool {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	return n <= 0 || c.take(n)
}

// give gives back n of what the request holds (at most all of it).
func (c *charge) give(n int64) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.giveLocked(n)
}

// giveLocked is give with b.mu held.
func (c *charge) giveLocked(n int64) {
	b := c.b
	if n = min(n, c.held); n <= 0 {
		return
	}
	b.used -= n
	c.share.used -= n
	c.held -= n
	if c.held == 0 {
		delete(b.holders, c)
	}
	close(b.freed)
	b.freed = make(chan struct{})
}

// close gives back everything the request held.
func (c *charge) close() {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	c.giveLocked(c.held)
	if c.share.users--; c.share.users == 0 {
		delete(b.clients, c.id)
	}
}

// itemWeight is what decoding an item of n bytes costs in memory, as
// measured on the sample (about 2,300 bytes an event of 1,300 bytes of
// JSON) and on lists of tiny items (about 480 bytes an item of 100), with
// room for the JSON the store and the spool write of it again.
func itemWeight(n int) int64 { return 512 + 2*int64(n) }

// listWeight is what decoding items items of n bytes in all costs: each
// weighed as itemWeight does.
func listWeight(items, n int) int64 { return 512*int64(items) + 2*int64(n) }

// weigher weighs what a request decodes against its charge (ingest.Weigher).
type weigher struct {
	c    *charge
	list int64 // what List took, until Settle
}

// Item takes an item's weight, waiting for room as add does.
func (w *weigher) Item(raw []byte) error { return w.c.add(itemWeight(len(raw))) }

// List takes a list's most weight at once, when there is room for it now
// and it is a small part of what a client may hold: the one pass's bound
// counts every opening brace as an item, and a large list weighed so would
// be refused (413) where its items weighed one by one fit.
func (w *weigher) List(maxItems, n int) bool {
	w.list = listWeight(maxItems, n)
	if w.list > w.c.b.clientMax/8 || !w.c.tryAdd(w.list) {
		w.list = 0
		return false
	}
	return true
}

// Settle gives back what List took beyond the weight of the items decoded.
func (w *weigher) Settle(items, n int) {
	w.c.give(w.list - listWeight(items, n))
	w.list = 0
}
