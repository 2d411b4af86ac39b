package riverspike

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

// outboxDrainBatch is the database side of a single SQLite dispatcher: read
// up to limit due rows, then (after the no-op "delivery") mark them all
// delivered with one UPDATE in one transaction. It returns how many it did.
func outboxDrainBatch(ctx context.Context, db *sql.DB, limit int) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT id FROM outbox WHERE state = 0 AND run_at <= ? ORDER BY run_at LIMIT ?`,
		time.Now().UnixMilli(), limit)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil || len(ids) == 0 {
		return 0, err
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 1, attempts = attempts + 1
		WHERE id IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
		return 0, err
	}
	return len(ids), tx.Commit()
}

// TestSQLiteOutboxBaseline measures the hand-written alternative on the same
// file settings: drain of a 100,000-row backlog by one dispatcher, and
// intake with the dispatcher running on the same single writer connection.
// Only the database work is measured; HTTP delivery would run in worker
// goroutines outside the transaction.
func TestSQLiteOutboxBaseline(t *testing.T) {
	skipUnlessEnabled(t)
	ctx := context.Background()
	n := envInt("REPORTIT_RIVERSPIKE_JOBS", 100_000)
	batchSize := envInt("REPORTIT_RIVERSPIKE_BATCH", 256)
	db, _ := newSQLiteDB(t, "outbox")
	in := newSQLiteIntake(t, db, nil)
	for done := 0; done < n; done += batchSize {
		if err := in.batch(ctx, min(batchSize, n-done), outboxRow, true); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var drained int64
	for {
		k, err := outboxDrainBatch(ctx, db, 512)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
		drained += int64(k)
	}
	d := time.Since(start)
	t.Logf("RESULT sqlite outbox drain: %d rows in %.2fs = %.0f rows/s", drained, d.Seconds(), rate(drained, d))
	if drained != int64(n) {
		t.Fatalf("drained %d, want %d", drained, n)
	}

	dur := envDuration("REPORTIT_RIVERSPIKE_DURATION", 15*time.Second)
	var stop atomic.Bool
	var during atomic.Int64
	done := make(chan error, 1)
	go func() {
		for !stop.Load() {
			k, err := outboxDrainBatch(ctx, db, 512)
			if err != nil {
				done <- err
				return
			}
			during.Add(int64(k))
			if k == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		done <- nil
	}()
	start = time.Now()
	var reports int64
	for time.Since(start) < dur {
		if err := in.batch(ctx, batchSize, outboxRow, true); err != nil {
			t.Fatal(err)
		}
		reports += int64(batchSize)
	}
	d = time.Since(start)
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("RESULT sqlite outbox concurrent: intake %d reports in %.1fs = %.0f reports/s; dispatcher marked %d = %.0f rows/s",
		reports, d.Seconds(), rate(reports, d), during.Load(), rate(during.Load(), d))
}
