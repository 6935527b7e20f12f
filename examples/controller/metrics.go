package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ocisource/ocisource"
)

// metrics turns the Reconciler's observations and statuses into
// Prometheus series on a registry of its own (the library keeps none).
type metrics struct {
	reg       *prometheus.Registry
	duration  *prometheus.HistogramVec
	phase     *prometheus.HistogramVec
	results   *prometheus.CounterVec
	bytes     prometheus.Counter
	cacheHits prometheus.Counter
	queue     prometheus.Gauge
	condition *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ocisource_reconcile_duration_seconds", Help: "Duration of one reconcile attempt, by result reason.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"reason"}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ocisource_reconcile_phase_duration_seconds", Help: "Time spent in each phase of a reconcile (resolve, verify, download).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"phase"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocisource_reconciles_total", Help: "Reconcile attempts, by result reason.",
		}, []string{"reason"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ocisource_downloaded_bytes_total", Help: "Bytes of layers downloaded.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ocisource_cache_hits_total", Help: "Reconciles that found the artifact unchanged and downloaded nothing.",
		}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ocisource_queue_depth", Help: "Sources due and waiting for a worker.",
		}),
		condition: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ocisource_condition", Help: "1 for the current status of each condition of each source (as Flux's gotk_reconcile_condition).",
		}, []string{"namespace", "name", "type", "status"}),
	}
	m.reg.MustRegister(m.duration, m.phase, m.results, m.bytes, m.cacheHits, m.queue, m.condition)
	return m
}

func (m *metrics) observe(o ocisource.Observation) {
	m.duration.WithLabelValues(o.Reason).Observe(o.Duration.Seconds())
	for p, d := range o.Phases {
		m.phase.WithLabelValues(string(p)).Observe(d.Seconds())
	}
	m.results.WithLabelValues(o.Reason).Inc()
	m.bytes.Add(float64(o.Bytes))
	if o.FromCache {
		m.cacheHits.Inc()
	}
	m.queue.Set(float64(o.QueueDepth))
}

func (m *metrics) setConditions(st ocisource.Status) {
	ns, name, _ := strings.Cut(st.Name, "/")
	m.condition.DeletePartialMatch(prometheus.Labels{"namespace": ns, "name": name})
	for _, c := range st.Conditions {
		m.condition.WithLabelValues(ns, name, c.Type, c.Status).Set(1)
	}
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	return mux
}

// conditionLog logs a source's conditions when they change, and keeps the
// condition metrics current.
type conditionLog struct {
	log  *slog.Logger
	m    *metrics
	mu   sync.Mutex
	last map[string]string
}

func newConditionLog(log *slog.Logger, m *metrics) *conditionLog {
	return &conditionLog{log: log, m: m, last: map[string]string{}}
}

func (c *conditionLog) changed(st ocisource.Status) {
	c.m.setConditions(st)
	var b bytes.Buffer
	for _, cond := range st.Conditions {
		b.WriteString(cond.Type + "=" + cond.Status + "/" + cond.Reason + " ")
	}
	key := b.String()
	c.mu.Lock()
	same := c.last[st.Name] == key
	c.last[st.Name] = key
	c.mu.Unlock()
	if same {
		return
	}
	ready, _ := st.Condition(ocisource.ConditionReady)
	attrs := []any{"source", st.Name, "ready", ready.Status, "reason", ready.Reason, "revision", st.ObservedRevision, "conditions", strings.TrimSpace(key)}
	if ready.Status == "False" {
		c.log.Warn("conditions changed", append(attrs, "message", ready.Message)...)
		return
	}
	c.log.Info("conditions changed", attrs...)
}
