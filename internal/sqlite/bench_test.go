package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkDrain measures the database side of draining a backlog: 100,000
// pending jobs claimed 256 at a time and completed as delivered by a pool
// of workers, each calling Complete for its own job, as the dispatcher
// will; no network. The writer batches the completions (and the next
// claim) into shared transactions. Each iteration drains a fresh backlog.
// With intake, 64 callers accept new reports all the while (their jobs,
// due in the future, are left alone), as during a backlog after an outage.
func BenchmarkDrain(b *testing.B) {
	for _, intake := range []bool{false, true} {
		b.Run(fmt.Sprintf("intake=%v", intake), func(b *testing.B) { benchmarkDrain(b, intake) })
	}
}

func benchmarkDrain(b *testing.B, intake bool) {
	const backlog, claimSize, workers = 100_000, 256, 256
	s, err := Open(filepath.Join(b.TempDir(), "reports.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := t0.Add(time.Hour)
	var drained int
	var accepted atomic.Int64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		seedBacklog(b, s, fmt.Sprintf("drain%d-", i), backlog)
		before := s.Stats()
		stop := make(chan struct{})
		var callers sync.WaitGroup
		if intake {
			for range 64 {
				callers.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						r := newReport(b)
						r.ReceivedAt = now.Add(time.Hour)
						if _, err := s.Accept(ctx, r, report.DedupWindow); err != nil {
							b.Error(err)
							return
						}
						accepted.Add(1)
					}
				})
			}
		}
		b.StartTimer()

		jobs := make(chan report.DeliveryJob, claimSize)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for j := range jobs {
					r := report.DeliveryResult{Kind: report.DeliveryDone, At: now, Reference: "HOT", Attempted: true}
					if err := s.Complete(ctx, j, r); err != nil {
						b.Error(err)
					}
				}
			})
		}
		n := 0
		for {
			js, err := s.Claim(ctx, now, claimSize, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if len(js) == 0 {
				break
			}
			n += len(js)
			for _, j := range js {
				jobs <- j
			}
		}
		close(jobs)
		wg.Wait()

		b.StopTimer()
		close(stop)
		callers.Wait()
		if n != backlog {
			b.Fatalf("drained %d jobs, want %d", n, backlog)
		}
		drained += n
		after := s.Stats()
		b.ReportMetric(float64(after.Ops-before.Ops)/float64(after.OpBatches-before.OpBatches), "ops/commit")
		b.StartTimer()
	}
	b.ReportMetric(float64(drained)/b.Elapsed().Seconds(), "jobs/s")
	if intake {
		b.ReportMetric(float64(accepted.Load())/b.Elapsed().Seconds(), "reports/s")
	}
	b.ReportMetric(0, "ns/op") // an op is a whole backlog: jobs/s says more
}

// seedBacklog stores n primary reports with pending jobs, due at t0, in
// one transaction: set-up, not what is measured.
func seedBacklog(b *testing.B, s *Store, prefix string, n int) {
	b.Helper()
	err := s.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		at := micros(t0)
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?1)
			INSERT INTO reports (id, reference, primary_id, url, url_key, content_type, category, hotline_id,
				received_at, first_seen_at, last_seen_at)
			SELECT ?2 || n, 'RIT-' || ?2 || n, ?2 || n, 'https://example.test/' || ?2 || n, 'key-' || ?2 || n,
				'page', 'csam', 'hotline-' || (n % 8), ?3, ?3, ?3
			FROM i`, n, prefix, at); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (report_id, hotline_id, enqueued_at, next_attempt_at)
			SELECT id, hotline_id, received_at, received_at FROM reports WHERE id >= ?1 AND id < ?1 || x'ff' ORDER BY rowid`, prefix)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}
