package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
)

// BenchmarkDispatchOverhead is what the dispatcher adds around a channel
// call: routing, the lane's slot and breaker, the policy and the metrics.
// The channel and the source answer at once.
func BenchmarkDispatchOverhead(b *testing.B) {
	routes, err := NewRoutes(RoutesConfig{Channels: map[string]Channel{"hl": nopChannel{}}})
	if err != nil {
		b.Fatal(err)
	}
	src := newSource()
	src.add("r1", "hl")
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	d, err := NewDispatcher(Config{Source: src, Routes: routes, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	job := Job{ReportID: "r1", HotlineID: "hl", Attempt: 1, EnqueuedAt: time.Now()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if o := d.Deliver(ctx, job); o.Kind != OutcomeDelivered {
			b.Fatalf("outcome %v", o.Kind)
		}
	}
}

type nopChannel struct{}

func (nopChannel) Deliver(context.Context, report.Report, Sightings) Result {
	return Result{Kind: portal.Delivered}
}
