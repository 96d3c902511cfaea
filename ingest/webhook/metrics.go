package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/auth"
)

// Rejection reasons, the values of the reason label of
// kaudit_webhook_rejected_total.
const (
	reasonMethod               = "method"
	reasonUnauthenticated      = "unauthenticated"
	reasonTooLarge             = "too_large"
	reasonDecompressedTooLarge = "decompressed_too_large"
	reasonBadBody              = "bad_body"
	reasonMalformed            = "malformed"
	reasonBadItem              = "bad_item"
	reasonBusy                 = "busy"
	reasonSlow                 = "slow_body"
	reasonThrottled            = "throttled"
	reasonSpoolFull            = "spool_full"
	reasonUnavailable          = "unavailable"
)

// Metrics are the webhook's Prometheus counters.
type Metrics struct {
	reg prometheus.Registerer

	// Received counts events decoded from accepted requests.
	Received prometheus.Counter
	// Rejected counts rejected requests by reason, and bad list items under
	// reason "bad_item".
	Rejected *prometheus.CounterVec
}

// NewMetrics creates the counters and registers them with reg (nil: not
// registered, for tests and embedding).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		Received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaudit_webhook_events_received_total",
			Help: "Audit events decoded from webhook requests (good items only).",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaudit_webhook_rejected_total",
			Help: "Webhook requests rejected, by reason; bad items of otherwise accepted lists count under reason bad_item.",
		}, []string{"reason"}),
	}
	// Every reason shows from the start, at zero, so that alerts on rate()
	// work before the first rejection.
	for _, r := range []string{reasonMethod, reasonUnauthenticated, reasonTooLarge, reasonDecompressedTooLarge,
		reasonBadBody, reasonMalformed, reasonBadItem, reasonBusy, reasonSlow, reasonThrottled, reasonSpoolFull, reasonUnavailable} {
		m.Rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Received, m.Rejected)
	}
	return m
}

// watchRefusals counts, at scrape time, the refused requests the log left
// out (auth.RefusalLog).
func (m *Metrics) watchRefusals(l *auth.RefusalLog) {
	if m.reg == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "kaudit_webhook_refusals_not_logged_total",
		Help: "Refused webhook requests (unauthenticated, throttled) left out of the log, which writes about one a second; kaudit_webhook_rejected_total counts them all.",
	}, func() float64 { return float64(l.Suppressed()) }))
}
