package investigate

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/auth"
)

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each answer.
func browser(t *testing.T, srv *httptest.Server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func postLogin(t *testing.T, c *http.Client, base, token string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, c, req)
}

func getPath(t *testing.T, c *http.Client, base, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

func TestUnauthenticatedGetsLoginPageNeverData(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	c := browser(t, srv)
	for _, path := range []string{"/", "/anything", "/login"} {
		res, body := getPath(t, c, srv.URL, path)
		if !strings.Contains(body, `name="token"`) || strings.Contains(body, "mallory") || strings.Contains(body, "inc-") {
			t.Errorf("GET %s without a session: %d, want the login page and no data:\n%s", path, res.StatusCode, body)
		}
	}
	for _, path := range []string{"/api/v1/incidents", "/api/v1/timeline?actor=mallory", "/api/v1/events/x", "/api/v1/incidents/inc-4996bc7c5fc5"} {
		res, body := getPath(t, c, srv.URL, path)
		if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
			strings.Contains(body, "mallory") || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without credentials: %d %q", path, res.StatusCode, body)
		}
	}
	// A wrong token, or the webhook's token, opens nothing.
	for _, tok := range []string{"wrong", "webhook-token-0123456789", analystToken + "x"} {
		var e apiError
		if res := get(t, srv, "GET", "/api/v1/incidents", tok, &e); res.StatusCode != 401 {
			t.Errorf("token %q: %d", tok, res.StatusCode)
		}
	}
	// The assets hold no data and are public: the login page needs them.
	if res, _ := getPath(t, c, srv.URL, "/assets/login.js"); res.StatusCode != 200 {
		t.Errorf("login.js: %d", res.StatusCode)
	}
}

func TestLoginSetsSessionCookie(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	c := browser(t, srv)
	res, _ := postLogin(t, c, srv.URL, "wrong-token", nil)
	if res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Fatalf("bad token: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	res, _ = postLogin(t, c, srv.URL, analystToken, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("want one cookie, got %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != cookieName || ck.MaxAge != 0 || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" {
		t.Fatalf("cookie attributes: %+v", ck)
	}
	if strings.Contains(ck.Value, analystToken) || len(ck.Value) < 40 {
		t.Fatalf("cookie value must be a random session id, not the token: %q", ck.Value)
	}
	res, body := getPath(t, c, srv.URL, "/")
	if res.StatusCode != 200 || !strings.Contains(body, "/assets/app.js") {
		t.Fatalf("page with a session: %d", res.StatusCode)
	}
	res, body = getPath(t, c, srv.URL, "/api/v1/incidents")
	if res.StatusCode != 200 || !strings.Contains(body, "mallory") {
		t.Fatalf("API with a session: %d", res.StatusCode)
	}
	if res, _ := getPath(t, c, srv.URL, "/login"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login page with a session should send to /: %d", res.StatusCode)
	}

	// Logout ends the session on the server, not only in this browser.
	req, _ := http.NewRequest("POST", srv.URL+"/logout", nil)
	if res, _ := do(t, c, req); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	stolen := browser(t, srv)
	u, _ := url.Parse(srv.URL)
	stolen.Jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: ck.Value}})
	if res, _ := getPath(t, stolen, srv.URL, "/api/v1/incidents"); res.StatusCode != 401 {
		t.Fatalf("session id after logout: %d", res.StatusCode)
	}
}

func TestLoginJSONAndRefusals(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	c := browser(t, srv)
	res, _ := postLogin(t, c, srv.URL, analystToken, map[string]string{"Accept": "application/json", "Origin": srv.URL, "Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != http.StatusNoContent || len(res.Cookies()) != 1 {
		t.Fatalf("fetch login: %d", res.StatusCode)
	}
	res, _ = postLogin(t, browser(t, srv), srv.URL, analystToken, map[string]string{"Origin": "https://evil.example"})
	if res.StatusCode != 403 || len(res.Cookies()) != 0 {
		t.Fatalf("cross-origin login: %d", res.StatusCode)
	}
	res, _ = postLogin(t, browser(t, srv), srv.URL, analystToken, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if res.StatusCode != 403 {
		t.Fatalf("cross-site login: %d", res.StatusCode)
	}
	res, body := getPath(t, browser(t, srv), srv.URL, "/login?token="+analystToken)
	if res.StatusCode != 400 || len(res.Cookies()) != 0 || !strings.Contains(body, "never accepted in URLs") {
		t.Fatalf("token in URL: %d %s", res.StatusCode, body)
	}
	res, _ = postLogin(t, browser(t, srv), srv.URL, strings.Repeat("x", maxLoginBody+10), nil)
	if res.StatusCode != 400 {
		t.Fatalf("oversized login form: %d", res.StatusCode)
	}
}

func TestSecureCookieOnTLS(t *testing.T) {
	toks, _ := auth.NewTokens(analystToken)
	srv := httptest.NewTLSServer(NewHandler(loadSample(t), toks, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	c := browser(t, srv)
	res, _ := postLogin(t, c, srv.URL, analystToken, nil)
	ck := res.Cookies()
	if len(ck) != 1 || !ck[0].Secure || ck[0].Name != secureCookieName || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("TLS cookie: %+v", ck)
	}
	if res, _ := getPath(t, c, srv.URL, "/api/v1/incidents"); res.StatusCode != 200 {
		t.Fatalf("API over TLS with session: %d", res.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	srv := newTestServer(t, loadSample(t), Options{SessionTTL: time.Hour, Now: func() time.Time { return now }})
	c := browser(t, srv)
	postLogin(t, c, srv.URL, analystToken, nil)
	if res, _ := getPath(t, c, srv.URL, "/api/v1/incidents"); res.StatusCode != 200 {
		t.Fatalf("fresh session: %d", res.StatusCode)
	}
	now = now.Add(61 * time.Minute)
	if res, _ := getPath(t, c, srv.URL, "/api/v1/incidents"); res.StatusCode != 401 {
		t.Fatalf("expired session: %d", res.StatusCode)
	}
}

func TestSessionsAreCapped(t *testing.T) {
	now := time.Now()
	s := newSessions(time.Hour, 3, func() time.Time { now = now.Add(time.Second); return now })
	ids := []string{s.create("a"), s.create("b"), s.create("c"), s.create("d")}
	if _, ok := s.analyst(ids[0]); ok {
		t.Fatal("the oldest session should have been dropped at the cap")
	}
	for i, id := range ids[1:] {
		if who, ok := s.analyst(id); !ok || who != string(rune('b'+i)) {
			t.Fatalf("a recent session was dropped or lost its analyst: %q %v", who, ok)
		}
	}
	if len(s.byID) != 3 {
		t.Fatalf("%d sessions held, cap 3", len(s.byID))
	}
}

// The same wrong token tried again from one address is refused for a
// while, but an analyst with the right token behind that address is not
// locked out by it. Guessing many tokens from one address is slowed to a
// failure a second once a burst is spent.
func TestFailedLoginsAreThrottled(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	srv := newTestServer(t, loadSample(t), Options{Now: func() time.Time { return now }})
	c := browser(t, srv)
	for i := 0; i < loginFailuresAllowed; i++ {
		if res, _ := postLogin(t, c, srv.URL, "guess", nil); res.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, res.StatusCode)
		}
	}
	res, _ := postLogin(t, c, srv.URL, "guess", nil)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || len(res.Cookies()) != 0 {
		t.Fatalf("the same wrong token after %d failures: %d, Retry-After %q", loginFailuresAllowed, res.StatusCode, res.Header.Get("Retry-After"))
	}
	// Another analyst behind the same address, with the right token.
	if res, _ := postLogin(t, browser(t, srv), srv.URL, analystToken, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right token after others' failures from the same address: %d, want 303", res.StatusCode)
	}
	// Many different guesses: past the burst, refused unchecked.
	code := 0
	for i := 0; i < auth.DefaultThrottleBurst; i++ {
		res, _ := postLogin(t, c, srv.URL, fmt.Sprintf("guess-%d", i), nil)
		code = res.StatusCode
	}
	if code != http.StatusTooManyRequests {
		t.Fatalf("guesses of many tokens past the burst: %d, want 429", code)
	}
	now = now.Add(auth.DefaultThrottleEvery)
	if res, _ := postLogin(t, browser(t, srv), srv.URL, analystToken, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right token a second later: %d", res.StatusCode)
	}
	now = now.Add(loginFailureWindow)
	if res, _ := postLogin(t, c, srv.URL, "guess", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the wrong token after the window: %d, want 401 again", res.StatusCode)
	}
}

// Guessing bearer tokens on the API is throttled per source and counted.
func TestBearerGuessingOnTheAPIIsThrottled(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	srv := newTestServer(t, loadSample(t), Options{Now: func() time.Time { return now }, Registerer: reg})
	for i := 0; i < auth.DefaultThrottleBurst; i++ {
		if res := get(t, srv, "GET", "/api/v1/incidents", fmt.Sprintf("guess-%d", i), nil); res.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i, res.StatusCode)
		}
	}
	var e apiError
	res := get(t, srv, "GET", "/api/v1/incidents", "guess-next", &e)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a guess past the burst: %d %+v", res.StatusCode, e)
	}
	now = now.Add(auth.DefaultThrottleEvery)
	if res := get(t, srv, "GET", "/api/v1/incidents", analystToken, nil); res.StatusCode != 200 {
		t.Fatalf("the right token a second later: %d", res.StatusCode)
	}
	counts := map[string]float64{}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "kaudit_api_refused_total" {
			for _, m := range mf.GetMetric() {
				counts[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if counts[reasonInvalidToken] != float64(auth.DefaultThrottleBurst) || counts[reasonThrottled] != 1 {
		t.Fatalf("kaudit_api_refused_total %v", counts)
	}
}

// On TLS only the __Host- cookie carries a session: one planted under the
// plain name (by a subdomain, or over plain HTTP) is ignored.
func TestOnlyHostCookieOnTLS(t *testing.T) {
	toks, _ := auth.NewTokens(analystToken)
	srv := httptest.NewTLSServer(NewHandler(loadSample(t), toks, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	c := browser(t, srv)
	res, _ := postLogin(t, c, srv.URL, analystToken, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	var id string
	for _, ck := range res.Cookies() {
		if ck.Name == secureCookieName {
			id = ck.Value
		}
	}
	if id == "" {
		t.Fatal("no __Host- cookie on TLS")
	}
	for name, want := range map[string]int{secureCookieName: 200, cookieName: 401} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/incidents", nil)
		req.AddCookie(&http.Cookie{Name: name, Value: id})
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("session under cookie %s on TLS: %d, want %d", name, res.StatusCode, want)
		}
	}
}

func TestUncleanAssetPathIsNotPublic(t *testing.T) {
	srv := newTestServer(t, loadSample(t), Options{})
	c := browser(t, srv)
	req, _ := http.NewRequest("GET", srv.URL+"/assets/x", nil)
	req.URL.Path = "/assets/../api/v1/incidents" // sent as is, not cleaned by the client
	req.URL.RawPath = ""
	res, body := do(t, c, req)
	if res.StatusCode != http.StatusUnauthorized || strings.Contains(body, "mallory") {
		t.Fatalf("unclean asset path: %d %s", res.StatusCode, body)
	}
}

// Unauthenticated API requests are counted, every one, but logged at about
// a line a second.
func TestRefusalsLogRateLimited(t *testing.T) {
	var logs strings.Builder
	reg := prometheus.NewRegistry()
	srv := newTestServer(t, loadSample(t), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: reg})
	for range 300 {
		if res := get(t, srv, "GET", "/api/v1/incidents", "", nil); res.StatusCode != 401 {
			t.Fatalf("no credentials: %d", res.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), "query API request refused"); n > 30 || n < 1 {
		t.Fatalf("%d log lines for 300 refused requests", n)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "kaudit_api_refusals_not_logged_total" && mf.GetMetric()[0].GetCounter().GetValue() < 270 {
			t.Fatalf("refusals not logged: %v", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
