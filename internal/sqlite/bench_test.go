package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/reportit/reportit/internal/report"
)

// BenchmarkAcceptParallel measures durable accepts from many concurrent
// callers on a real file, with group commit (the default batch) and with a
// commit per report, for comparison.
func BenchmarkAcceptParallel(b *testing.B) {
	for _, maxBatch := range []int{DefaultMaxBatch, 1} {
		b.Run("batch="+strconv.Itoa(maxBatch), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "reports.db"), WithMaxBatch(maxBatch))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
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
					r := rs[next.Add(1)-1]
					if _, err := s.Accept(context.Background(), r, report.DedupWindow); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
			if st := s.Stats(); st.Batches > 0 {
				b.ReportMetric(float64(st.Reports)/float64(st.Batches), "reports/commit")
			}
		})
	}
}
