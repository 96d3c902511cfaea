package investigate

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Cookie names. The __Host- prefix, allowed only on Secure cookies, tells
// the browser to refuse the cookie from a subdomain or another path.
const (
	cookieName       = "kaudit_session"
	secureCookieName = "__Host-kaudit_session"
)

// sessions holds live browser sessions. Only the SHA-256 of each session id
// is kept, so a memory dump holds no usable cookie, and the analyst's token
// is never kept at all: a session is proof that a token was shown once.
type sessions struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu   sync.Mutex
	byID map[[sha256.Size]byte]session // hash of id -> session
}

// session is one login: when it ends, and who logged in (auth.ID of the
// token shown), which keys the analyst's query cap.
type session struct {
	exp     time.Time
	analyst string
}

func newSessions(ttl time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, max: max, now: now, byID: map[[sha256.Size]byte]session{}}
}

// create starts a session for an analyst and returns its id, 256 random
// bits.
func (s *sessions) create(analyst string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= s.max {
		s.evict(now)
	}
	s.byID[sha256.Sum256([]byte(id))] = session{exp: now.Add(s.ttl), analyst: analyst}
	return id
}

// evict drops expired sessions, then the one closest to expiry (the
// oldest) while the set is still full. Called with mu held.
func (s *sessions) evict(now time.Time) {
	for k, ss := range s.byID {
		if !now.Before(ss.exp) {
			delete(s.byID, k)
		}
	}
	for len(s.byID) >= s.max {
		var oldest [sha256.Size]byte
		var at time.Time
		first := true
		for k, ss := range s.byID {
			if first || ss.exp.Before(at) {
				oldest, at, first = k, ss.exp, false
			}
		}
		delete(s.byID, oldest)
	}
}

// analyst returns who holds the live session id, if any. The map lookup
// is by a hash of the id, so its timing says nothing about the ids held.
func (s *sessions) analyst(id string) (string, bool) {
	if id == "" {
		return "", false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[k]
	if !ok {
		return "", false
	}
	if !s.now().Before(ss.exp) {
		delete(s.byID, k)
		return "", false
	}
	return ss.analyst, true
}

// end forgets a session (logout).
func (s *sessions) end(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	delete(s.byID, sha256.Sum256([]byte(id)))
	s.mu.Unlock()
}

// secure reports whether r's session cookie is the __Host- one: on TLS,
// or behind a proxy that terminates it (SecureCookies).
func (h *Handler) secure(r *http.Request) bool { return r.TLS != nil || h.opts.SecureCookies }

// sessionCookie returns the session id the request carries, if any, under
// the one cookie name its connection allows: on TLS only the __Host- name,
// which no subdomain, other path or plain-HTTP page can set (a cookie
// planted under the plain name, for session fixation, is ignored there).
func (h *Handler) sessionCookie(r *http.Request) string {
	name := cookieName
	if h.secure(r) {
		name = secureCookieName
	}
	if c, err := r.Cookie(name); err == nil && c.Value != "" {
		return c.Value
	}
	return ""
}

// newCookie builds the session cookie: HttpOnly so page scripts never see
// it, SameSite=Strict so no other site's page can send it, Secure on TLS.
func (h *Handler) newCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	secure := h.secure(r)
	name := cookieName
	if secure {
		name = secureCookieName
	}
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	}
}
