package http

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the Prometheus metrics of one server, in their own registry.
type Metrics struct {
	Registry      *prometheus.Registry
	eventsRecv    *prometheus.CounterVec
	eventsOK      *prometheus.CounterVec
	eventsRefused *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
	clientMetrics prometheus.Counter
	// Processed counts events the processor stored, duplicates and rejects, by outcome.
	Processed *prometheus.CounterVec
}

// NewMetrics registers the metrics; inbox lag is read from store at scrape time.
func NewMetrics(store mosaic.Store) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		eventsRecv: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mosaic_events_received_total",
			Help: "Events received by the ingestion API from known sources."}, []string{"source"}),
		eventsOK: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mosaic_events_accepted_total",
			Help: "Events durably stored in the inbox and acknowledged."}, []string{"source"}),
		eventsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mosaic_events_rejected_total",
			Help: "Ingestion requests (or their events, when the store refused) rejected, by reason."}, []string{"source", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mosaic_http_request_duration_seconds",
			Help: "HTTP request latency by route and status code.", Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5}},
			[]string{"route", "code"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mosaic_store_errors_total",
			Help: "Store operations that failed."}, []string{"op"}),
		clientMetrics: prometheus.NewCounter(prometheus.CounterOpts{Name: "mosaic_client_metrics_total",
			Help: "Client metric reports received from analytics.js (/v1/m)."}),
		Processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mosaic_events_processed_total",
			Help: "Inbox records processed, by outcome (stored, duplicate, rejected)."}, []string{"outcome"}),
	}
	reg.MustRegister(m.eventsRecv, m.eventsOK, m.eventsRefused, m.latency, m.storeErrors, m.clientMetrics, m.Processed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mosaic_inbox_lag",
			Help: "Inbox records accepted but not yet processed."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st, err := store.Stats(ctx)
			if err != nil {
				m.storeErrors.WithLabelValues("stats").Inc()
				return -1
			}
			return float64(st.InboxLag)
		}))
	}
	return m
}

func (m *Metrics) received(src mosaic.SourceID, n int) {
	m.eventsRecv.WithLabelValues(string(src)).Add(float64(n))
}
func (m *Metrics) accepted(src mosaic.SourceID, n int) {
	m.eventsOK.WithLabelValues(string(src)).Add(float64(n))
}
func (m *Metrics) rejected(src mosaic.SourceID, reason string, n int) {
	m.eventsRefused.WithLabelValues(string(src), reason).Add(float64(n))
}
func (m *Metrics) storeError(op string) { m.storeErrors.WithLabelValues(op).Inc() }
func (m *Metrics) observeRequest(route string, status int, d time.Duration) {
	m.latency.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
