package outbox

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reportit/reportit/internal/report"
)

// collector reads the queue's depth and age at scrape time, so the gauges
// are never stale and cost nothing between scrapes.
type collector struct {
	q                  report.Queue
	now                func() time.Time
	pending, dead, age *prometheus.Desc
}

// NewCollector returns a Prometheus collector for the queue's depth, its
// dead letters and the age of the oldest undelivered report.
func NewCollector(q report.Queue, now func() time.Time) prometheus.Collector {
	return &collector{
		q:       q,
		now:     now,
		pending: prometheus.NewDesc("reportit_delivery_queue_depth", "Delivery jobs waiting (due now or later), excluding reports waiting for a hotline to pull them.", nil, nil),
		dead:    prometheus.NewDesc("reportit_delivery_dead_letters", "Delivery jobs given up, waiting for an operator.", nil, nil),
		age:     prometheus.NewDesc("reportit_delivery_oldest_undelivered_seconds", "Age of the oldest undelivered report; 0 when there is none.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.dead
	ch <- c.age
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.q.QueueStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pending, err)
		return
	}
	age := 0.0
	if !s.OldestPending.IsZero() {
		age = c.now().Sub(s.OldestPending).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(s.Dead))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

// Retain erases the content of reports delivered longer ago than retention,
// once an hour, until ctx ends.
func Retain(ctx context.Context, q report.Queue, retention time.Duration, now func() time.Time, onErr func(error), onErased func(int64)) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := q.Erase(ctx, now().Add(-retention)); err != nil {
			if ctx.Err() == nil {
				onErr(err)
			}
		} else if n > 0 {
			onErased(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
