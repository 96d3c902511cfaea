// Package redact replaces secret values in audit events with keyed hashes
// before any other stage (detection, storage, output) sees them.
//
// What counts as a secret: data and stringData of Secrets (also inside Lists,
// patch bodies and the kubectl last-applied-configuration annotation),
// status.token of TokenRequests, spec.token of TokenReviews, values of
// environment variables and ConfigMap keys whose names look like
// credentials and of any key ending in password, secret or token; and,
// under any key and in the request URI's query, annotations and the user's
// extra attributes, values shaped like credentials: --*password= flags,
// password=/secret= lines, URLs with a password, Authorization headers,
// JWTs and PEM private keys, in clear or base64. Bodies are parsed (escapes
// decoded, every value of a duplicated key judged), never searched as
// bytes. Each value becomes a marker carrying an HMAC-SHA256 of it, so an
// analyst can still tell that two events carried the same secret without
// seeing it.
package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"regexp"
	"sync"

	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// MarkerPrefix starts every replacement value. Rules can test for it to
// know a credential was present without seeing it.
const MarkerPrefix = "kaudit-redacted:hmac-sha256:"

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// credentialName matches names of environment variables and ConfigMap keys
// that conventionally hold credentials.
var credentialName = regexp.MustCompile(`(?i)(passw(or)?d|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth|bearer|dsn|connection[_-]?string|cert[_-]?key)`)

// Redactor replaces secrets with keyed hashes. It is safe for concurrent use.
type Redactor struct {
	key  []byte
	pool sync.Pool
}

// New returns a Redactor keyed with key. An empty key is refused: use
// NewRandom for a per-run key.
func New(key []byte) (*Redactor, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("redaction key is empty")
	}
	r := &Redactor{key: append([]byte(nil), key...)}
	r.pool.New = func() any { return hmac.New(sha256.New, r.key) }
	return r, nil
}

// NewRandom returns a Redactor with a random key. Hashes then match only
// within one run, which is why callers warn when they fall back to it.
func NewRandom() *Redactor {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the OS has no entropy: nothing sane to do
	}
	r, _ := New(key)
	return r
}

// Marker returns the replacement for a secret value.
func (r *Redactor) Marker(value []byte) string {
	h := r.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(value)
	sum := h.Sum(nil)
	r.pool.Put(h)
	return MarkerPrefix + hex.EncodeToString(sum[:16])
}

// Redact rewrites the event in place: its request and response bodies,
// and the metadata fields a client or an authenticator fills with free
// text (the request URI's query, audit annotations, the user's extra
// attributes, the user agent, the response's status message).
func (r *Redactor) Redact(ev *auditv1.Event) {
	c := contextOf(ev)
	for _, u := range []*runtime.Unknown{ev.RequestObject, ev.ResponseObject} {
		if u != nil {
			u.Raw, _ = r.redactBody(u.Raw, c)
		}
	}
	ev.RequestURI, _ = r.redactURI(ev.RequestURI)
	ev.UserAgent, _ = r.scrub(ev.UserAgent)
	for k, v := range ev.Annotations {
		if out, ok := r.scrub(v); ok {
			ev.Annotations[k] = out
		}
	}
	r.extra(ev.User.Extra)
	if ev.ImpersonatedUser != nil {
		r.extra(ev.ImpersonatedUser.Extra)
	}
	if st := ev.ResponseStatus; st != nil {
		st.Message, _ = r.scrub(st.Message)
	}
}

// extra redacts the values of a user's extra attributes that look like
// credentials (an authenticating proxy passing a bearer token along); the
// token's credential id (JTI=…) is an id, not a credential, and stays.
func (r *Redactor) extra(x map[string]authnv1.ExtraValue) {
	for k, vs := range x {
		for i, v := range vs {
			if out, ok := r.scrub(v); ok {
				vs[i] = out
			}
		}
		x[k] = vs
	}
}
