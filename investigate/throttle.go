package investigate

import (
	"sync"
	"time"
)

// Failed logins are throttled per client address and presented token (the
// key is "ADDRESS|auth.ID(token)"): the same wrong token tried again and
// again from one address is refused for a while, and nobody else's. A
// token file may hold a token weaker than the 256 random bits `kaudit ui`
// makes, and the login form must not be an oracle to guess it at network
// speed: guesses of many tokens are slowed by the handler's auth.Throttle
// per address and token prefix, shared with the bearer header.
const (
	loginFailuresAllowed = 10          // failures per window before refusal
	loginFailureWindow   = time.Minute // how long failures are remembered
	loginThrottleMaxKeys = 10000       // addresses tracked at most
)

// loginThrottle counts failed logins per client address.
type loginThrottle struct {
	now func() time.Time

	mu       sync.Mutex
	failures map[string]*failureWindow
}

type failureWindow struct {
	start time.Time
	count int
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{now: now, failures: map[string]*failureWindow{}}
}

// blocked reports whether addr has failed too often in the current window,
// and when it may try again.
func (l *loginThrottle) blocked(addr string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[addr]
	if f == nil {
		return false, 0
	}
	left := loginFailureWindow - l.now().Sub(f.start)
	if left <= 0 {
		delete(l.failures, addr)
		return false, 0
	}
	return f.count >= loginFailuresAllowed, left
}

// fail records a failed login from addr.
func (l *loginThrottle) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.failures[addr]
	if f == nil || now.Sub(f.start) >= loginFailureWindow {
		if f == nil && len(l.failures) >= loginThrottleMaxKeys {
			l.sweep(now)
		}
		f = &failureWindow{start: now}
		l.failures[addr] = f
	}
	f.count++
}

// sweep forgets windows that ended; if every window is live, it forgets
// them all rather than grow without bound. Called with mu held.
func (l *loginThrottle) sweep(now time.Time) {
	for k, f := range l.failures {
		if now.Sub(f.start) >= loginFailureWindow {
			delete(l.failures, k)
		}
	}
	if len(l.failures) >= loginThrottleMaxKeys {
		clear(l.failures)
	}
}
