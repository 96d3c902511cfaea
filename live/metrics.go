package live

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/live/spool"
	"github.com/kaudit/kaudit/pipeline"
)

// Metrics are the acceptor's Prometheus metrics. Those that tell what
// detection found (findings by rule, findings held for correlation) go to a
// registerer of their own, which serve exposes only with a token: they
// would tell an attacker whether a request of theirs tripped a rule.
type Metrics struct {
	reg        prometheus.Registerer
	detections prometheus.Registerer

	// Stored counts events written to the store (live and drained).
	Stored prometheus.Counter
	// Spooled counts events written to the spool.
	Spooled prometheus.Counter
	// Drained counts events moved from the spool to the store.
	Drained prometheus.Counter
	// SpoolFull counts batches refused because the spool was full.
	SpoolFull prometheus.Counter
	// SpoolCorrupt counts spool entries that failed their checksum and
	// were set aside.
	SpoolCorrupt prometheus.Counter
	// StoreErrors counts failed store writes.
	StoreErrors prometheus.Counter
	// DetectErrors counts batches in which a rule failed at run time.
	DetectErrors prometheus.Counter
	// Findings counts findings by rule.
	Findings *prometheus.CounterVec
	// StoreWrite is the latency of store writes.
	StoreWrite prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg, and those
// of detection with detections (nil: not registered). rules, when given,
// are shown at zero from the start.
func NewMetrics(reg, detections prometheus.Registerer, rules []string) *Metrics {
	m := &Metrics{
		reg:        reg,
		detections: detections,
		Stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaudit_events_stored_total", Help: "Audit events written to the store, directly or drained from the spool.",
		}),
		Spooled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaudit_events_spooled_total", Help: "Audit events written (fsynced) to the local spool: every event with spool.ack_from_spool, else those the store could not take.",
		}),
		Drained: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaudit_events_drained_total", Help: "Audit events moved from the spool into the store.",
		}),
		SpoolFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaudit_spool_full_total", Help: "Batches refused (429) because the store was down and the spool at spool.max_bytes.",
		}),
		SpoolCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaudit_spool_corrupt_total", Help: "Spool entries that failed their checksum (changed on disk) and were set aside in the spool's directory, not stored.",
		}),
		StoreErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaudit_store_write_errors_total", Help: "Store writes that failed or timed out.",
		}),
		DetectErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaudit_detect_errors_total", Help: "Batches in which a rule failed at run time (their events are stored all the same).",
		}),
		Findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaudit_findings_total", Help: "Findings, by rule.",
		}, []string{"rule"}),
		StoreWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kaudit_store_write_seconds",
			Help:    "Latency of store writes (one per flush of the spool, or per webhook batch without spool.ack_from_spool).",
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, 1, 2, 5, 10},
		}),
	}
	for _, r := range rules {
		m.Findings.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Stored, m.Spooled, m.Drained, m.SpoolFull, m.SpoolCorrupt, m.StoreErrors, m.DetectErrors, m.StoreWrite)
	}
	if detections != nil {
		detections.MustRegister(m.Findings)
	}
	return m
}

func (m *Metrics) countFindings(fs []detect.Finding) {
	for i := range fs {
		m.Findings.WithLabelValues(fs[i].Rule).Inc()
	}
}

// watchSpool registers gauges read at scrape time from the spool and the
// store state.
func (m *Metrics) watchSpool(sp *spool.Spool, storeDown *atomic.Bool) {
	if m.reg == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kaudit_spool_entries", Help: "Batches in the spool waiting for the store (spool depth).",
		}, func() float64 { n, _ := sp.Stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kaudit_spool_bytes", Help: "Bytes on disk in the spool waiting for the store (batches are packed: counted against spool.max_bytes).",
		}, func() float64 { _, b := sp.Stats(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kaudit_spool_payload_bytes", Help: "The same batches unpacked: what the flusher reads into memory (a flush starts at spool.flush_bytes of them).",
		}, func() float64 { return float64(sp.Payload()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kaudit_spool_max_bytes", Help: "The spool's limit (spool.max_bytes); at it, batches are refused with 429.",
		}, func() float64 { return float64(sp.Max()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kaudit_store_lag_seconds",
			Help: "Age of the oldest acknowledged batch not yet in the store (0 when the spool is empty): how far queries lag behind ingest.",
		}, func() float64 {
			if at, ok := sp.Oldest(); ok {
				return time.Since(at).Seconds()
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kaudit_store_up", Help: "1 when batches go to the store, 0 while they go to the spool.",
		}, func() float64 {
			if storeDown.Load() {
				return 0
			}
			return 1
		}),
	)
}

// WatchPipeline registers gauges of what live correlation holds, read at
// scrape time: with Publisher's limits they stay bounded however long
// kaudit runs.
func (m *Metrics) WatchPipeline(p *pipeline.Pipeline) {
	if m.reg == nil {
		return
	}
	gauge := func(name, help string, pick func(f, t, l int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			f, t, l := p.CorrelatorSize()
			return float64(pick(f, t, l))
		})
	}
	m.reg.MustRegister(
		gauge("kaudit_correlator_requests", "Requests (per actor) held for incidents' touched lists.", func(_, t, _ int) int { return t }),
		gauge("kaudit_correlator_links", "Identity links held for live correlation.", func(_, _, l int) int { return l }),
	)
	if m.detections != nil {
		m.detections.MustRegister(gauge("kaudit_correlator_findings", "Findings held for live correlation.", func(f, _, _ int) int { return f }))
	}
}
