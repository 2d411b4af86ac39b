// Package sqlite is the SQLite implementation of report.Store, and of the
// delivery contracts report.Queue and report.Pull.
//
// Durability comes first: a report is acknowledged only after the
// transaction holding it is committed with synchronous=FULL in WAL mode, so
// a crash or a power loss cannot take it back. To keep that affordable under
// load, writes go through one goroutine that owns the only write connection
// and commits whatever is waiting as one transaction: one fsync for a batch
// of reports (group commit). Reads use a separate pool of read-only
// connections, which WAL lets run alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// Defaults for the options.
const (
	DefaultMaxBatch    = 512
	DefaultBusyTimeout = 5 * time.Second
	DefaultReadConns   = 4
	// DefaultMaxOps bounds the delivery ops (claims, completions, acks)
	// one transaction holds besides its reports.
	DefaultMaxOps = 1024
)

// Option changes how Open (and Migrate) set up the store.
type Option func(*options)

type options struct {
	maxBatch    int
	busyTimeout time.Duration
	readConns   int
	hooks       hooks
	// checkpointEvery and restartFrames are the checkpointer's; tests
	// change them.
	checkpointEvery time.Duration
	restartFrames   int
}

// hooks let the package's tests look inside the writer.
type hooks struct {
	// beforeCommit runs in the writer after a batch's statements, before
	// COMMIT, with the number of reports in the batch (0 for a batch of
	// delivery ops only); an error fails the batch as a failed COMMIT
	// would.
	beforeCommit func(batchLen int) error
}

// WithMaxBatch sets how many reports one transaction may hold. 1 commits
// each report on its own (for comparison; it is much slower under load).
func WithMaxBatch(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxBatch = n
		}
	}
}

// WithBusyTimeout sets how long a statement waits for a lock held by
// another process (reportit migrate, a backup) before failing.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d >= time.Millisecond {
			o.busyTimeout = d
		}
	}
}

// WithReadConns sets the size of the read connection pool.
func WithReadConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readConns = n
		}
	}
}

func newOptions(opts []Option) *options {
	o := &options{
		maxBatch: DefaultMaxBatch, busyTimeout: DefaultBusyTimeout, readConns: DefaultReadConns,
		checkpointEvery: checkpointEvery, restartFrames: checkpointRestartFrames,
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Store keeps reports in one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	q        *queries
	wdb, rdb *sql.DB
	w        writeStmts
	r        readStmts
	// fast and scratch are the writer's fast path's (fastpath.go).
	fast     fastStmts
	scratch  fastScratch
	maxBatch int
	maxOps   int
	// busyTimeout is the writer's, restored after a RESTART checkpoint.
	busyTimeout time.Duration
	hooks       hooks

	// mu guards closed and every send on queue, ops and jobs, so that
	// Close can close queue knowing no sender is left.
	mu     sync.RWMutex
	closed bool
	queue  chan *acceptReq
	ops    chan *op
	jobs   chan *job
	// wake is signalled after a commit that made delivery jobs due.
	wake chan struct{}
	// stopped is closed when the writer goroutine has drained queue and
	// returned.
	stopped chan struct{}
	// restart carries the checkpointer's requests for a RESTART
	// checkpoint to the writer goroutine.
	restart, restarted chan struct{}
	ckpt               *checkpointer
	// walFull is set by the writer goroutine (and used by it alone) after
	// a write failed with the disk full (see diskfull.go).
	walFull bool

	closeOnce sync.Once
	closeErr  error

	stats storeStats
}

type storeStats struct {
	batches, reports, failed, opBatches, ops atomic.Uint64
	// redone counts batches written again with a savepoint per report
	// after one of their reports broke a constraint.
	redone                                  atomic.Uint64
	checkpoints, restarts, checkpointErrors atomic.Uint64
	truncates                               atomic.Uint64
}

// Stats counts what the writer did since Open.
type Stats struct {
	// Batches is the number of committed transactions holding reports.
	Batches uint64
	// Reports is the number of reports stored (not counting replays).
	Reports uint64
	// FailedBatches is the number of batches that failed as a whole.
	FailedBatches uint64
	// OpBatches is the number of committed transactions holding delivery
	// ops (claims, completions, acks, revives), and Ops the number of ops
	// they held: Ops/OpBatches is how many share an fsync.
	OpBatches, Ops uint64
	// RedoneBatches is the number of batches written a second time, with
	// a savepoint per report, because a report broke a constraint.
	RedoneBatches uint64
	// Checkpoints counts the checkpointer's PASSIVE checkpoints, Restarts
	// the writer's RESTART ones, and CheckpointErrors those that failed or
	// found the database busy (they are tried again).
	Checkpoints, Restarts, CheckpointErrors uint64
	// WALTruncations counts the TRUNCATE checkpoints the writer ran after
	// a write failed with the disk full.
	WALTruncations uint64
}

type readStmts struct {
	status, sightings                *sql.Stmt
	loadReport, queueStats, deadJobs *sql.Stmt
	listForHotline, client, clients  *sql.Stmt
}

func (r *readStmts) all() []**sql.Stmt {
	return []**sql.Stmt{
		&r.status, &r.sightings, &r.loadReport, &r.queueStats, &r.deadJobs,
		&r.listForHotline, &r.client, &r.clients,
	}
}

var (
	errClosed = fmt.Errorf("sqlite: store closed: %w", report.ErrUnavailable)
)

// Open opens (creating if needed) the database at path, applies pending
// migrations and starts the writer. It fails if WAL, synchronous=FULL,
// foreign keys or the busy timeout did not take effect.
func Open(path string, opts ...Option) (*Store, error) {
	o := newOptions(opts)
	q, err := loadQueries(queriesSQL)
	if err != nil {
		return nil, err
	}
	ms, err := embeddedMigrations()
	if err != nil {
		return nil, err
	}
	if path, err = preparePath(path); err != nil {
		return nil, err
	}
	ctx := context.Background()
	s := &Store{
		q:           q,
		maxBatch:    o.maxBatch,
		maxOps:      DefaultMaxOps,
		hooks:       o.hooks,
		busyTimeout: o.busyTimeout,
		queue:       make(chan *acceptReq, o.maxBatch),
		ops:         make(chan *op, DefaultMaxOps),
		jobs:        make(chan *job),
		wake:        make(chan struct{}, 1),
		stopped:     make(chan struct{}),
		restart:     make(chan struct{}),
		restarted:   make(chan struct{}, 1),
	}
	if s.wdb, err = openWriter(path, o, q); err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, s.wdb, q, ms); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if s.rdb, err = openReader(path, o, q); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	cdb, err := openCheckpointer(path, q)
	if err != nil {
		s.closeDBs()
		return nil, err
	}
	s.ckpt = &checkpointer{
		db: cdb, passive: q.checkpointPassive, restart: s.restart, restarted: s.restarted,
		every: o.checkpointEvery, restartFrames: o.restartFrames,
		stats: &s.stats, stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.ckpt.run()
	go s.run()
	return s, nil
}

func preparePath(path string) (string, error) {
	if path == "" {
		return "", errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	return abs, createPrivate(abs)
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	prep := func(db *sql.DB, dst **sql.Stmt, query string) {
		if err == nil {
			*dst, err = db.PrepareContext(ctx, query)
		}
	}
	prep(s.wdb, &s.w.findIdempotency, s.q.findIdempotency)
	prep(s.wdb, &s.w.insertIdempotency, s.q.insertIdempotency)
	prep(s.wdb, &s.w.findPrimary, s.q.findPrimary)
	prep(s.wdb, &s.w.insertReport, s.q.insertReport)
	prep(s.wdb, &s.w.addSighting, s.q.addSighting)
	prep(s.wdb, &s.w.savepoint, s.q.savepoint)
	prep(s.wdb, &s.w.release, s.q.releaseSavepoint)
	prep(s.wdb, &s.w.rollbackTo, s.q.rollbackToSavepoint)
	prep(s.wdb, &s.w.purgeIdempotency, s.q.purgeIdempotency)
	prep(s.wdb, &s.w.insertDelivery, s.q.insertDelivery)
	prep(s.wdb, &s.w.savepointOp, s.q.savepointOp)
	prep(s.wdb, &s.w.releaseOp, s.q.releaseSavepointOp)
	prep(s.wdb, &s.w.rollbackToOp, s.q.rollbackToSavepointOp)
	prep(s.wdb, &s.w.claim, s.q.claim)
	prep(s.wdb, &s.w.completeDone, s.q.completeDone)
	prep(s.wdb, &s.w.completeRetry, s.q.completeRetry)
	prep(s.wdb, &s.w.completeDead, s.q.completeDead)
	prep(s.wdb, &s.w.completeUseForm, s.q.completeUseForm)
	prep(s.wdb, &s.w.completeAwaitPull, s.q.completeAwaitPull)
	prep(s.wdb, &s.w.reportDelivered, s.q.reportDelivered)
	prep(s.wdb, &s.w.reportUseForm, s.q.reportUseForm)
	prep(s.wdb, &s.w.deliveryExists, s.q.deliveryExists)
	prep(s.wdb, &s.w.ack, s.q.ack)
	prep(s.wdb, &s.w.hotlineDeliveryExists, s.q.hotlineDeliveryExists)
	prep(s.wdb, &s.w.revive, s.q.revive)
	prep(s.rdb, &s.r.status, s.q.status)
	prep(s.rdb, &s.r.sightings, s.q.sightings)
	prep(s.rdb, &s.r.loadReport, s.q.loadReport)
	prep(s.rdb, &s.r.queueStats, s.q.queueStats)
	prep(s.rdb, &s.r.deadJobs, s.q.deadJobs)
	prep(s.rdb, &s.r.listForHotline, s.q.listForHotline)
	prep(s.rdb, &s.r.client, s.q.client)
	prep(s.rdb, &s.r.clients, s.q.clients)
	if err == nil {
		err = s.prepareFast(ctx)
	}
	if err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	return nil
}

// Accept stores r, durably, and answers as report.Store documents. It
// returns only once the transaction holding r is committed; if that commit
// fails, nothing of r is stored and the error is report.ErrUnavailable.
//
// ctx bounds the wait for a place in the queue. Once r is in a batch, the
// batch's outcome is r's, even if ctx ends meanwhile: the report is then
// stored and the answer says so.
//
// ReceivedAt is kept to the microsecond, in UTC; the answer carries the kept
// value. A dedupWindow <= 0 turns duplicate detection off.
func (s *Store) Accept(ctx context.Context, r report.NewReport, dedupWindow time.Duration) (report.Accepted, error) {
	if err := r.Check(); err != nil {
		return report.Accepted{}, err
	}
	if err := ctx.Err(); err != nil {
		return report.Accepted{}, err
	}
	req := &acceptReq{ctx: ctx, r: r, window: dedupWindow, done: make(chan struct{})}
	if err := s.enqueue(ctx, req); err != nil {
		return report.Accepted{}, err
	}
	<-req.done
	return req.res, req.err
}

func (s *Store) enqueue(ctx context.Context, req *acceptReq) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	select {
	case s.queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns the status of the report with this reference; a sighting
// shows its primary's delivery status and time.
func (s *Store) Status(ctx context.Context, reference string) (report.StatusView, error) {
	var v report.StatusView
	var received int64
	var delivered sql.NullInt64
	var status string
	err := s.r.status.QueryRowContext(ctx, reference).Scan(&v.ID, &v.Reference, &v.HotlineID, &received, &status, &delivered)
	if errors.Is(err, sql.ErrNoRows) {
		return report.StatusView{}, report.ErrNotFound
	}
	if err != nil {
		return report.StatusView{}, unavailable("status", err)
	}
	v.ReceivedAt = fromMicros(received)
	v.Status = report.Status(status)
	if delivered.Valid {
		t := fromMicros(delivered.Int64)
		v.DeliveredAt = &t
	}
	return v, nil
}

// Sightings returns how often the URL of report id was reported to its
// hotline in the primary's window, and when first and last. For a sighting
// it answers for its primary. ErrNotFound if id is unknown.
func (s *Store) Sightings(ctx context.Context, id string) (count int, first, last time.Time, err error) {
	var f, l int64
	err = s.r.sightings.QueryRowContext(ctx, id).Scan(&count, &f, &l)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, time.Time{}, report.ErrNotFound
	}
	if err != nil {
		return 0, time.Time{}, time.Time{}, unavailable("sightings", err)
	}
	return count, fromMicros(f), fromMicros(l), nil
}

// Ping reports whether the store can serve: it is open and the database
// answers a query.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return errClosed
	}
	if err := s.rdb.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// ErrIntegrity means PRAGMA integrity_check or foreign_key_check found a
// problem.
var ErrIntegrity = errors.New("sqlite: integrity check failed")

// IntegrityCheck runs SQLite's integrity and foreign key checks. It reads
// the whole database: for tests and maintenance, not for health checks.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	var problems []string
	rows, err := s.rdb.QueryContext(ctx, s.q.integrityCheck)
	if err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: integrity check: %w", err)
		}
		if msg != "ok" {
			problems = append(problems, msg)
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	rows, err = s.rdb.QueryContext(ctx, s.q.foreignKeyCheck)
	if err != nil {
		return fmt.Errorf("sqlite: foreign key check: %w", err)
	}
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: foreign key check: %w", err)
		}
		problems = append(problems, fmt.Sprintf("row %d of %s refers to a missing %s", rowid.Int64, table, parent))
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("sqlite: foreign key check: %w", err)
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("and %d more", len(problems)-10))
		}
		return fmt.Errorf("%w: %q", ErrIntegrity, problems)
	}
	return nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// purgeChunk bounds one purge transaction, so that accepts queued behind it
// wait for a short delete, not for the whole backlog.
const purgeChunk = 1000

// PurgeIdempotency deletes idempotency records of requests received before
// before (callers pass now minus 24 h) and returns how many it deleted. A
// key purged is free again: a request reusing it is a new report. Run it
// periodically, off the request path.
func (s *Store) PurgeIdempotency(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.StmtContext(ctx, s.w.purgeIdempotency).ExecContext(ctx, micros(before), purgeChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlite: purge idempotency: %w", err)
		}
		if n < purgeChunk {
			return total, nil
		}
	}
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Batches:       s.stats.batches.Load(),
		Reports:       s.stats.reports.Load(),
		FailedBatches: s.stats.failed.Load(),
		OpBatches:     s.stats.opBatches.Load(),
		Ops:           s.stats.ops.Load(),
		RedoneBatches: s.stats.redone.Load(),

		Checkpoints:      s.stats.checkpoints.Load(),
		Restarts:         s.stats.restarts.Load(),
		CheckpointErrors: s.stats.checkpointErrors.Load(),
		WALTruncations:   s.stats.truncates.Load(),
	}
}

// Close stops taking reports and delivery ops (they then return
// report.ErrUnavailable), commits those already queued, answers their
// callers, and closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
		<-s.stopped
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

// closeDBs closes the readers and the checkpointer first, so that the
// writer's is the last connection: SQLite then checkpoints the WAL into
// the database file.
func (s *Store) closeDBs() error {
	for _, st := range s.r.all() {
		if *st != nil {
			(*st).Close()
		}
	}
	s.w.close()
	s.fast.close()
	var errs []error
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.wdb.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// unavailable wraps a database failure as report.ErrUnavailable, keeping the
// cause for the log. Causes name tables and columns, never reported data.
func unavailable(op string, err error) error {
	return fmt.Errorf("sqlite: %s: %w: %w", op, report.ErrUnavailable, err)
}
