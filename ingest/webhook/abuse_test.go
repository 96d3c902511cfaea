package webhook

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaudit/kaudit/auth"
)

// Guessing bearer tokens is throttled per source address: past a burst of
// failures, requests with a token get 429 with Retry-After without the
// token being checked, until the source earns failures back (one a
// second). Guesses at 19,000 a second become guesses at one a second.
func TestBearerGuessingIsThrottled(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fx := newFixture(t, func(c *Config) { c.Throttle = auth.NewThrottle(0, 0, clock) })
	body := eventList(sampleItems(t, 2))
	for i := range auth.DefaultThrottleBurst {
		if code, _, _ := fx.post(t, fmt.Sprintf("guess-%d", i), body, nil); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	code, resp, hdr := fx.post(t, "guess-next", body, nil)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || resp.Error == "" {
		t.Fatalf("guess past the burst: %d %q %+v, want 429 with Retry-After", code, hdr.Get("Retry-After"), resp)
	}
	if got := fx.rejected(reasonThrottled); got != 1 {
		t.Fatalf("throttled counter %v", got)
	}
	mu.Lock()
	now = now.Add(auth.DefaultThrottleEvery)
	mu.Unlock()
	if code, _, _ := fx.post(t, token, body, nil); code != http.StatusOK {
		t.Fatalf("the right token once the source earned a failure back: %d", code)
	}
	// Successes spend nothing: the right token goes on working.
	for range 3 {
		if code, _, _ := fx.post(t, token, body, nil); code != http.StatusOK {
			t.Fatalf("the right token again: %d", code)
		}
	}
}

// Unauthenticated requests are counted, every one, but logged at about a
// line a second: 300 of them write a burst of lines, not 300.
func TestUnauthenticatedLogsAreRateLimited(t *testing.T) {
	fx := newFixture(t, nil)
	body := eventList(sampleItems(t, 1))
	for range 300 {
		if code, _, _ := fx.post(t, "", body, nil); code != http.StatusUnauthorized {
			t.Fatalf("no token: %d", code)
		}
	}
	if got := fx.rejected(reasonUnauthenticated); got != 300 {
		t.Fatalf("unauthenticated counter %v, want 300", got)
	}
	lines := strings.Count(fx.logs.String(), `"reason":"unauthenticated"`)
	if lines > 30 || lines < 1 {
		t.Fatalf("%d log lines for 300 unauthenticated requests, want a burst of about 20", lines)
	}
	if got := collectorNamed(t, fx, "kaudit_webhook_refusals_not_logged_total"); got != float64(300-lines) {
		t.Fatalf("refusals_not_logged %v, want %d", got, 300-lines)
	}
}

// collectorNamed reads one metric of the fixture's registry.
func collectorNamed(t *testing.T, fx *fixture, name string) float64 {
	t.Helper()
	mfs, err := fx.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
