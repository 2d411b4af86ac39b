package riverspike

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

var pgDBSeq atomic.Int64

// newPostgresDB creates a database of our own (dropped at cleanup) on the
// server in REPORTIT_RIVERSPIKE_PG, migrates River and creates the reports
// and outbox tables.
func newPostgresDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	base := os.Getenv("REPORTIT_RIVERSPIKE_PG")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Skipf("riverspike: no PostgreSQL at %s: %v", base, err)
	}
	name := fmt.Sprintf("reportit_riverspike_%d_%d", os.Getpid(), pgDBSeq.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		admin.Close(ctx)
	})
	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	cfg.MaxConns = int32(envInt("REPORTIT_RIVERSPIKE_PG_CONNS", 20))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // registered after the drop, so it runs first
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		CREATE TABLE reports (
			id bigserial PRIMARY KEY,
			reference text NOT NULL UNIQUE,
			url text NOT NULL,
			hotline text NOT NULL,
			created_at bigint NOT NULL);
		CREATE TABLE outbox (
			id bigserial PRIMARY KEY,
			report_id bigint NOT NULL REFERENCES reports(id),
			hotline text NOT NULL,
			state smallint NOT NULL DEFAULT 0,
			attempts int NOT NULL DEFAULT 0,
			run_at timestamptz NOT NULL DEFAULT now());
		CREATE INDEX outbox_due ON outbox (state, run_at)`); err != nil {
		t.Fatal(err)
	}
	return pool
}

type pgIntake struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	seq    atomic.Int64
}

// batch writes n reports with one multi-row INSERT and their delivery jobs
// (by mode) in one transaction; synchronous_commit is on, so Commit returns
// after the WAL flush.
func (in *pgIntake) batch(ctx context.Context, n int, mode jobMode) error {
	refs := make([]string, n)
	urls := make([]string, n)
	hotlines := make([]string, n)
	now := time.Now().UnixMilli()
	for i := range refs {
		k := in.seq.Add(1)
		refs[i] = "R" + strconv.FormatInt(k, 36)
		urls[i] = "https://example.org/page/" + refs[i]
		hotlines[i] = "hotline-" + strconv.FormatInt(k%8, 10)
	}
	tx, err := in.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `INSERT INTO reports (reference, url, hotline, created_at)
		SELECT r, u, h, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(r, u, h) RETURNING id`,
		refs, urls, hotlines, now)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	switch mode {
	case insertFast:
		_, err = in.client.InsertManyFastTx(ctx, tx, jobParams(ids, mode))
	case insertReturn, insertUnique:
		_, err = in.client.InsertManyTx(ctx, tx, jobParams(ids, mode))
	case outboxRow:
		_, err = tx.Exec(ctx, `INSERT INTO outbox (report_id, hotline) SELECT * FROM unnest($1::bigint[], $2::text[])`, ids, hotlines)
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// runPGIntake runs writers goroutines doing batches for dur; it returns
// reports committed and the first error.
func runPGIntake(ctx context.Context, in *pgIntake, writers, batchSize int, mode jobMode, dur time.Duration) (int64, int64, error) {
	var total, errs atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(dur)
	for range writers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := in.batch(ctx, batchSize, mode); err != nil {
					errs.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				total.Add(int64(batchSize))
			}
		})
	}
	wg.Wait()
	return total.Load(), errs.Load(), firstErr
}

func writerCounts(t *testing.T) []int {
	t.Helper()
	var out []int
	for _, s := range strings.Split(cmpOr(os.Getenv("REPORTIT_RIVERSPIKE_PG_WRITERS"), "1,4"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestPostgresIntake measures reports/s with and without River jobs in the
// same transaction, with one writer and with several concurrent ones.
func TestPostgresIntake(t *testing.T) {
	skipUnlessEnabled(t)
	ctx := context.Background()
	pool := newPostgresDB(t)
	_, workers := newWorker(t)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	in := &pgIntake{pool: pool, client: client}
	batchSize := envInt("REPORTIT_RIVERSPIKE_BATCH", 256)
	dur := envDuration("REPORTIT_RIVERSPIKE_DURATION", 5*time.Second)
	for _, writers := range writerCounts(t) {
		for _, mode := range []jobMode{noJobs, outboxRow, insertFast, insertReturn} {
			start := time.Now()
			n, errs, firstErr := runPGIntake(ctx, in, writers, batchSize, mode, dur)
			d := time.Since(start)
			t.Logf("RESULT postgres intake writers=%d batch=%d %-32s %7d reports in %5.2fs = %7.0f reports/s (errors %d)",
				writers, batchSize, mode, n, d.Seconds(), rate(n, d), errs)
			if errs > 0 {
				t.Errorf("%v: %d errors, first %v", mode, errs, firstErr)
			}
		}
	}
}

func pgCount(t *testing.T, pool *pgxpool.Pool, query string) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPostgresDrain drains a backlog (default 100,000) for each
// MaxWorkers/FetchCooldown point.
func TestPostgresDrain(t *testing.T) {
	skipUnlessEnabled(t)
	n := envInt("REPORTIT_RIVERSPIKE_JOBS", 100_000)
	limit := envDuration("REPORTIT_RIVERSPIKE_LIMIT", 3*time.Minute)
	for _, cfg := range drainMatrix(t, "100/100ms,1000/10ms") {
		t.Run(fmt.Sprintf("workers=%d,cooldown=%s", cfg.maxWorkers, cfg.cooldown), func(t *testing.T) {
			ctx := context.Background()
			pool := newPostgresDB(t)
			w, workers := newWorker(t)
			logs := &logCounter{}
			client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
				Workers:       workers,
				Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.maxWorkers}},
				FetchCooldown: cfg.cooldown,
				Logger:        logs.logger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for done := 0; done < n; {
				k := min(5000, n-done)
				ids := make([]int64, k)
				for i := range ids {
					ids[i] = int64(done + i + 1)
				}
				if _, err := client.InsertManyFast(ctx, jobParams(ids, insertFast)); err != nil {
					t.Fatal(err)
				}
				done += k
			}
			t.Logf("backlog: %d jobs inserted in %.2fs", n, time.Since(start).Seconds())
			start = time.Now()
			if err := client.Start(ctx); err != nil {
				t.Fatal(err)
			}
			var workedAt time.Duration
			ok := waitFor(limit, func() bool {
				if workedAt == 0 && w.worked.Load() >= int64(n) {
					workedAt = time.Since(start)
				}
				return pgCount(t, pool, "SELECT count(*) FROM river_job WHERE state = 'completed'") >= int64(n)
			})
			d := time.Since(start)
			completed := pgCount(t, pool, "SELECT count(*) FROM river_job WHERE state = 'completed'")
			stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := client.Stop(stopCtx); err != nil {
				t.Logf("stop: %v", err)
			}
			lines, _, sample := logs.snapshot()
			t.Logf("RESULT postgres drain workers=%d cooldown=%s worker=%s: %d/%d completed in %.2fs = %.0f jobs/s (all worked at %.2fs); river warn/error log lines=%d %q",
				cfg.maxWorkers, cfg.cooldown, workerKind(), completed, n, d.Seconds(), rate(completed, d), workedAt.Seconds(), lines, sample)
			if !ok {
				t.Errorf("backlog not drained within %s", limit)
			}
		})
	}
}

// TestPostgresConcurrent runs intake (4 writers) while River works the same
// database.
func TestPostgresConcurrent(t *testing.T) {
	skipUnlessEnabled(t)
	ctx := context.Background()
	pool := newPostgresDB(t)
	dur := envDuration("REPORTIT_RIVERSPIKE_DURATION", 15*time.Second)
	batchSize := envInt("REPORTIT_RIVERSPIKE_BATCH", 256)
	maxWorkers := envInt("REPORTIT_RIVERSPIKE_CONC_WORKERS", 1000)
	cooldown := envDuration("REPORTIT_RIVERSPIKE_CONC_COOLDOWN", 10*time.Millisecond)
	w, workers := newWorker(t)
	logs := &logCounter{}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Workers:       workers,
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		FetchCooldown: cooldown,
		Logger:        logs.logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	in := &pgIntake{pool: pool, client: client}
	start := time.Now()
	n, errs, firstErr := runPGIntake(ctx, in, 4, batchSize, insertFast, dur)
	d := time.Since(start)
	workedDuring := w.worked.Load()
	waitFor(2*time.Minute, func() bool {
		return pgCount(t, pool, "SELECT count(*) FROM river_job WHERE state = 'completed'") >= n
	})
	tail := time.Since(start) - d
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		t.Logf("stop: %v", err)
	}
	lines, _, sample := logs.snapshot()
	completed := pgCount(t, pool, "SELECT count(*) FROM river_job WHERE state = 'completed'")
	t.Logf("RESULT postgres concurrent writers=4 workers=%d cooldown=%s: intake %d reports in %.1fs = %.0f reports/s (errors %d); worked during intake %d = %.0f jobs/s; all %d completed %.1fs after intake stopped; river warn/error log lines=%d %q",
		maxWorkers, cooldown, n, d.Seconds(), rate(n, d), errs, workedDuring, rate(workedDuring, d), completed, tail.Seconds(), lines, sample)
	if errs > 0 {
		t.Errorf("intake failed %d times: %v", errs, firstErr)
	}
}
