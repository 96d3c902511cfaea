package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect/rulefile"
)

// Receiver delivers notifications to one destination.
type Receiver interface {
	// Name is the receiver's stable name (metrics, outbox rows).
	Name() string
	// Type is alertmanager, webhook or slack.
	Type() string
	// Wants says whether the receiver hears of this incident at all.
	Wants(s *Summary) bool
	// Send delivers n. prev is the last notification of the same incident
	// this receiver acknowledged (nil if none): Alertmanager resolves the
	// alert of its labels when they changed. A nil error means the
	// receiver acknowledged it (2xx); otherwise a *SendError.
	Send(ctx context.Context, n, prev *Notification) error
}

// SendError is a failed attempt: the receiver's answer, or why there was
// none.
type SendError struct {
	Status int // 0 when there was no answer
	// RetryAfter is what the receiver asked for (Retry-After), 0 if nothing.
	RetryAfter time.Duration
	Body       string
	Err        error
}

func (e *SendError) Error() string {
	if e.Status == 0 {
		return e.Err.Error()
	}
	msg := fmt.Sprintf("HTTP %d", e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (Retry-After %s)", e.RetryAfter)
	}
	return msg
}

func (e *SendError) Unwrap() error { return e.Err }

// retryAfterOf is the Retry-After an error carries, 0 if none.
func retryAfterOf(err error) time.Duration {
	var se *SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// base is what every receiver shares: its name, client and filter.
type base struct {
	name, typ   string
	client      *http.Client
	minSeverity string
	match       Match
}

func (b *base) Name() string { return b.name }
func (b *base) Type() string { return b.typ }

// Wants applies min_severity and match.
func (b *base) Wants(s *Summary) bool {
	if rulefile.SeverityRank(s.Severity) < rulefile.SeverityRank(b.minSeverity) {
		return false
	}
	return anyMatch(b.match.Tactics, s.Tactics) && anyMatch(b.match.Namespaces, s.Namespaces) && anyMatch(b.match.Actors, s.Actors)
}

// anyMatch: no patterns match everything; else one value must match one
// pattern.
func anyMatch(patterns, values []string) bool {
	if len(patterns) == 0 {
		return true
	}
	return slices.ContainsFunc(values, func(v string) bool {
		return slices.ContainsFunc(patterns, func(p string) bool {
			ok, _ := path.Match(p, v)
			return ok
		})
	})
}

// NewReceivers builds the receivers of notify.receivers, reading their
// secret files and CAs. minSeverity is notify.min_severity, the default of
// each receiver's own.
func NewReceivers(cfgs []ReceiverConfig, minSeverity string) ([]Receiver, error) {
	var out []Receiver
	for i := range cfgs {
		rc := cfgs[i]
		at := fmt.Sprintf("receivers[%d]", i)
		client, err := httpClient(at, &rc)
		if err != nil {
			return nil, err
		}
		b := base{name: rc.Name, typ: rc.Type, client: client, minSeverity: rc.MinSeverity, match: rc.Match}
		if b.minSeverity == "" {
			b.minSeverity = minSeverity
		}
		var token string
		if rc.TokenFile != "" {
			if token, err = readSecret(at, "token_file", rc.TokenFile); err != nil {
				return nil, err
			}
		}
		switch rc.Type {
		case TypeAlertmanager:
			out = append(out, &Alertmanager{base: b, url: strings.TrimRight(rc.URL, "/") + "/api/v2/alerts", token: token})
		case TypeWebhook:
			secret, err := readSecret(at, "secret_file", rc.SecretFile)
			if err != nil {
				return nil, err
			}
			out = append(out, &Webhook{base: b, url: rc.URL, secret: []byte(secret), token: token})
		case TypeSlack:
			u, err := readSecret(at, "url_file", rc.URLFile)
			if err != nil {
				return nil, err
			}
			if err := checkURL(u); err != nil {
				return nil, fmt.Errorf("%s.url_file: the URL in %s: %v", at, rc.URLFile, err)
			}
			out = append(out, &Slack{base: b, url: u})
		}
	}
	return out, nil
}

// post sends a JSON body and turns anything but a 2xx into a *SendError.
func post(ctx context.Context, client *http.Client, url string, body []byte, hdr http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return &SendError{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kaudit-notify/1")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return &SendError{Err: redactURL(err)}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &SendError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Body: strings.TrimSpace(string(msg)), Err: fmt.Errorf("HTTP %d", resp.StatusCode)}
}

// redactURL keeps a URL (a Slack webhook's is a secret) out of an error.
func redactURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil && strings.HasPrefix(err.Error(), "Post ") {
			return fmt.Errorf("POST: %w", inner)
		}
	}
	return err
}

// maxRetryAfter caps what a receiver may ask for.
const maxRetryAfter = time.Hour

// parseRetryAfter reads Retry-After: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
