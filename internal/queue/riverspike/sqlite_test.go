package riverspike

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite"
)

// openSQLite opens path with the settings of our store's writer: WAL,
// synchronous=FULL, BEGIN IMMEDIATE, busy timeout, and maxConns connections
// (1 = our single writer).
func openSQLite(t *testing.T, path string, maxConns int) *sql.DB {
	t.Helper()
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(maxConns)
	t.Cleanup(func() { db.Close() })
	var jm string
	var syncMode int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&jm); err != nil || jm != "wal" {
		t.Fatalf("journal_mode %q, %v", jm, err)
	}
	if err := db.QueryRow("PRAGMA synchronous").Scan(&syncMode); err != nil || syncMode != 2 {
		t.Fatalf("synchronous %d, %v", syncMode, err)
	}
	return db
}

// newSQLiteDB creates a fresh database file with River's tables and a
// simple reports table. REPORTIT_RIVERSPIKE_DIR picks the file system.
func newSQLiteDB(t *testing.T, name string) (*sql.DB, string) {
	t.Helper()
	dir := os.Getenv("REPORTIT_RIVERSPIKE_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "riverspike"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	path := filepath.Join(dir, name+".db")
	db := openSQLite(t, path, 1)
	ctx := context.Background()
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE reports (
		id INTEGER PRIMARY KEY,
		reference TEXT NOT NULL UNIQUE,
		url TEXT NOT NULL,
		hotline TEXT NOT NULL,
		created_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// The hand-written alternative: an outbox row per delivery, picked by
	// a single dispatcher in (state, run_at) order.
	if _, err := db.Exec(`CREATE TABLE outbox (
		id INTEGER PRIMARY KEY,
		report_id INTEGER NOT NULL REFERENCES reports(id),
		hotline TEXT NOT NULL,
		state INTEGER NOT NULL DEFAULT 0,
		attempts INTEGER NOT NULL DEFAULT 0,
		run_at INTEGER NOT NULL);
		CREATE INDEX outbox_due ON outbox(state, run_at)`); err != nil {
		t.Fatal(err)
	}
	return db, path
}

// sqliteIntake is the group-commit writer: one transaction per batch,
// reports and (by mode) their delivery jobs, one fsync at commit.
type sqliteIntake struct {
	db     *sql.DB
	client *river.Client[*sql.Tx]
	stmt   *sql.Stmt
	outbox *sql.Stmt
	seq    atomic.Int64
}

func newSQLiteIntake(t *testing.T, db *sql.DB, client *river.Client[*sql.Tx]) *sqliteIntake {
	t.Helper()
	stmt, err := db.Prepare(`INSERT INTO reports (reference, url, hotline, created_at) VALUES (?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stmt.Close() })
	outbox, err := db.Prepare(`INSERT INTO outbox (report_id, hotline, run_at) VALUES (?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outbox.Close() })
	return &sqliteIntake{db: db, client: client, stmt: stmt, outbox: outbox}
}

func (in *sqliteIntake) batch(ctx context.Context, n int, mode jobMode, commit bool) error {
	tx, err := in.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.StmtContext(ctx, in.stmt)
	ids := make([]int64, n)
	now := time.Now().UnixMilli()
	for i := range ids {
		k := in.seq.Add(1)
		ref := "R" + strconv.FormatInt(k, 36)
		res, err := st.ExecContext(ctx, ref, "https://example.org/page/"+ref, "hotline-"+strconv.FormatInt(k%8, 10), now)
		if err != nil {
			return err
		}
		if ids[i], err = res.LastInsertId(); err != nil {
			return err
		}
	}
	switch mode {
	case insertFast:
		_, err = in.client.InsertManyFastTx(ctx, tx, jobParams(ids, mode))
	case insertReturn, insertUnique:
		_, err = in.client.InsertManyTx(ctx, tx, jobParams(ids, mode))
	case outboxRow:
		ob := tx.StmtContext(ctx, in.outbox)
		for _, id := range ids {
			if _, err = ob.ExecContext(ctx, id, "hotline-"+strconv.FormatInt(id%8, 10), now); err != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	if !commit {
		return tx.Rollback()
	}
	return tx.Commit()
}

func sqliteCount(t *testing.T, db *sql.DB, query string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSQLiteIntake measures reports/s of the group-commit writer with and
// without River jobs in the same transaction, and checks that a rolled
// back batch leaves neither reports nor jobs.
func TestSQLiteIntake(t *testing.T) {
	skipUnlessEnabled(t)
	ctx := context.Background()
	db, _ := newSQLiteDB(t, "intake")
	_, workers := newWorker(t)
	// Insert-only client (no Queues): it shares our *sql.DB and takes our *sql.Tx.
	client, err := river.NewClient(riversqlite.New(db), &river.Config{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	in := newSQLiteIntake(t, db, client)

	// Same transaction: a rollback must drop both.
	if err := in.batch(ctx, 10, insertReturn, false); err != nil {
		t.Fatal(err)
	}
	if r, j := sqliteCount(t, db, "SELECT count(*) FROM reports"), sqliteCount(t, db, "SELECT count(*) FROM river_job"); r != 0 || j != 0 {
		t.Fatalf("after rollback: %d reports, %d jobs; want 0, 0", r, j)
	}

	batchSize := envInt("REPORTIT_RIVERSPIKE_BATCH", 256)
	batches := envInt("REPORTIT_RIVERSPIKE_BATCHES", 100)
	rounds := envInt("REPORTIT_RIVERSPIKE_ROUNDS", 3)
	modes := []jobMode{noJobs, outboxRow, insertFast, insertReturn, insertUnique}
	for round := 1; round <= rounds; round++ {
		for _, mode := range modes {
			start := time.Now()
			for range batches {
				if err := in.batch(ctx, batchSize, mode, true); err != nil {
					t.Fatalf("%v: %v", mode, err)
				}
			}
			d := time.Since(start)
			n := int64(batches * batchSize)
			t.Logf("RESULT sqlite intake round=%d batch=%d %-32s %7d reports in %6.2fs = %8.0f reports/s",
				round, batchSize, mode, n, d.Seconds(), rate(n, d))
		}
	}
	wantJobs := int64(rounds * batches * batchSize * 3)
	if j := sqliteCount(t, db, "SELECT count(*) FROM river_job"); j != wantJobs {
		t.Fatalf("river_job has %d rows, want %d", j, wantJobs)
	}
}

// insertBacklogSQLite writes n jobs in transactions of 1,000.
func insertBacklogSQLite(t *testing.T, ctx context.Context, db *sql.DB, client *river.Client[*sql.Tx], n int) {
	t.Helper()
	start := time.Now()
	for done := 0; done < n; {
		k := min(1000, n-done)
		ids := make([]int64, k)
		for i := range ids {
			ids[i] = int64(done + i + 1)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.InsertManyFastTx(ctx, tx, jobParams(ids, insertFast)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		done += k
	}
	t.Logf("backlog: %d jobs inserted in %.2fs", n, time.Since(start).Seconds())
}

// TestSQLiteDrain drains a backlog (default 100,000) with River sharing our
// single writer connection, for each MaxWorkers/FetchCooldown point.
func TestSQLiteDrain(t *testing.T) {
	skipUnlessEnabled(t)
	n := envInt("REPORTIT_RIVERSPIKE_JOBS", 100_000)
	limit := envDuration("REPORTIT_RIVERSPIKE_LIMIT", 3*time.Minute)
	for _, cfg := range drainMatrix(t, "100/100ms,1000/10ms") {
		t.Run(fmt.Sprintf("workers=%d,cooldown=%s", cfg.maxWorkers, cfg.cooldown), func(t *testing.T) {
			ctx := context.Background()
			db, _ := newSQLiteDB(t, "drain")
			w, workers := newWorker(t)
			logs := &logCounter{}
			client, err := river.NewClient(riversqlite.New(db), &river.Config{
				Workers:       workers,
				Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.maxWorkers}},
				FetchCooldown: cfg.cooldown,
				Logger:        logs.logger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			insertBacklogSQLite(t, ctx, db, client, n)
			start := time.Now()
			if err := client.Start(ctx); err != nil {
				t.Fatal(err)
			}
			var workedAt time.Duration
			ok := waitFor(limit, func() bool {
				if workedAt == 0 && w.worked.Load() >= int64(n) {
					workedAt = time.Since(start)
				}
				return sqliteCount(t, db, "SELECT count(*) FROM river_job WHERE state = 'completed'") >= int64(n)
			})
			d := time.Since(start)
			completed := sqliteCount(t, db, "SELECT count(*) FROM river_job WHERE state = 'completed'")
			stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := client.Stop(stopCtx); err != nil {
				t.Logf("stop: %v", err)
			}
			lines, busy, sample := logs.snapshot()
			t.Logf("RESULT sqlite drain workers=%d cooldown=%s worker=%s: %d/%d completed in %.2fs = %.0f jobs/s (all worked at %.2fs); river warn/error log lines=%d busy=%d %q",
				cfg.maxWorkers, cfg.cooldown, workerKind(), completed, n, d.Seconds(), rate(completed, d), workedAt.Seconds(), lines, busy, sample)
			if !ok {
				t.Errorf("backlog not drained within %s", limit)
			}
		})
	}
}

func workerKind() string {
	if os.Getenv("REPORTIT_RIVERSPIKE_WORKER") == "http" {
		return "loopback-http"
	}
	return "no-op"
}

// TestSQLiteConcurrent runs the group-commit intake at full speed while
// River works the same database, once with River on our single writer
// connection (shared) and once with River on its own connection (separate,
// so two SQLite writers contend and busy_timeout/SQLITE_BUSY come into play).
func TestSQLiteConcurrent(t *testing.T) {
	skipUnlessEnabled(t)
	dur := envDuration("REPORTIT_RIVERSPIKE_DURATION", 15*time.Second)
	batchSize := envInt("REPORTIT_RIVERSPIKE_BATCH", 256)
	maxWorkers := envInt("REPORTIT_RIVERSPIKE_CONC_WORKERS", 1000)
	cooldown := envDuration("REPORTIT_RIVERSPIKE_CONC_COOLDOWN", 10*time.Millisecond)
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared-conn", false: "separate-conn"}[shared]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, path := newSQLiteDB(t, "conc")
			riverDB := db
			if !shared {
				riverDB = openSQLite(t, path, 1)
			}
			w, workers := newWorker(t)
			logs := &logCounter{}
			insertClient, err := river.NewClient(riversqlite.New(db), &river.Config{Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			client, err := river.NewClient(riversqlite.New(riverDB), &river.Config{
				Workers:       workers,
				Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
				FetchCooldown: cooldown,
				Logger:        logs.logger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			in := newSQLiteIntake(t, db, insertClient)
			if err := client.Start(ctx); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var reports, intakeErrs int64
			var firstErr error
			for time.Since(start) < dur {
				if err := in.batch(ctx, batchSize, insertFast, true); err != nil {
					intakeErrs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				reports += int64(batchSize)
			}
			d := time.Since(start)
			workedDuring := w.worked.Load()
			waitFor(2*time.Minute, func() bool {
				return sqliteCount(t, db, "SELECT count(*) FROM river_job WHERE state = 'completed'") >= reports
			})
			tail := time.Since(start) - d
			stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := client.Stop(stopCtx); err != nil {
				t.Logf("stop: %v", err)
			}
			lines, busy, sample := logs.snapshot()
			completed := sqliteCount(t, db, "SELECT count(*) FROM river_job WHERE state = 'completed'")
			t.Logf("RESULT sqlite concurrent %s workers=%d cooldown=%s: intake %d reports in %.1fs = %.0f reports/s (errors %d, first %v); worked during intake %d = %.0f jobs/s; all %d completed %.1fs after intake stopped; river warn/error log lines=%d busy=%d %q",
				name, maxWorkers, cooldown, reports, d.Seconds(), rate(reports, d), intakeErrs, firstErr, workedDuring, rate(workedDuring, d), completed, tail.Seconds(), lines, busy, sample)
			if intakeErrs > 0 {
				t.Errorf("intake failed %d times: %v", intakeErrs, firstErr)
			}
		})
	}
}
