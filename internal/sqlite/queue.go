package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// The delivery queue (report.Queue). Jobs live in the deliveries table,
// one per primary report, written in the report's transaction (see
// insert). Every write (claims, completions, revives) goes through the
// writer, batched with accepts, so that a worker pool completing many jobs
// at once shares one fsync per batch rather than paying one per job.

var (
	_ report.Queue = (*Store)(nil)
	_ report.Pull  = (*Store)(nil)
)

// MaxClaim bounds the jobs one Claim leases, so that a claim does not hold
// the accepts in its batch for long.
const MaxClaim = 1024

// eraseChunk bounds the primaries one erase transaction handles, as
// purgeChunk does for idempotency records.
const eraseChunk = 500

var (
	errInvalidClaim  = errors.New("sqlite: invalid claim")
	errInvalidResult = errors.New("sqlite: invalid delivery result")
)

// Claim leases up to n (at most MaxClaim) jobs due at now for lease, the
// ones due longest first. A job stays leased until lease has passed or it
// is completed; one whose worker died is claimed again after that, with the
// same Attempt (a claim counts no attempt).
//
// The claim is a write: it joins the writer's next batch.
func (s *Store) Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]report.DeliveryJob, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("%w: lease %v", errInvalidClaim, lease)
	}
	if n <= 0 {
		return nil, nil
	}
	n = min(n, MaxClaim)
	var jobs []report.DeliveryJob
	err := s.submit(ctx, func(ctx context.Context, b *batchTx) error {
		jobs = jobs[:0]
		rows, err := b.stmt(s.w.claim).QueryContext(ctx, micros(now.Add(lease)), micros(now), n)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		for rows.Next() {
			var j report.DeliveryJob
			var attempts, enqueued int64
			if err := rows.Scan(&j.ReportID, &j.HotlineID, &attempts, &enqueued); err != nil {
				rows.Close()
				return fmt.Errorf("claim: %w", err)
			}
			j.Attempt, j.EnqueuedAt = int(attempts)+1, fromMicros(enqueued)
			jobs = append(jobs, j)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives rows in no set order.
	slices.SortFunc(jobs, func(a, b report.DeliveryJob) int {
		return cmp.Or(a.EnqueuedAt.Compare(b.EnqueuedAt), cmp.Compare(a.ReportID, b.ReportID))
	})
	return jobs, nil
}

// Complete records the result of a claimed job, in the writer's next batch.
//
//   - DeliveryDone: delivered at r.At with r.Reference, and the report's
//     status delivered. It applies in any state but delivered: the hotline
//     has the report, even if a worker whose lease had ended says so late.
//     Done on a delivered job changes nothing.
//   - DeliveryRetry: due again at r.At, with r.Reason.
//   - DeliveryDead: dead at r.At, with r.Reason.
//   - DeliveryUseForm: done; the report's status is use_hotline_form since
//     r.At.
//   - DeliveryAwaitPull: no longer claimable; the hotline's ack completes it.
//
// Those but Done apply only to a pending job: a late result of a worker
// whose lease had ended, for a job finished meanwhile, is ignored. An
// attempt is counted when r.Attempted. ErrNotFound if there is no job for
// job.ReportID.
func (s *Store) Complete(ctx context.Context, job report.DeliveryJob, r report.DeliveryResult) error {
	if job.ReportID == "" {
		return fmt.Errorf("%w: no report id", errInvalidResult)
	}
	if r.At.IsZero() && r.Kind != report.DeliveryAwaitPull {
		return fmt.Errorf("%w: %s without a time", errInvalidResult, r.Kind)
	}
	var attempted int64
	if r.Attempted {
		attempted = 1
	}
	at, id := micros(r.At), job.ReportID
	// run writes the job's new state; then, if it changed, the report's.
	var run func(context.Context, *batchTx) (sql.Result, error)
	var then *sql.Stmt
	switch r.Kind {
	case report.DeliveryDone:
		run = func(ctx context.Context, b *batchTx) (sql.Result, error) {
			return b.stmt(s.w.completeDone).ExecContext(ctx, at, r.Reference, attempted, id)
		}
		then = s.w.reportDelivered
	case report.DeliveryRetry:
		run = func(ctx context.Context, b *batchTx) (sql.Result, error) {
			return b.stmt(s.w.completeRetry).ExecContext(ctx, at, attempted, r.Reason, id)
		}
	case report.DeliveryDead:
		run = func(ctx context.Context, b *batchTx) (sql.Result, error) {
			return b.stmt(s.w.completeDead).ExecContext(ctx, at, attempted, r.Reason, id)
		}
	case report.DeliveryUseForm:
		run = func(ctx context.Context, b *batchTx) (sql.Result, error) {
			return b.stmt(s.w.completeUseForm).ExecContext(ctx, at, attempted, id)
		}
		then = s.w.reportUseForm
	case report.DeliveryAwaitPull:
		run = func(ctx context.Context, b *batchTx) (sql.Result, error) {
			return b.stmt(s.w.completeAwaitPull).ExecContext(ctx, attempted, id)
		}
	default:
		return fmt.Errorf("%w: kind %q", errInvalidResult, r.Kind)
	}
	var found bool
	err := s.submit(ctx, func(ctx context.Context, b *batchTx) error {
		res, err := run(ctx, b)
		if err != nil {
			return fmt.Errorf("complete %s: %w", r.Kind, err)
		}
		changed, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("complete %s: %w", r.Kind, err)
		}
		if changed == 0 {
			found, err = exists(ctx, b.stmt(s.w.deliveryExists), id)
			return err
		}
		found = true
		if then != nil {
			if _, err := b.stmt(then).ExecContext(ctx, at, id); err != nil {
				return fmt.Errorf("complete %s: report status: %w", r.Kind, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return report.ErrNotFound
	}
	return nil
}

// exists runs a "SELECT 1 ... WHERE" query.
func exists(ctx context.Context, st *sql.Stmt, args ...any) (bool, error) {
	var one int
	err := st.QueryRowContext(ctx, args...).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, fmt.Errorf("lookup: %w", err)
	}
}

// Load returns report id and its primary's sightings, from the read pool.
// A report whose content retention erased comes back with URL, PageURL,
// Comment and Contact empty. ErrNotFound if id is unknown.
func (s *Store) Load(ctx context.Context, id string) (report.Report, report.Sightings, error) {
	var r report.Report
	var sg report.Sightings
	var ct, cat string
	var received, first, last int64
	err := s.r.loadReport.QueryRowContext(ctx, id).Scan(
		&r.ID, &r.Reference, &r.URL, &r.URLKey, &r.PageURL, &ct, &cat, &r.Country,
		&r.HotlineID, &r.Comment, &r.Contact, &r.Client.Name, &r.Client.Version, &received,
		&sg.Count, &first, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return report.Report{}, report.Sightings{}, report.ErrNotFound
	}
	if err != nil {
		return report.Report{}, report.Sightings{}, unavailable("load", err)
	}
	r.ContentType, r.Category, r.ReceivedAt = report.ContentType(ct), report.Category(cat), fromMicros(received)
	sg.First, sg.Last = fromMicros(first), fromMicros(last)
	return r, sg, nil
}

// QueueStats counts pending jobs (leased or not, due or not; not those
// awaiting a pull) and dead ones, and finds the oldest pending.
func (s *Store) QueueStats(ctx context.Context) (report.QueueStats, error) {
	var st report.QueueStats
	var oldest sql.NullInt64
	if err := s.r.queueStats.QueryRowContext(ctx).Scan(&st.Pending, &st.Dead, &oldest); err != nil {
		return report.QueueStats{}, unavailable("queue stats", err)
	}
	if oldest.Valid {
		st.OldestPending = fromMicros(oldest.Int64)
	}
	return st, nil
}

// Dead lists up to limit dead jobs, the earliest enqueued first.
func (s *Store) Dead(ctx context.Context, limit int) ([]report.DeadDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.r.deadJobs.QueryContext(ctx, limit)
	if err != nil {
		return nil, unavailable("dead jobs", err)
	}
	var out []report.DeadDelivery
	for rows.Next() {
		var d report.DeadDelivery
		var enqueued, died int64
		if err := rows.Scan(&d.ReportID, &d.Reference, &d.HotlineID, &d.Attempts, &enqueued, &died, &d.Reason); err != nil {
			rows.Close()
			return nil, unavailable("dead jobs", err)
		}
		d.EnqueuedAt, d.DiedAt = fromMicros(enqueued), fromMicros(died)
		out = append(out, d)
	}
	if err := closeRows(rows); err != nil {
		return nil, unavailable("dead jobs", err)
	}
	return out, nil
}

// Revive puts the dead job of reportID back, due at now, as if enqueued
// at now: attempts and the maximum age start afresh, or a job that died of
// old age would die again at its first failure. The last reason stays, for
// the operator. ErrNotFound if there is no dead job for reportID.
func (s *Store) Revive(ctx context.Context, reportID string, now time.Time) error {
	if now.IsZero() {
		return fmt.Errorf("%w: revive without a time", errInvalidResult)
	}
	var found bool
	err := s.submit(ctx, func(ctx context.Context, b *batchTx) error {
		res, err := b.stmt(s.w.revive).ExecContext(ctx, micros(now), reportID)
		if err != nil {
			return fmt.Errorf("revive: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("revive: %w", err)
		}
		if found = n > 0; found {
			b.due++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return report.ErrNotFound
	}
	return nil
}

// Erase empties the URL, URL key, page URL, comment and contact of every
// primary delivered (or sent to the hotline's form) before before, and of
// its sightings; ids, references, times and counters stay. It returns how
// many reports it erased, sightings included; run again, it finds nothing.
// It works in chunks, each its own transaction, so accepts wait for one
// chunk at most; run it periodically, off the request path.
//
// A sighting stored after its primary was erased would keep its content;
// that cannot happen while the retention period exceeds the dedup window.
func (s *Store) Erase(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			// erased_at is a record, not an input to any decision: the
			// wall clock is fine.
			res, err := tx.ExecContext(ctx, s.q.eraseReports, micros(time.Now()), micros(before), eraseChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlite: erase: %w", err)
		}
		if n == 0 {
			return total, nil
		}
	}
}

// Wake is signalled (buffered, one signal at most) after a commit that
// made jobs due: new primary reports, or a revive. It has one reader: the
// process's dispatcher.
func (s *Store) Wake() <-chan struct{} { return s.wake }

// ReleaseLeases ends every lease now: the jobs become due at once, or when
// they were due if that is earlier. Call it once at start-up in the
// process that runs the dispatcher, before its first Claim: the jobs a
// crashed predecessor held are then delivered at once instead of after
// their leases. Never while another process delivers from the same file.
// It returns how many leases it ended.
func (s *Store) ReleaseLeases(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.releaseLeases, micros(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: release leases: %w", err)
	}
	if n > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return n, nil
}
