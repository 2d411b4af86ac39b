// Package postgres is the PostgreSQL implementation of report.Store, and
// of the delivery contracts report.Queue and report.Pull, for running
// several replicas of reportit on one database (PostgreSQL 12 or later).
// It answers exactly as the SQLite store does and passes the same
// contracts (storetest). What several replicas add (claims that skip each
// other's rows, leases, LISTEN/NOTIFY, a commit-ordered pull cursor) is
// described in queue.go and pull.go.
//
// Durability: a report is acknowledged only after the transaction holding
// it is committed with synchronous commit, which the store checks on every
// connection (and refuses fsync or synchronous_commit off). To keep that
// affordable under load, each process hands its accepts to a writer
// goroutine (one by default, see WithWriters) that commits whatever is
// waiting as one transaction: one WAL flush for a batch of reports (group
// commit), in two round trips whatever the batch's size. The outcomes of
// delivery runs (Complete) are group-committed the same way, by a writer
// of their own (see ops.go).
//
// Several processes write at once, so correctness cannot rest on the single
// writer. Each batch transaction first takes a transaction-scoped advisory
// lock for every idempotency key and every (URL, hotline) pair it holds, in
// one sorted order, and only then reads what it decides on. See acceptBatch
// for why this and not the alternatives.
package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportit/reportit/internal/report"
)

// Defaults for the options.
const (
	// DefaultMaxBatch bounds a batch to 256 reports, 512 advisory locks:
	// PostgreSQL's shared lock table holds max_locks_per_transaction ×
	// (max_connections + max_prepared_transactions) locks in all, 6,400
	// with the defaults, and a batch over it would fail. 256 per WAL flush
	// is already far past the point where the flush stops mattering.
	DefaultMaxBatch = 256
	// DefaultBatchTimeout bounds one batch transaction, commit included,
	// so that a server that stopped answering fails the batch (its callers
	// get report.ErrUnavailable) instead of holding them forever.
	DefaultBatchTimeout = 15 * time.Second
	// DefaultWriters is how many batches one process commits at once. On a
	// 2-core machine with the server on it, one writer making bigger
	// batches did as well as two or better (BenchmarkAcceptParallel); a
	// server further away, with more latency per round trip, favours more.
	DefaultWriters = 1
)

// Option changes how Open (and Migrate) set up the store.
type Option func(*options)

type options struct {
	replicaID    string
	maxBatch     int
	writers      int
	maxConns     int32
	batchTimeout time.Duration
	hooks        hooks
}

// hooks let the package's tests look inside the writer.
type hooks struct {
	// beforeCommit runs in the writer after a batch's statements, before
	// COMMIT; an error fails the batch as a failed COMMIT would.
	beforeCommit func(ctx context.Context, tx *batchTx, batchLen int) error
	// oneByOne makes every batch take the path it otherwise takes only
	// after a report broke a constraint: each report on its own savepoint.
	// Batches of delivery outcomes too.
	oneByOne bool
	// beforeOutcomesCommit is beforeCommit for the outcome writer.
	beforeOutcomesCommit func(ctx context.Context, tx *batchTx, batchLen int) error
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

// WithReplicaID names this store among the replicas sharing the database,
// as the holder of the delivery leases it takes. The name must be unique
// among live replicas and may stay the same across restarts of one (a
// container's hostname, say): ReleaseLeases at start-up then ends the
// leases of the same replica's previous, crashed process at once, instead
// of after they expire. Without it, each Store gets a random name, and a
// crashed process's leases simply expire.
func WithReplicaID(id string) Option {
	return func(o *options) {
		if id != "" {
			o.replicaID = id
		}
	}
}

// WithWriters sets how many batch transactions this process may have in
// flight at once. More than one lets a batch fill and start while the
// previous one waits for its WAL flush; they are safe together for the
// same reason replicas are. 1 gives strict queue order across batches.
func WithWriters(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.writers = n
		}
	}
}

// WithMaxConns sets the size of the connection pool (each writer and the
// outcome writer use one at a time; claims and reads the others). Without
// it, the URL's pool_max_conns applies, or else DefaultMaxConns (plus one
// for each writer past the first).
func WithMaxConns(n int32) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConns = n
		}
	}
}

// WithBatchTimeout sets how long one batch transaction may take.
func WithBatchTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.batchTimeout = d
		}
	}
}

func newOptions(opts []Option) *options {
	o := &options{maxBatch: DefaultMaxBatch, writers: DefaultWriters, batchTimeout: DefaultBatchTimeout}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Store keeps reports in a PostgreSQL database. It is safe for concurrent
// use, and any number of Stores (in one process or in several) may share
// one database.
type Store struct {
	q            *queries
	pool         *pgxpool.Pool
	maxBatch     int
	maxOutcomes  int
	batchTimeout time.Duration
	hooks        hooks

	// mu guards closed and every send on queue and outcomes, so that
	// Close can close them knowing no sender is left.
	mu       sync.RWMutex
	closed   bool
	queue    chan *acceptReq
	outcomes chan *outcomeReq
	// stopped is closed when the writer goroutines (accepts and outcomes)
	// have drained their queues and returned.
	stopped chan struct{}

	// owner names this store as a lease holder and a NOTIFY sender.
	owner string
	// wake is signalled after a commit that made delivery jobs due, here
	// or (by NOTIFY) in another replica.
	wake chan struct{}
	// stopListen ends the listening goroutine, which closes listening
	// when it has returned; listenUp is closed once it first listens.
	stopListen context.CancelFunc
	listening  chan struct{}
	listenUp   chan struct{}

	closeOnce sync.Once

	stats struct {
		batches, reports, failed, oneByOne                         atomic.Uint64
		outcomeBatches, outcomes, outcomesFailed, outcomesOneByOne atomic.Uint64
	}
}

// Stats counts what the writer did since Open.
type Stats struct {
	// Batches is the number of committed transactions holding reports.
	Batches uint64
	// Reports is the number of reports stored (not counting replays).
	Reports uint64
	// FailedBatches is the number of batches that failed as a whole.
	FailedBatches uint64
	// OneByOne is the number of batches redone report by report because a
	// report in them broke a constraint.
	OneByOne uint64

	// OutcomeBatches is the number of committed transactions holding
	// delivery outcomes (Complete), and Outcomes the outcomes they held.
	OutcomeBatches, Outcomes uint64
	// FailedOutcomeBatches is the number of batches of outcomes that
	// failed as a whole; OutcomesOneByOne, of those redone outcome by
	// outcome because one in them could not be stored.
	FailedOutcomeBatches, OutcomesOneByOne uint64
}

var (
	errClosed = fmt.Errorf("postgres: store closed: %w", report.ErrUnavailable)
)

// Open connects to the database at url (a postgres:// URL or a key=value
// string, as pgx takes them), checks that commits are durable, applies
// pending migrations and starts the writer. ctx bounds Open only.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := newOptions(opts)
	q, err := loadQueries(queriesSQL)
	if err != nil {
		return nil, err
	}
	ms, err := embeddedMigrations()
	if err != nil {
		return nil, err
	}
	pool, err := newPool(ctx, url, o, q)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, pool, q, ms); err != nil {
		pool.Close()
		return nil, err
	}
	owner := o.replicaID
	if owner == "" {
		owner = "store-" + rand.Text()
	}
	s := &Store{
		q:            q,
		pool:         pool,
		owner:        owner,
		wake:         make(chan struct{}, 1),
		listening:    make(chan struct{}),
		listenUp:     make(chan struct{}),
		maxBatch:     o.maxBatch,
		maxOutcomes:  DefaultMaxOutcomes,
		batchTimeout: o.batchTimeout,
		hooks:        o.hooks,
		queue:        make(chan *acceptReq, o.maxBatch),
		outcomes:     make(chan *outcomeReq, DefaultMaxOutcomes),
		stopped:      make(chan struct{}),
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stopListen = stop
	go s.listen(lctx, pool.Config().ConnConfig.Copy())
	go s.run(o.writers)
	return s, nil
}

// Pool is the store's connection pool, for the delivery queue to share
// (River's riverpgxv5 driver takes it). Reports must only be written
// through Accept.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Accept stores r, durably, and answers as report.Store documents. It
// returns only once the transaction holding r is committed; if that commit
// fails, nothing of r is stored and the error is report.ErrUnavailable.
//
// ctx bounds the wait for a place in the queue. Once r is in a batch, the
// batch's outcome is r's, even if ctx ends meanwhile: the report is then
// stored and the answer says so.
//
// ReceivedAt is kept to the microsecond, in UTC; the answer carries the kept
// value. A dedupWindow under a microsecond turns duplicate detection off.
func (s *Store) Accept(ctx context.Context, r report.NewReport, dedupWindow time.Duration) (report.Accepted, error) {
	if err := r.Check(); err != nil {
		return report.Accepted{}, err
	}
	if err := ctx.Err(); err != nil {
		return report.Accepted{}, err
	}
	req := &acceptReq{
		ctx:    ctx,
		r:      r,
		at:     micro(r.ReceivedAt),
		window: dedupWindow.Truncate(time.Microsecond),
		done:   make(chan struct{}),
	}
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

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Status returns the status of the report with this reference; a sighting
// shows its primary's delivery status and time.
func (s *Store) Status(ctx context.Context, reference string) (report.StatusView, error) {
	if s.isClosed() {
		return report.StatusView{}, errClosed
	}
	var v report.StatusView
	var status string
	var delivered *time.Time
	err := s.pool.QueryRow(ctx, s.q.status, reference).
		Scan(&v.ID, &v.Reference, &v.HotlineID, &v.ReceivedAt, &status, &delivered)
	if errors.Is(err, pgx.ErrNoRows) {
		return report.StatusView{}, report.ErrNotFound
	}
	if err != nil {
		return report.StatusView{}, unavailable("status", err)
	}
	v.ReceivedAt = v.ReceivedAt.UTC()
	v.Status = report.Status(status)
	if delivered != nil {
		t := delivered.UTC()
		v.DeliveredAt = &t
	}
	return v, nil
}

// Sightings returns how often the URL of report id was reported to its
// hotline in the primary's window, and when first and last. For a sighting
// it answers for its primary. ErrNotFound if id is unknown.
func (s *Store) Sightings(ctx context.Context, id string) (count int, first, last time.Time, err error) {
	if s.isClosed() {
		return 0, time.Time{}, time.Time{}, errClosed
	}
	var n int64
	err = s.pool.QueryRow(ctx, s.q.sightings, id).Scan(&n, &first, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, time.Time{}, report.ErrNotFound
	}
	if err != nil {
		return 0, time.Time{}, time.Time{}, unavailable("sightings", err)
	}
	return int(n), first.UTC(), last.UTC(), nil
}

// Ping reports whether the store can serve: it is open and the database
// answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.isClosed() {
		return errClosed
	}
	if err := s.pool.Ping(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// ErrIntegrity means IntegrityCheck found a problem.
var ErrIntegrity = errors.New("postgres: integrity check failed")

// maxProblems bounds what IntegrityCheck lists.
const maxProblems = 10

// IntegrityCheck looks for what PostgreSQL's own guarantees do not cover:
// constraints not validated, invalid indexes, reports pointing at a missing
// primary or at a sighting (possible only with triggers disabled), and
// sighting counters that do not match the reports of their primary. It
// reads both tables in full: for tests and maintenance, not for health
// checks.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if s.isClosed() {
		return errClosed
	}
	rows, err := s.pool.Query(ctx, s.q.integrityCheck, maxProblems+1)
	if err != nil {
		return fmt.Errorf("postgres: integrity check: %w", err)
	}
	problems, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: integrity check: %w", err)
	}
	if len(problems) > 0 {
		if len(problems) > maxProblems {
			problems = append(problems[:maxProblems], "and more")
		}
		return fmt.Errorf("%w: %q", ErrIntegrity, problems)
	}
	return nil
}

// purgeChunk bounds one purge transaction, so that it holds its row locks
// briefly and a replica purging at the same time finds work to skip to.
const purgeChunk = 1000

// PurgeIdempotency deletes idempotency records of requests received before
// before (callers pass now minus 24 h) and returns how many it deleted. A
// key purged is free again: a request reusing it is a new report. Run it
// periodically, off the request path; replicas may all run it.
//
// It does not go through the writer: deleting old records conflicts with
// no accept (an accept inserts a key only when it finds none).
func (s *Store) PurgeIdempotency(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		if s.isClosed() {
			return total, errClosed
		}
		tag, err := s.pool.Exec(ctx, s.q.purgeIdempotency, micro(before), purgeChunk)
		if err != nil {
			return total, unavailable("purge idempotency", err)
		}
		n := tag.RowsAffected()
		total += n
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
		OneByOne:      s.stats.oneByOne.Load(),

		OutcomeBatches:       s.stats.outcomeBatches.Load(),
		Outcomes:             s.stats.outcomes.Load(),
		FailedOutcomeBatches: s.stats.outcomesFailed.Load(),
		OutcomesOneByOne:     s.stats.outcomesOneByOne.Load(),
	}
}

// Close stops taking reports and delivery outcomes (Accept and Complete
// then return report.ErrUnavailable), commits those already queued,
// answers their callers, and closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		close(s.outcomes)
		s.mu.Unlock()
		<-s.stopped
		s.stopListen()
		<-s.listening
		s.pool.Close()
	})
	return nil
}
