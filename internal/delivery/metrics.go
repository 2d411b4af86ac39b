package delivery

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reportit/reportit/internal/portal"
)

// Metrics are the delivery instruments. Every field is optional; the
// caller creates and registers them (NewMetrics does both), so that tests
// and several dispatchers can each have their own registry.
//
// Label values are bounded: hotline and lane ids from the configuration
// and directory, and the fixed sets named below. No URL, endpoint or
// report id is ever a label.
type Metrics struct {
	// Attempts counts Dispatcher.Deliver calls by "hotline" and "outcome":
	// delivered, retry, dead, use_form, busy (lane full, nothing sent) or
	// breaker_open (nothing sent).
	Attempts *prometheus.CounterVec
	// Failures counts failed deliveries by "hotline" and "reason": http_3xx,
	// http_4xx, http_408, http_429, http_5xx, timeout, reset, refused, dns,
	// tls, network, invalid (payload or endpoint), breaker_open, load (the
	// report could not be loaded), other.
	Failures *prometheus.CounterVec
	// Duration observes channel calls in seconds by "hotline" and "result":
	// delivered, retry, permanent.
	Duration *prometheus.HistogramVec
	// BreakerTransitions counts breaker state changes by "lane" and "to":
	// closed, half-open, open.
	BreakerTransitions *prometheus.CounterVec
	// BreakerOpen is 1 for a lane whose breaker is not closed (open or
	// half-open), else 0, by "lane".
	BreakerOpen *prometheus.GaugeVec
}

// NewMetrics creates the instruments, named reportit_delivery_*, and
// registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportit_delivery_attempts_total",
			Help: "Delivery jobs run, by hotline and outcome.",
		}, []string{"hotline", "outcome"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportit_delivery_failures_total",
			Help: "Failed delivery attempts, by hotline and reason.",
		}, []string{"hotline", "reason"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "reportit_delivery_duration_seconds",
			Help: "Time taken by one delivery attempt, by hotline and result.",
			// From a fast loopback portal to the 10 s client timeout.
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"hotline", "result"}),
		BreakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportit_delivery_breaker_transitions_total",
			Help: "Circuit breaker state changes, by lane and new state.",
		}, []string{"lane", "to"}),
		BreakerOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reportit_delivery_breaker_open",
			Help: "1 while a lane's circuit breaker is open or half-open.",
		}, []string{"lane"}),
	}
	for _, c := range []prometheus.Collector{m.Attempts, m.Failures, m.Duration, m.BreakerTransitions, m.BreakerOpen} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Outcome labels of Attempts beyond the OutcomeKind names.
const (
	outcomeBusy        = "busy"
	outcomeBreakerOpen = "breaker_open"
)

func (m *Metrics) attempt(hotline, outcome string) {
	if m != nil && m.Attempts != nil {
		m.Attempts.WithLabelValues(hotline, outcome).Inc()
	}
}

func (m *Metrics) failure(hotline, reason string) {
	if m != nil && m.Failures != nil {
		m.Failures.WithLabelValues(hotline, reason).Inc()
	}
}

func (m *Metrics) duration(hotline string, k portal.Kind, seconds float64) {
	if m != nil && m.Duration != nil {
		m.Duration.WithLabelValues(hotline, k.String()).Observe(seconds)
	}
}

func (m *Metrics) breaker(lane string, to BreakerState) {
	if m == nil {
		return
	}
	if m.BreakerTransitions != nil {
		m.BreakerTransitions.WithLabelValues(lane, to.String()).Inc()
	}
	if m.BreakerOpen != nil {
		v := 0.0
		if to != BreakerClosed {
			v = 1
		}
		m.BreakerOpen.WithLabelValues(lane).Set(v)
	}
}

// failureReason is the Failures label for a result that is not Delivered.
func failureReason(r Result) string {
	switch s := r.Status; {
	case s == 408 || s == 429:
		return "http_" + strconv.Itoa(s)
	case s >= 500:
		return "http_5xx"
	case s >= 400:
		return "http_4xx"
	case s >= 300:
		return "http_3xx"
	}
	for _, k := range []struct {
		err   error
		label string
	}{
		{portal.ErrTimeout, "timeout"},
		{portal.ErrReset, "reset"},
		{portal.ErrRefused, "refused"},
		{portal.ErrDNS, "dns"},
		{portal.ErrTLS, "tls"},
		{portal.ErrNetwork, "network"},
		{portal.ErrBadPayload, "invalid"},
		{portal.ErrBadEndpoint, "invalid"},
		{ErrBreakerOpen, "breaker_open"},
	} {
		if errors.Is(r.Err, k.err) {
			return k.label
		}
	}
	return "other"
}
