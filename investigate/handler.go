// Package investigate is the analyst's view of kaudit: a read-only JSON
// query API over the store (timeline, incidents, one incident, one event)
// and the web page that uses it, both behind analyst authentication. The
// same handler serves `kaudit serve` (on api.listen, over ClickHouse) and
// `kaudit ui` (on a local port, over files loaded into the memory store).
//
// It reads the store through store.Reader only, and may import everything
// below it but package live, whose writing it never needs.
package investigate

import (
	"log/slog"
	"net/http"
	pathpkg "path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/rules"
	"github.com/kaudit/kaudit/store"
)

// Options tune the handler. The zero value is usable.
type Options struct {
	// SecureCookies marks the session cookie Secure even on requests that
	// did not arrive over TLS, for when a proxy in front terminates TLS.
	// Requests that arrive over TLS always get a Secure cookie.
	SecureCookies bool
	// SessionTTL is how long a login lasts (default 12 hours: one shift).
	SessionTTL time.Duration
	// MaxSessions caps live sessions, so that logins cannot grow memory
	// without bound (default 10,000; the oldest is dropped beyond it).
	MaxSessions int
	// Logger receives failed logins and store errors (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock, for since/until durations and session expiry
	// (default time.Now).
	Now func() time.Time
	// Rules are the rules findings came from, for highlighting the fields
	// a finding's rule looked at (default: the built-in library).
	Rules *rulefile.RuleSet
	// MaxQueriesPerAnalyst caps the store queries one analyst runs at once
	// (api.max_queries_per_analyst; DefaultMaxQueriesPerAnalyst when zero):
	// beyond it the API answers 429.
	MaxQueriesPerAnalyst int
	// Throttle slows down guessing of analyst tokens, by bearer header or
	// login form: failures per source address and per token prefix (nil:
	// auth's defaults). serve shares it with /metrics.
	Throttle *auth.Throttle
	// Registerer receives the handler's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Handler serves the query API under /api/v1/, the page at /, its assets
// under /assets/, and /login and /logout.
type Handler struct {
	st       store.Reader
	tokens   *auth.Tokens
	opts     Options
	sessions *sessions
	throttle *loginThrottle
	guesses  *auth.Throttle
	queries  *queryCap
	refusals *auth.RefusalLog
	metrics  *metrics
	log      *slog.Logger
	mux      *http.ServeMux
	rules    map[string]*rulefile.Rule
}

// NewHandler returns the analyst's view over st: the read-only query API
// (GET /api/v1/timeline, /api/v1/incidents, /api/v1/incidents/{id} and its
// /report, /api/v1/events/{auditID} and its /diff, /api/v1/tactics) and the
// web page, mounted at the root of the listener (api.listen for `kaudit
// serve`). Analysts authenticate with a
// token of tokens: API clients as "Authorization: Bearer", browsers through
// the login page, which trades the token for a session cookie. Requests
// without either get 401 JSON on the API and the login page elsewhere,
// never data. tokens must be the analysts' set, never the webhook's.
func NewHandler(st store.Reader, tokens *auth.Tokens, opts Options) http.Handler {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rules == nil {
		opts.Rules, _ = rules.Load("") // the embedded library loads, or no highlighting
	}
	if opts.MaxQueriesPerAnalyst <= 0 {
		opts.MaxQueriesPerAnalyst = DefaultMaxQueriesPerAnalyst
	}
	if opts.Throttle == nil {
		opts.Throttle = auth.NewThrottle(0, 0, opts.Now)
	}
	h := &Handler{
		st: st, tokens: tokens, opts: opts, log: opts.Logger,
		sessions: newSessions(opts.SessionTTL, opts.MaxSessions, opts.Now),
		throttle: newLoginThrottle(opts.Now),
		guesses:  opts.Throttle,
		queries:  newQueryCap(opts.MaxQueriesPerAnalyst),
		refusals: auth.NewRefusalLog(opts.Logger, opts.Now),
		mux:      http.NewServeMux(),
		rules:    map[string]*rulefile.Rule{},
	}
	if opts.Rules != nil {
		for _, r := range opts.Rules.Rules {
			h.rules[r.ID] = r
		}
	}
	h.metrics = newMetrics(opts.Registerer, h.refusals)
	h.mux.HandleFunc("/api/v1/timeline", h.timeline)
	h.mux.HandleFunc("/api/v1/incidents", h.incidents)
	h.mux.HandleFunc("/api/v1/incidents/{id}", h.incident)
	h.mux.HandleFunc("/api/v1/incidents/{id}/report", h.report)
	h.mux.HandleFunc("/api/v1/events/{auditID}", h.event)
	h.mux.HandleFunc("/api/v1/events/{auditID}/diff", h.eventDiff)
	h.mux.HandleFunc("/api/v1/tactics", h.tactics)
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API path: "+r.URL.Path)
	})
	h.mux.Handle("/assets/", assetHandler())
	h.mux.HandleFunc("/login", h.login)
	h.mux.HandleFunc("/logout", h.logout)
	h.mux.HandleFunc("/{$}", h.index)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})
	return h
}

// ServeHTTP authenticates the request before anything reads the store.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w)
	path := r.URL.Path
	// Only clean paths are public: "/assets/../api/v1/incidents" must not
	// pass as an asset before the mux cleans it.
	public := path == "/login" || path == "/logout" || (strings.HasPrefix(path, "/assets/") && pathpkg.Clean(path) == path)
	analyst, ok, wait := h.analyst(r)
	if !public && !ok {
		if wait > 0 {
			h.refused(r, reasonThrottled)
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writeError(w, http.StatusTooManyRequests, "too many failed authentications from this address or with this token; try again later")
			return
		}
		if strings.HasPrefix(path, "/api/") {
			reason := reasonNoCredentials
			if _, ok := auth.BearerToken(r); ok {
				reason = reasonInvalidToken
			} else if h.sessionCookie(r) != "" {
				reason = reasonNoSession
			}
			h.refused(r, reason)
			w.Header().Set("WWW-Authenticate", `Bearer realm="kaudit"`)
			writeError(w, http.StatusUnauthorized, "authentication required: an analyst bearer token or a session from the login page")
			return
		}
		// Any page asked for without a session gets the login page, at
		// the same URL, so a bookmarked view opens after logging in.
		servePage(w, loginPage, http.StatusUnauthorized)
		return
	}
	if path != "/login" && path != "/logout" {
		// The API and the page only read: anything but GET/HEAD is refused
		// before it reaches a handler.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "read-only: "+r.Method+" is not allowed, only GET and HEAD")
			return
		}
	}
	if strings.HasPrefix(path, "/api/v1/") && path != "/api/v1/tactics" {
		if !h.queries.enter(analyst) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "too many queries of yours are running; wait for them (api.max_queries_per_analyst)")
			return
		}
		defer h.queries.leave(analyst)
	}
	h.mux.ServeHTTP(w, r)
}

// analyst returns who r authenticates as (auth.ID of the analyst's token),
// by a valid bearer token or a live session cookie. A bearer token from a
// source or with a prefix that failed too often is not checked: wait says
// when to come back.
func (h *Handler) analyst(r *http.Request) (id string, ok bool, wait time.Duration) {
	if tok, ok := auth.BearerToken(r); ok {
		keys := []string{auth.SourceKey(clientAddr(r)), auth.PrefixKey(tok)}
		if allowed, wait := h.guesses.Allow(keys...); !allowed {
			return "", false, wait
		}
		if h.tokens.Valid(tok) {
			return auth.ID(tok), true, 0
		}
		h.guesses.Fail(keys...)
		return "", false, 0
	}
	id, ok = h.sessions.analyst(h.sessionCookie(r))
	return id, ok, 0
}

// refused counts a refused request and logs it, at about a line a second.
func (h *Handler) refused(r *http.Request, reason string) {
	h.metrics.refused.WithLabelValues(reason).Inc()
	h.refusals.Warn("query API request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", reason)
}

// setSecurityHeaders keeps the page's data in the page: no framing, no
// script but ours, no referrer carrying a view's URL to another site.
func setSecurityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
}
