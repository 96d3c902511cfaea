package notify

import "github.com/prometheus/client_golang/prometheus"

// metrics are the notifier's Prometheus metrics, by receiver.
type metrics struct {
	sent, failed, dropped *prometheus.CounterVec
	pending               *prometheus.GaugeVec
	leader                prometheus.Gauge
	delay                 *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, receivers []Receiver) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaudit_notify_sent_total", Help: "Notifications a receiver acknowledged (2xx), by receiver.",
		}, []string{"receiver"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaudit_notify_failed_total", Help: "Failed delivery attempts (no answer, or not 2xx), by receiver; each is retried.",
		}, []string{"receiver"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaudit_notify_dropped_total", Help: "Notifications given up on after notify.give_up_after of failures, by receiver.",
		}, []string{"receiver"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kaudit_notify_pending", Help: "Notifications in the outbox not yet acknowledged, by receiver (as this process last saw them).",
		}, []string{"receiver"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kaudit_notify_leader", Help: "1 while this process holds the outbox lease and delivers notifications.",
		}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kaudit_notify_delivery_seconds",
			Help:    "Time from deciding a notification to its acknowledgement, by receiver.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"receiver"}),
	}
	for _, r := range receivers {
		m.sent.WithLabelValues(r.Name())
		m.failed.WithLabelValues(r.Name())
		m.dropped.WithLabelValues(r.Name())
		m.pending.WithLabelValues(r.Name())
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failed, m.dropped, m.pending, m.leader, m.delay)
	}
	return m
}
