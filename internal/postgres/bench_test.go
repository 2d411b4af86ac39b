package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/reportit/reportit/internal/report"
)

// BenchmarkAcceptParallel measures durable accepts from many concurrent
// callers, with group commit (the default batch) and with a commit per
// report, for comparison; with two writers; and with the callers split
// over two stores on one database, as two replicas.
func BenchmarkAcceptParallel(b *testing.B) {
	for _, c := range []struct {
		replicas, writers, maxBatch int
	}{
		{1, 1, DefaultMaxBatch},
		{1, 2, DefaultMaxBatch},
		{1, 1, 1},
		{2, 1, DefaultMaxBatch},
	} {
		name := fmt.Sprintf("replicas=%d/writers=%d/batch=%d", c.replicas, c.writers, c.maxBatch)
		b.Run(name, func(b *testing.B) {
			dbURL := newDatabase(b)
			stores := make([]*Store, c.replicas)
			for i := range stores {
				stores[i] = openURL(b, dbURL, WithMaxBatch(c.maxBatch), WithWriters(c.writers))
			}
			// Reports built up front, so the figure is the store's.
			rs := make([]report.NewReport, b.N)
			for i := range rs {
				rs[i] = newReport(b)
			}
			var next atomic.Int64
			b.SetParallelism(32) // 32 × GOMAXPROCS callers, as an HTTP server under load
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					s := stores[int(i)%len(stores)]
					if _, err := s.Accept(context.Background(), rs[i], report.DedupWindow); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
			var batches, reports uint64
			for _, s := range stores {
				st := s.Stats()
				batches += st.Batches
				reports += st.Reports
			}
			if batches > 0 {
				b.ReportMetric(float64(reports)/float64(batches), "reports/commit")
			}
		})
	}
}
