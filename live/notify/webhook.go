package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Headers of the generic webhook (deploy/notify/README.md).
const (
	// HeaderID carries the notification's id, the deduplication key.
	HeaderID = "X-Kaudit-Notification-Id"
	// HeaderTimestamp is the time of the attempt, in Unix seconds.
	HeaderTimestamp = "X-Kaudit-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed with the
	// shared secret, of the timestamp, a dot, and the body.
	HeaderSignature = "X-Kaudit-Signature"
)

// Webhook posts the notification JSON (deploy/notify/webhook.schema.json)
// to a URL, signed: every attempt carries its own timestamp and the
// HMAC-SHA256 of "<timestamp>.<body>", so that the receiver can refuse a
// forged body and a replayed request.
type Webhook struct {
	base
	url    string
	secret []byte
	token  string
	now    func() time.Time
}

// Sign returns the signature header's value for body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Send posts n.
func (w *Webhook) Send(ctx context.Context, n, _ *Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return &SendError{Err: err}
	}
	now := time.Now()
	if w.now != nil {
		now = w.now()
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	hdr := http.Header{}
	hdr.Set(HeaderID, n.ID)
	hdr.Set(HeaderTimestamp, ts)
	hdr.Set(HeaderSignature, Sign(w.secret, ts, body))
	if w.token != "" {
		hdr.Set("Authorization", "Bearer "+w.token)
	}
	return post(ctx, w.client, w.url, body, hdr)
}
