package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"sync"
	"time"
)

// Failed authentication is throttled, so that a listener is no oracle to
// guess tokens at network speed (19,000 a second before): each key (a
// source address, a token prefix) has a bucket of failures it may spend,
// refilled at a steady rate. A key whose bucket is empty is refused before
// its credentials are checked, until the bucket refills. Successes spend
// nothing, so a client with the right token is never held back by its
// own past: only a flood of failures from its own address slows it, to the
// refill rate.
const (
	// DefaultThrottleBurst is how many failures a key may have at once.
	DefaultThrottleBurst = 20
	// DefaultThrottleEvery is how often a key earns one failure back.
	DefaultThrottleEvery = time.Second
	// throttleMaxKeys bounds the keys kept: sources and prefixes come from
	// clients.
	throttleMaxKeys = 100000
)

// Throttle counts failures per key. It is safe for concurrent use.
type Throttle struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	left float64 // failures it may still spend
	at   time.Time
}

// NewThrottle allows burst failures per key, and one more every every
// (defaults when zero); now is the clock (nil: time.Now).
func NewThrottle(burst int, every time.Duration, now func() time.Time) *Throttle {
	if burst <= 0 {
		burst = DefaultThrottleBurst
	}
	if every <= 0 {
		every = DefaultThrottleEvery
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{burst: float64(burst), every: every, now: now, buckets: map[string]*bucket{}}
}

// refill brings b up to now. Called with mu held.
func (t *Throttle) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.left = math.Min(t.burst, b.left+float64(d)/float64(t.every))
		b.at = now
	}
}

// Allow reports whether every key may still fail once, and otherwise how
// long until they all may.
func (t *Throttle) Allow(keys ...string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		b := t.buckets[k]
		if b == nil {
			continue
		}
		t.refill(b, now)
		if b.left < 1 {
			wait = max(wait, time.Duration((1-b.left)*float64(t.every)))
		}
	}
	return wait == 0, wait
}

// Fail spends one failure of every key.
func (t *Throttle) Fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		b := t.buckets[k]
		if b == nil {
			if len(t.buckets) >= throttleMaxKeys {
				t.sweep(now)
			}
			b = &bucket{left: t.burst, at: now}
			t.buckets[k] = b
		}
		t.refill(b, now)
		b.left = math.Max(b.left-1, 0)
	}
}

// sweep forgets buckets that refilled (they are as good as new); if every
// bucket is still draining it forgets them all rather than grow. Called
// with mu held.
func (t *Throttle) sweep(now time.Time) {
	for k, b := range t.buckets {
		if t.refill(b, now); b.left >= t.burst {
			delete(t.buckets, k)
		}
	}
	if len(t.buckets) >= throttleMaxKeys {
		clear(t.buckets)
	}
}

// SourceKey is the throttle key of a client address.
func SourceKey(addr string) string { return "src:" + addr }

// PrefixKey is the throttle key of a presented token's first characters
// (hashed: a prefix of a wrong guess may be one of a right token): guesses
// that vary only the rest of a token, from many addresses, share it.
func PrefixKey(token string) string {
	p := token[:min(len(token), 8)]
	h := sha256.Sum256([]byte(p))
	return "pfx:" + hex.EncodeToString(h[:8])
}
