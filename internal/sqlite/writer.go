package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// acceptReq is one Accept waiting for the writer. The writer sets res or
// err, then closes done.
type acceptReq struct {
	ctx    context.Context // only consulted before the request joins a batch
	r      report.NewReport
	window time.Duration

	res    report.Accepted
	err    error
	stored bool
	done   chan struct{}
}

// job is a write other than an accept or an op (a purge chunk, an erase
// chunk, a client change), run by the writer in a transaction of its own.
type job struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	err  error
	done chan struct{}
}

// op is a delivery write (a claim, a completion, an ack, a revive) that
// joins the batch transaction of accepts. Ops come in streams from many
// workers at once: committed one by one, each would cost an fsync.
type op struct {
	ctx context.Context // only consulted before the op joins a batch
	// apply writes the op in the batch transaction. The op's own answer
	// (the jobs claimed, a not found) it keeps itself; it returns an error
	// only when the transaction can no longer be trusted, or for a
	// constraint violation, which rolls back the op alone.
	apply func(context.Context, *batchTx) error
	err   error
	done  chan struct{}
}

// batch is what one transaction of the writer holds.
type batch struct {
	accepts []*acceptReq
	ops     []*op
}

func (b *batch) empty() bool { return len(b.accepts) == 0 && len(b.ops) == 0 }

func (b *batch) reset() {
	clear(b.accepts) // let the answered requests go
	clear(b.ops)
	b.accepts, b.ops = b.accepts[:0], b.ops[:0]
}

// batchTx is a batch transaction, with the writer's statements bound to
// it on first use.
type batchTx struct {
	ctx   context.Context
	tx    *sql.Tx
	bound map[*sql.Stmt]*sql.Stmt
	// due counts the jobs made due by ops in this transaction (a revive),
	// so that Wake is signalled after the commit.
	due int
}

func (b *batchTx) stmt(st *sql.Stmt) *sql.Stmt {
	if bs, ok := b.bound[st]; ok {
		return bs
	}
	bs := b.tx.StmtContext(b.ctx, st)
	b.bound[st] = bs
	return bs
}

// writeStmts are prepared on the writer's single connection, so binding
// them to a batch transaction does not prepare them again.
type writeStmts struct {
	findIdempotency, insertIdempotency, purgeIdempotency *sql.Stmt
	findPrimary, insertReport, addSighting               *sql.Stmt
	savepoint, release, rollbackTo                       *sql.Stmt
	insertDelivery                                       *sql.Stmt

	savepointOp, releaseOp, rollbackToOp             *sql.Stmt
	claim, completeDone, completeRetry, completeDead *sql.Stmt
	completeUseForm, completeAwaitPull               *sql.Stmt
	reportDelivered, reportUseForm, deliveryExists   *sql.Stmt
	ack, hotlineDeliveryExists, revive               *sql.Stmt
}

func (w *writeStmts) all() []**sql.Stmt {
	return []**sql.Stmt{
		&w.findIdempotency, &w.insertIdempotency, &w.purgeIdempotency,
		&w.findPrimary, &w.insertReport, &w.addSighting,
		&w.savepoint, &w.release, &w.rollbackTo, &w.insertDelivery,
		&w.savepointOp, &w.releaseOp, &w.rollbackToOp,
		&w.claim, &w.completeDone, &w.completeRetry, &w.completeDead,
		&w.completeUseForm, &w.completeAwaitPull,
		&w.reportDelivered, &w.reportUseForm, &w.deliveryExists,
		&w.ack, &w.hotlineDeliveryExists, &w.revive,
	}
}

func (w *writeStmts) close() {
	for _, st := range w.all() {
		if *st != nil {
			(*st).Close()
		}
	}
}

// run is the writer goroutine: the only user of the write connection. While
// it commits one batch, new requests queue up; it then takes all of them
// (up to maxBatch accepts and maxOps delivery ops) into the next
// transaction, so under load many reports, claims and completions share
// one fsync. It returns when Close has closed the queue and every queued
// request and op is answered.
func (s *Store) run() {
	defer close(s.stopped)
	b := &batch{accepts: make([]*acceptReq, 0, s.maxBatch), ops: make([]*op, 0, s.maxOps)}
	for {
		select {
		case req, ok := <-s.queue:
			if !ok {
				s.finish(b)
				return
			}
			s.addAccept(b, req)
		case o := <-s.ops:
			s.addOp(b, o)
		case j := <-s.jobs:
			j.err = s.runJob(j)
			close(j.done)
			continue
		case <-s.restart:
			s.restartCheckpoint()
			continue
		}
		s.collect(b)
		if !b.empty() {
			s.commitBatch(b)
		}
		b.reset()
	}
}

// finish commits the ops still buffered once Close has closed the queue.
// No op can be sent any more: senders hold s.mu while sending, and Close
// marked the store closed under it before closing the queue.
func (s *Store) finish(b *batch) {
	for {
		select {
		case o := <-s.ops:
			s.addOp(b, o)
			if len(b.ops) < s.maxOps {
				continue
			}
		default:
		}
		if b.empty() {
			return
		}
		s.commitBatch(b)
		b.reset()
	}
}

// addAccept adds req to b, unless its caller has given up before it joins
// a batch: it is then answered with the context's error and not stored.
func (s *Store) addAccept(b *batch, req *acceptReq) {
	if err := req.ctx.Err(); err != nil {
		req.err = err
		close(req.done)
		return
	}
	b.accepts = append(b.accepts, req)
}

// addOp does for an op what addAccept does for an accept.
func (s *Store) addOp(b *batch, o *op) {
	if err := o.ctx.Err(); err != nil {
		o.err = err
		close(o.done)
		return
	}
	b.ops = append(b.ops, o)
}

// collect adds to b whatever else is queued, without waiting, up to
// maxBatch accepts and maxOps ops.
func (s *Store) collect(b *batch) {
	queue := s.queue
	for {
		q, o := queue, s.ops
		if len(b.accepts) >= s.maxBatch {
			q = nil
		}
		if len(b.ops) >= s.maxOps {
			o = nil
		}
		if q == nil && o == nil {
			return
		}
		select {
		case req, ok := <-q:
			if !ok {
				queue = nil // closed: run sees it after this batch
				continue
			}
			s.addAccept(b, req)
		case op := <-o:
			s.addOp(b, op)
		default:
			return
		}
	}
}

// commitBatch writes and commits b, then answers every request and op in
// it. If the transaction fails, every one gets report.ErrUnavailable:
// nothing of the batch is stored, and answers computed inside it (a replay,
// a conflict, jobs claimed) may rest on rows that were rolled back.
func (s *Store) commitBatch(b *batch) {
	due, err := s.writeBatch(b, false)
	if errors.Is(err, errRedo) {
		// Rare: written again from the start, with a savepoint per
		// report, so that the report at fault fails alone.
		s.stats.redone.Add(1)
		for _, req := range b.accepts {
			req.res, req.err, req.stored = report.Accepted{}, nil, false
		}
		due, err = s.writeBatch(b, true)
	}
	if err != nil {
		s.stats.failed.Add(1)
		s.noteFull(err)
		err = unavailable(fmt.Sprintf("batch of %d reports and %d delivery ops", len(b.accepts), len(b.ops)), err)
		for _, req := range b.accepts {
			req.res, req.err, req.stored = report.Accepted{}, err, false
		}
		for _, o := range b.ops {
			o.err = err
		}
	} else {
		if len(b.accepts) > 0 {
			s.stats.batches.Add(1)
			var n uint64
			for _, req := range b.accepts {
				if req.stored {
					n++
				}
			}
			s.stats.reports.Add(n)
		}
		if len(b.ops) > 0 {
			s.stats.opBatches.Add(1)
			s.stats.ops.Add(uint64(len(b.ops)))
		}
		if due > 0 {
			// Before the answers: a caller that saw its report accepted
			// finds the signal there.
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
	for _, req := range b.accepts {
		close(req.done)
	}
	for _, o := range b.ops {
		close(o.done)
	}
}

// writeBatch writes b in one transaction: accepts first, then ops in
// arrival order, so that a claim sees the jobs of the reports before it.
// It returns how many jobs the transaction made due.
//
// Without careful, reports are written without savepoints, and a report
// that breaks a constraint fails the attempt with errRedo (see acceptFast).
func (s *Store) writeBatch(b *batch, careful bool) (due int, err error) {
	if err := s.reclaimWAL(); err != nil {
		return 0, err
	}
	// Never a caller's context: one caller giving up must not roll back
	// the reports of everyone else in the batch.
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if len(b.accepts) > 0 {
		if err = s.acceptBatch(ctx, tx, b.accepts, careful); err != nil {
			return 0, err
		}
	}
	btx := &batchTx{ctx: ctx, tx: tx, bound: make(map[*sql.Stmt]*sql.Stmt)}
	for _, o := range b.ops {
		if err = s.applyOp(btx, o); err != nil {
			return 0, err
		}
	}
	if h := s.hooks.beforeCommit; h != nil {
		if err = h(len(b.accepts)); err != nil {
			return 0, err
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	for _, req := range b.accepts {
		if req.stored && req.res.PrimaryID == req.res.ID {
			due++
		}
	}
	return due + btx.due, nil
}

// applyOp runs o inside a savepoint, so that a constraint violation (a
// bug, since ops are checked before they are queued) fails o alone, not
// the reports in the same batch.
func (s *Store) applyOp(b *batchTx, o *op) error {
	if _, err := b.stmt(s.w.savepointOp).ExecContext(b.ctx); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := o.apply(b.ctx, b); err != nil {
		if !isConstraint(err) {
			return err
		}
		if _, rerr := b.stmt(s.w.rollbackToOp).ExecContext(b.ctx); rerr != nil {
			return fmt.Errorf("rollback to savepoint: %w", rerr)
		}
		o.err = fmt.Errorf("sqlite: delivery op not stored: %w", err)
	}
	if _, err := b.stmt(s.w.releaseOp).ExecContext(b.ctx); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// acceptBatch writes every request of batch in tx, in queue order, so a
// later request sees an earlier one's rows: the same idempotency key twice
// in a batch is a replay, the same URL twice a sighting.
//
// It is the one place reports are written. Whatever must be stored
// atomically with a report goes here too: the delivery job of each new
// primary report is.
//
// Careful, a request that breaks a constraint is rolled back to its
// savepoint and answered with an error of its own; any other error fails
// the batch. Otherwise (the first attempt at every batch) the batch is
// written by the fast path (fastpath.go), with multi-row statements and no
// savepoints, and a constraint violation returns errRedo so that the
// caller rolls the whole transaction back and tries again carefully.
// Statements prepared on the writer's connection are only bound to tx
// here, not prepared again.
func (s *Store) acceptBatch(ctx context.Context, tx *sql.Tx, batch []*acceptReq, careful bool) error {
	if !careful {
		return s.acceptFast(ctx, tx, batch)
	}
	st := writeStmts{
		findIdempotency:   tx.StmtContext(ctx, s.w.findIdempotency),
		findPrimary:       tx.StmtContext(ctx, s.w.findPrimary),
		insertReport:      tx.StmtContext(ctx, s.w.insertReport),
		addSighting:       tx.StmtContext(ctx, s.w.addSighting),
		insertDelivery:    tx.StmtContext(ctx, s.w.insertDelivery),
		insertIdempotency: tx.StmtContext(ctx, s.w.insertIdempotency),
		savepoint:         tx.StmtContext(ctx, s.w.savepoint),
		release:           tx.StmtContext(ctx, s.w.release),
		rollbackTo:        tx.StmtContext(ctx, s.w.rollbackTo),
	}
	for _, req := range batch {
		if err := acceptOne(ctx, &st, req); err != nil {
			return err
		}
	}
	return nil
}

// errRedo means a report broke a constraint on the fast path: the batch
// must be rolled back and written again with a savepoint per report.
var errRedo = errors.New("sqlite: a report broke a constraint; batch to be written with savepoints")

// fastErr turns a constraint violation into errRedo.
func fastErr(op string, err error) error {
	if isConstraint(err) {
		return errRedo
	}
	if op == "" {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// replay answers req from the idempotency record of its key, if there is
// one: a replay if the fingerprint matches, a conflict if not.
func replay(ctx context.Context, st *writeStmts, req *acceptReq) (found bool, err error) {
	r := &req.r
	var fp string
	var prev report.Accepted
	var prevAt int64
	err = st.findIdempotency.QueryRowContext(ctx, r.IdempotencyKey).
		Scan(&fp, &prev.ID, &prev.Reference, &prev.HotlineID, &prev.PrimaryID, &prevAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("find idempotency record: %w", err)
	case fp == r.Fingerprint:
		prev.ReceivedAt, prev.Replayed = fromMicros(prevAt), true
		req.res = prev
	default:
		req.err = report.ErrIdempotencyConflict
	}
	return true, nil
}

// acceptOne answers req, writing its rows if it is new. It returns an
// error only when the transaction can no longer be trusted.
func acceptOne(ctx context.Context, st *writeStmts, req *acceptReq) error {
	r := &req.r
	at := micros(r.ReceivedAt)
	if found, err := replay(ctx, st, req); err != nil || found {
		return err
	}

	if _, err := st.savepoint.ExecContext(ctx); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	acc, err := insert(ctx, st, req, at)
	if err != nil {
		if !isConstraint(err) {
			return err
		}
		if _, rerr := st.rollbackTo.ExecContext(ctx); rerr != nil {
			return fmt.Errorf("rollback to savepoint: %w", rerr)
		}
		req.err = fmt.Errorf("sqlite: report %s not stored: %w", r.ID, err)
	} else {
		req.res, req.stored = acc, true
	}
	if _, err := st.release.ExecContext(ctx); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// insert stores r as a primary, or as a sighting of the earliest primary of
// the same URL to the same hotline within the window either side of its
// time. Either side, because reports accepted concurrently can reach the
// writer slightly out of ReceivedAt order.
func insert(ctx context.Context, st *writeStmts, req *acceptReq, at int64) (report.Accepted, error) {
	r := &req.r
	primary, err := findPrimary(ctx, st, req, at)
	if err != nil {
		return report.Accepted{}, err
	}
	acc, err := insertRows(ctx, st, req, at, primary)
	if err != nil {
		return report.Accepted{}, err
	}
	if _, err := st.insertIdempotency.ExecContext(ctx,
		r.IdempotencyKey, r.Fingerprint, r.ID, r.Reference, r.HotlineID, primary, at,
	); err != nil {
		return report.Accepted{}, fmt.Errorf("insert idempotency record: %w", err)
	}
	return acc, nil
}

// findPrimary returns the id of the primary req is a sighting of, or req's
// own id.
func findPrimary(ctx context.Context, st *writeStmts, req *acceptReq, at int64) (string, error) {
	r := &req.r
	w := req.window.Microseconds()
	if w <= 0 {
		return r.ID, nil
	}
	var id string
	var idAt int64 // for the fast path, which compares it with the batch's own primaries
	err := st.findPrimary.QueryRowContext(ctx, r.URLKey, r.HotlineID, at-w, at+w).Scan(&id, &idAt)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, sql.ErrNoRows):
		return r.ID, nil
	default:
		return "", fmt.Errorf("find primary: %w", err)
	}
}

// insertRows writes the report, and its delivery job or its primary's
// sighting, but not its idempotency record.
func insertRows(ctx context.Context, st *writeStmts, req *acceptReq, at int64, primary string) (report.Accepted, error) {
	r := &req.r
	if _, err := st.insertReport.ExecContext(ctx,
		r.ID, r.Reference, primary, r.URL, r.URLKey, r.PageURL, string(r.ContentType), string(r.Category),
		r.Country, r.HotlineID, r.Comment, r.Contact, r.Client.Name, r.Client.Version,
		at, at, at,
	); err != nil {
		return report.Accepted{}, fmt.Errorf("insert report: %w", err)
	}
	if primary == r.ID {
		// The delivery job, due at once, in the report's transaction: no
		// 202 without a job. A replay returned before this point, and a
		// report that fails its savepoint takes its job with it.
		if _, err := st.insertDelivery.ExecContext(ctx, r.ID, r.HotlineID, at, at); err != nil {
			return report.Accepted{}, fmt.Errorf("insert delivery: %w", err)
		}
	} else {
		// A sighting gets no job: it bumps its primary's count, which the
		// hotline sees in the push payload if the primary is not delivered
		// yet, and through the pull API in any case. Pushing an already
		// delivered primary again for a new count is out of scope.
		if _, err := st.addSighting.ExecContext(ctx, at, at, primary); err != nil {
			return report.Accepted{}, fmt.Errorf("add sighting: %w", err)
		}
	}
	return report.Accepted{
		ID:         r.ID,
		Reference:  r.Reference,
		HotlineID:  r.HotlineID,
		ReceivedAt: fromMicros(at),
		PrimaryID:  primary,
	}, nil
}

// submit queues an op for the writer's next batch and waits for its
// commit. ctx bounds the wait for a place in the queue; once the op is in
// a batch, the batch's outcome is the op's.
func (s *Store) submit(ctx context.Context, apply func(context.Context, *batchTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, apply: apply, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.ops <- o:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	<-o.done
	return o.err
}

// write runs fn in a transaction of its own on the writer, between batches.
func (s *Store) write(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.jobs <- j:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	<-j.done
	return j.err
}

func (s *Store) runJob(j *job) (err error) {
	defer func() { s.noteFull(err) }()
	if err := s.reclaimWAL(); err != nil {
		return unavailable("job", err)
	}
	tx, err := s.wdb.BeginTx(j.ctx, nil)
	if err != nil {
		return unavailable("begin", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = j.fn(j.ctx, tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return unavailable("commit", err)
	}
	return nil
}
