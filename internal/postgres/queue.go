package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportit/reportit/internal/report"
)

// The delivery queue (report.Queue), shared by every replica on the
// database. Jobs live in the deliveries table, one per primary report,
// written in the report's batch transaction (see enqueueJobs).
//
// Unlike the SQLite store, claims and completions do not join the accept
// batches. A claim is one statement in a transaction of its own, on the
// pool, so it never waits behind a batch of reports; completions are
// committed in batches of their own by the outcome writer (ops.go), so
// that a worker pool completing many jobs at once shares one commit and
// one connection.
//
// Claims take due rows with FOR UPDATE SKIP LOCKED and move them to the
// lease's end, so replicas claiming at once never take the same job while
// its lease runs, and a replica that dies leaves its jobs to be claimed
// again when their leases end. New work wakes every replica's dispatcher
// through LISTEN/NOTIFY, on a connection of its own (see listen).

var (
	_ report.Queue = (*Store)(nil)
	_ report.Pull  = (*Store)(nil)
)

// MaxClaim bounds the jobs one Claim leases.
const MaxClaim = 1024

// eraseChunk bounds the primaries one erase transaction handles, as
// purgeChunk does for idempotency records.
const eraseChunk = 500

// Listener reconnection: after a lost connection, wait this long at first,
// doubling up to the maximum, so a database that is down is not hammered.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

var (
	errInvalidClaim  = errors.New("postgres: invalid claim")
	errInvalidResult = errors.New("postgres: invalid delivery result")
)

// Claim leases up to n (at most MaxClaim) jobs due at now for lease, the
// ones due longest first. A job stays leased until lease has passed or it
// is completed; one whose worker died is claimed again after that, with the
// same Attempt (a claim counts no attempt). Claims of several replicas run
// at once, each skipping the rows another is claiming.
func (s *Store) Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]report.DeliveryJob, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("%w: lease %v", errInvalidClaim, lease)
	}
	if n <= 0 {
		return nil, nil
	}
	if s.isClosed() {
		return nil, errClosed
	}
	now = micro(now)
	rows, err := s.pool.Query(ctx, s.q.claim, now.Add(lease.Truncate(time.Microsecond)), now, min(n, MaxClaim), s.owner)
	if err != nil {
		return nil, unavailable("claim", err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (report.DeliveryJob, error) {
		var j report.DeliveryJob
		var attempts int32
		err := row.Scan(&j.ReportID, &j.HotlineID, &attempts, &j.EnqueuedAt)
		j.Attempt, j.EnqueuedAt = int(attempts)+1, j.EnqueuedAt.UTC()
		return j, err
	})
	if err != nil {
		return nil, unavailable("claim", err)
	}
	// RETURNING gives rows in no set order.
	slices.SortFunc(jobs, func(a, b report.DeliveryJob) int {
		return cmp.Or(a.EnqueuedAt.Compare(b.EnqueuedAt), cmp.Compare(a.ReportID, b.ReportID))
	})
	return jobs, nil
}

// Complete records the result of a claimed job, as the SQLite store does:
//
//   - DeliveryDone: delivered at r.At with r.Reference, and the report's
//     status delivered. It applies in any state but delivered: the hotline
//     has the report, even if a worker whose lease had ended says so late.
//   - DeliveryRetry: due again at r.At, with r.Reason.
//   - DeliveryDead: dead at r.At, with r.Reason.
//   - DeliveryUseForm: done; the report's status is use_hotline_form.
//   - DeliveryAwaitPull: no longer claimable; the hotline's ack completes it.
//
// Those but Done apply only to a pending job: a late result for a job
// finished meanwhile is ignored. An attempt is counted when r.Attempted.
// ErrNotFound if there is no job for job.ReportID. The job and the
// report's status change in one statement, so atomically.
//
// The outcome joins a batch of outcomes committed together (see ops.go),
// and Complete returns once that commit is durable. ctx bounds the wait
// for a place in the batch queue; once the outcome is in a batch, the
// batch's result is Complete's.
func (s *Store) Complete(ctx context.Context, job report.DeliveryJob, r report.DeliveryResult) error {
	if job.ReportID == "" {
		return fmt.Errorf("%w: no report id", errInvalidResult)
	}
	if r.At.IsZero() && r.Kind != report.DeliveryAwaitPull {
		return fmt.Errorf("%w: %s without a time", errInvalidResult, r.Kind)
	}
	req := &outcomeReq{kind: r.Kind, reference: r.Reference, reason: r.Reason, id: job.ReportID}
	switch r.Kind {
	case report.DeliveryDone, report.DeliveryRetry, report.DeliveryDead, report.DeliveryUseForm:
		req.at = micro(r.At)
	case report.DeliveryAwaitPull:
	default:
		return fmt.Errorf("%w: kind %q", errInvalidResult, r.Kind)
	}
	if r.Attempted {
		req.attempted = 1
	}
	if err := s.complete(ctx, req); err != nil {
		return err
	}
	if !req.found {
		return report.ErrNotFound
	}
	return nil
}

// Load returns report id and its primary's sightings. A report whose
// content retention erased comes back with URL, PageURL, Comment and
// Contact empty. ErrNotFound if id is unknown.
func (s *Store) Load(ctx context.Context, id string) (report.Report, report.Sightings, error) {
	if s.isClosed() {
		return report.Report{}, report.Sightings{}, errClosed
	}
	var r report.Report
	var sg report.Sightings
	var ct, cat string
	var count int64
	err := s.pool.QueryRow(ctx, s.q.loadReport, id).Scan(
		&r.ID, &r.Reference, &r.URL, &r.URLKey, &r.PageURL, &ct, &cat, &r.Country,
		&r.HotlineID, &r.Comment, &r.Contact, &r.Client.Name, &r.Client.Version, &r.ReceivedAt,
		&count, &sg.First, &sg.Last)
	if errors.Is(err, pgx.ErrNoRows) {
		return report.Report{}, report.Sightings{}, report.ErrNotFound
	}
	if err != nil {
		return report.Report{}, report.Sightings{}, unavailable("load", err)
	}
	r.ContentType, r.Category, r.ReceivedAt = report.ContentType(ct), report.Category(cat), r.ReceivedAt.UTC()
	sg.Count, sg.First, sg.Last = int(count), sg.First.UTC(), sg.Last.UTC()
	return r, sg, nil
}

// QueueStats counts pending jobs (leased or not, due or not; not those
// awaiting a pull) and dead ones, and finds the oldest pending.
func (s *Store) QueueStats(ctx context.Context) (report.QueueStats, error) {
	if s.isClosed() {
		return report.QueueStats{}, errClosed
	}
	var st report.QueueStats
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, s.q.queueStats).Scan(&st.Pending, &st.Dead, &oldest); err != nil {
		return report.QueueStats{}, unavailable("queue stats", err)
	}
	if oldest != nil {
		st.OldestPending = oldest.UTC()
	}
	return st, nil
}

// Dead lists up to limit dead jobs, the earliest enqueued first.
func (s *Store) Dead(ctx context.Context, limit int) ([]report.DeadDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	if s.isClosed() {
		return nil, errClosed
	}
	rows, err := s.pool.Query(ctx, s.q.deadJobs, limit)
	if err != nil {
		return nil, unavailable("dead jobs", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (report.DeadDelivery, error) {
		var d report.DeadDelivery
		var attempts int32
		err := row.Scan(&d.ReportID, &d.Reference, &d.HotlineID, &attempts, &d.EnqueuedAt, &d.DiedAt, &d.Reason)
		d.Attempts, d.EnqueuedAt, d.DiedAt = int(attempts), d.EnqueuedAt.UTC(), d.DiedAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, unavailable("dead jobs", err)
	}
	return out, nil
}

// Revive puts the dead job of reportID back, due at now, as if enqueued
// at now: attempts and the maximum age start afresh. The last reason
// stays, for the operator. Every replica's dispatcher is woken. ErrNotFound
// if there is no dead job for reportID.
func (s *Store) Revive(ctx context.Context, reportID string, now time.Time) error {
	if now.IsZero() {
		return fmt.Errorf("%w: revive without a time", errInvalidResult)
	}
	if s.isClosed() {
		return errClosed
	}
	var found bool
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q.revive, micro(now), reportID)
		if err != nil {
			return err
		}
		if found = tag.RowsAffected() > 0; found {
			_, err = tx.Exec(ctx, s.q.notify, s.owner)
		}
		return err
	})
	if err != nil {
		return unavailable("revive", err)
	}
	if !found {
		return report.ErrNotFound
	}
	s.signal()
	return nil
}

// Erase empties the URL, URL key, page URL, comment and contact of every
// primary delivered (or sent to the hotline's form) before before, and of
// its sightings; ids, references, times and counters stay. It returns how
// many reports it erased, sightings included; run again, it finds nothing.
// It works in chunks, each its own transaction; replicas may all run it.
func (s *Store) Erase(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		if s.isClosed() {
			return total, errClosed
		}
		// erased_at is a record, not an input to any decision: the wall
		// clock is fine.
		tag, err := s.pool.Exec(ctx, s.q.eraseReports, micro(time.Now()), micro(before), eraseChunk)
		if err != nil {
			return total, unavailable("erase", err)
		}
		n := tag.RowsAffected()
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

// Wake is signalled (buffered, one signal at most) after a commit that
// made jobs due, by this store or, through NOTIFY, by any other replica on
// the database; and after the listening connection was re-established,
// since notifications sent meanwhile are lost. It has one reader: the
// process's dispatcher.
func (s *Store) Wake() <-chan struct{} { return s.wake }

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ReleaseLeases ends the leases held under this store's replica ID (see
// WithReplicaID): the jobs become due at once, or when they were due if
// that is earlier. It returns how many leases it ended.
//
// Unlike the SQLite store's, it never ends another replica's leases: on a
// shared database a lease held by another name may belong to a live worker
// mid-delivery, and ending it would have the job delivered twice. So with
// the default random replica ID it is a no-op at start-up, and the leases
// of a crashed replica end when they expire (outbox.DefaultLease).
func (s *Store) ReleaseLeases(ctx context.Context, now time.Time) (int64, error) {
	if s.isClosed() {
		return 0, errClosed
	}
	tag, err := s.pool.Exec(ctx, s.q.releaseLeases, micro(now), s.owner)
	if err != nil {
		return 0, unavailable("release leases", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		s.signal()
		return n, nil
	}
	return 0, nil
}

// listen keeps a connection of its own (not one of the pool's: a pooled
// connection goes back to the pool and would stop listening) listening for
// other replicas' notifications, and turns each into a Wake signal. It
// reconnects after a failure, with a growing pause, and signals Wake when
// it listens again: notifications sent while it was not listening are
// lost, and the dispatcher must look for what they announced. It returns
// when ctx ends.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	defer close(s.listening)
	pause := listenRetryMin
	for {
		s.listenOnce(ctx, cfg, func() { pause = listenRetryMin })
		if ctx.Err() != nil {
			return
		}
		s.signal()
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, listenRetryMax)
	}
}

// listenOnce connects, listens, and relays notifications until the
// connection fails or ctx ends. up is called once it listens.
func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, up func()) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, s.q.listen); err != nil {
		return
	}
	up()
	select {
	case <-s.listenUp:
	default:
		close(s.listenUp)
	}
	// What was committed before LISTEN took effect announced itself to
	// nobody here.
	s.signal()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		if n.Payload != s.owner {
			s.signal()
		}
	}
}
