package httpapi

import "github.com/prometheus/client_golang/prometheus"

// metrics carry no label that could identify a reporter or a report.
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	reports       *prometheus.CounterVec
	installations prometheus.Counter
	authFailures  prometheus.Counter
	limited       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportit_http_requests_total", Help: "HTTP requests by route template and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "reportit_http_request_duration_seconds", Help: "HTTP request latency by route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportit_reports_accepted_total", Help: "Reports accepted, by whether they were sightings of an earlier report and whether the answer was replayed.",
		}, []string{"duplicate", "replayed"}),
		installations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reportit_installations_total", Help: "Installation tokens issued.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reportit_auth_failures_total", Help: "Requests refused for a missing or invalid token.",
		}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportit_rate_limited_total", Help: "Requests refused by a rate-limit policy.",
		}, []string{"policy"}),
	}
	reg.MustRegister(m.requests, m.duration, m.reports, m.installations, m.authFailures, m.limited)
	return m
}
