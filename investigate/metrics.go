package investigate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/auth"
)

// Reasons a request is refused, the values of the reason label of
// kaudit_api_refused_total.
const (
	reasonNoCredentials  = "no_credentials"
	reasonInvalidToken   = "invalid_token"
	reasonNoSession      = "unknown_session"
	reasonThrottled      = "throttled"
	reasonLoginFailed    = "login_failed"
	reasonLoginThrottled = "login_throttled"
)

// metrics are the handler's Prometheus counters.
type metrics struct {
	refused *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, refusals *auth.RefusalLog) *metrics {
	m := &metrics{refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kaudit_api_refused_total",
		Help: "Query API and login requests refused, by reason: no_credentials, invalid_token (a failed bearer token), unknown_session, throttled (a source or token prefix past its failures), login_failed, login_throttled.",
	}, []string{"reason"})}
	for _, r := range []string{reasonNoCredentials, reasonInvalidToken, reasonNoSession, reasonThrottled, reasonLoginFailed, reasonLoginThrottled} {
		m.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.refused, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kaudit_api_refusals_not_logged_total",
			Help: "Refused query API requests left out of the log, which writes about one a second; kaudit_api_refused_total counts them all.",
		}, func() float64 { return float64(refusals.Suppressed()) }))
	}
	return m
}
