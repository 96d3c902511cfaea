package investigate

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kaudit/kaudit/auth"
)

// maxLoginBody bounds the login form: a token and nothing else.
const maxLoginBody = 8 << 10

// login shows the login page (GET) or trades an analyst token for a
// session cookie (POST). The token travels only in a POST body: a token in
// the URL would end up in history, proxies' logs and Referer headers.
//
// Long because every refusal of a login (method, size, throttle, token) is
// answered here, in the order it is checked: one place to audit.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("token") {
		writeError(w, http.StatusBadRequest, "tokens are never accepted in URLs; post it from the login form")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if _, ok, _ := h.analyst(r); ok {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		servePage(w, loginPage, http.StatusOK)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on /login")
		return
	}
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-site login refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "login form: "+err.Error())
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	wantJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	// Failures count per source and presented token (this token from this
	// address), so that an analyst with the right token is not locked out
	// by others' failures behind the same address; guessing many tokens is
	// slowed per source and token prefix, as bearer tokens are.
	client := clientAddr(r)
	pair := client + "|" + auth.ID(tok)
	keys := []string{auth.SourceKey(client), auth.PrefixKey(tok)}
	blocked, retry := h.throttle.blocked(pair)
	if ok, wait := h.guesses.Allow(keys...); !ok {
		blocked, retry = true, max(retry, wait)
	}
	if blocked {
		h.metrics.refused.WithLabelValues(reasonLoginThrottled).Inc()
		h.refusals.Warn("analyst login refused", "remote", r.RemoteAddr, "reason", "too many failed logins")
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "too many failed logins from this address; try again later")
		return
	}
	if !h.tokens.Valid(tok) {
		h.throttle.fail(pair)
		h.guesses.Fail(keys...)
		h.metrics.refused.WithLabelValues(reasonLoginFailed).Inc()
		h.refusals.Warn("analyst login refused", "remote", r.RemoteAddr, "reason", "invalid token")
		if wantJSON {
			writeError(w, http.StatusUnauthorized, "invalid analyst token")
		} else {
			servePage(w, loginFailedPage, http.StatusUnauthorized)
		}
		return
	}
	if old := h.sessionCookie(r); old != "" {
		h.sessions.end(old) // a fresh id at every login: no session fixation
	}
	id := h.sessions.create(auth.ID(tok))
	// No Max-Age: the cookie dies with the browser; the server's TTL bounds
	// it while the browser runs.
	http.SetCookie(w, h.newCookie(r, id, 0))
	h.log.Info("analyst logged in", "remote", r.RemoteAddr)
	if wantJSON {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session and clears its cookie. POST only, so that no
// link or image on another page logs the analyst out.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on /logout")
		return
	}
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-site logout refused")
		return
	}
	h.sessions.end(h.sessionCookie(r))
	http.SetCookie(w, h.newCookie(r, "", -1))
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// sameOrigin refuses form posts sent by another site's page. Browsers send
// Sec-Fetch-Site on every request and Origin on POSTs; clients that send
// neither (curl) are not browsers an attacker's page can drive.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// clientAddr is the address failed logins are counted under: the peer's
// IP, without the port that changes with every connection.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
