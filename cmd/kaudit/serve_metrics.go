package main

import (
	"log"
	"net"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kaudit/kaudit/auth"
)

// metricsHandler serves /metrics: the operational metrics (ingest, store,
// spool, memory) to anyone who reaches api.listen, and those of detection
// (findings by rule, findings held for correlation) only with a bearer
// token of api.tokens_file or metrics.tokens_file: per-rule counts would
// tell an attacker whether a request of theirs tripped a rule. Failed
// tokens are throttled with the query API's.
func metricsHandler(ops, detections prometheus.Gatherer, throttle *auth.Throttle, errLog *log.Logger, tokens ...*auth.Tokens) http.Handler {
	opts := promhttp.HandlerOpts{ErrorLog: errLog}
	public := promhttp.HandlerFor(ops, opts)
	all := promhttp.HandlerFor(prometheus.Gatherers{ops, detections}, opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := auth.BearerToken(r)
		if !ok {
			public.ServeHTTP(w, r)
			return
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		keys := []string{auth.SourceKey(host), auth.PrefixKey(tok)}
		if allowed, wait := throttle.Allow(keys...); !allowed {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writePlain(w, http.StatusTooManyRequests, "too many failed authentications; try again later")
			return
		}
		for _, t := range tokens {
			if t.Valid(tok) {
				all.ServeHTTP(w, r)
				return
			}
		}
		throttle.Fail(keys...)
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaudit-metrics"`)
		writePlain(w, http.StatusUnauthorized, "invalid token: /metrics without a token shows the operational metrics only")
	})
}
