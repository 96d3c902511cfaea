package auth

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestThrottleBurstRefillAndKeys(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	th := NewThrottle(3, time.Second, func() time.Time { return now })
	src, pfx := SourceKey("203.0.113.7"), PrefixKey("kaudit-analyst-AAAA")
	for range 3 {
		if ok, _ := th.Allow(src, pfx); !ok {
			t.Fatal("refused within the burst")
		}
		th.Fail(src, pfx)
	}
	ok, wait := th.Allow(src)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("after the burst: %v %s", ok, wait)
	}
	// Another source with a token of the same first characters shares the
	// prefix's bucket: guesses spread over addresses are slowed too.
	if ok, _ := th.Allow(SourceKey("198.51.100.1"), PrefixKey("kaudit-analyst-BBBB")); ok {
		t.Fatal("the prefix's bucket did not hold across sources")
	}
	if ok, _ := th.Allow(SourceKey("198.51.100.1"), PrefixKey("another-token")); !ok {
		t.Fatal("another source and prefix were refused")
	}
	now = now.Add(time.Second)
	if ok, _ := th.Allow(src, pfx); !ok {
		t.Fatal("no failure earned back after the refill time")
	}
	if PrefixKey("kaudit-analyst-AAAA") != PrefixKey("kaudit-a") || strings.Contains(PrefixKey("secret-token"), "secret") {
		t.Fatal("prefix keys are not hashed prefixes of eight characters")
	}
}

func TestThrottleIsBounded(t *testing.T) {
	th := NewThrottle(1, time.Hour, nil)
	for i := range throttleMaxKeys + 10 {
		th.Fail(SourceKey(string(rune(i))))
	}
	if n := len(th.buckets); n > throttleMaxKeys {
		t.Fatalf("%d keys held, at most %d", n, throttleMaxKeys)
	}
}

func TestRefusalLogIsRateLimited(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	l := NewRefusalLog(slog.New(slog.NewTextHandler(&b, nil)), func() time.Time { return now })
	for range 100 {
		l.Warn("refused", "remote", "x")
	}
	if n := strings.Count(b.String(), "refused"); n != 20 || l.Suppressed() != 80 {
		t.Fatalf("%d lines, %d suppressed; want 20 and 80", n, l.Suppressed())
	}
	now = now.Add(time.Second)
	l.Warn("refused", "remote", "x")
	if !strings.Contains(b.String(), "refusals_not_logged_before=80") {
		t.Fatalf("the next line does not say how many were left out:\n%s", b.String())
	}
}
