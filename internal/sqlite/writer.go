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

// job is a write other than an accept (a purge, later delivery updates),
// run by the writer in a transaction of its own.
type job struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	err  error
	done chan struct{}
}

// writeStmts are prepared on the writer's single connection, so binding
// them to a batch transaction does not prepare them again.
type writeStmts struct {
	findIdempotency, insertIdempotency, purgeIdempotency *sql.Stmt
	findPrimary, insertReport, addSighting               *sql.Stmt
	savepoint, release, rollbackTo                       *sql.Stmt
}

func (w *writeStmts) close() {
	for _, st := range []*sql.Stmt{
		w.findIdempotency, w.insertIdempotency, w.purgeIdempotency,
		w.findPrimary, w.insertReport, w.addSighting,
		w.savepoint, w.release, w.rollbackTo,
	} {
		if st != nil {
			st.Close()
		}
	}
}

// run is the writer goroutine: the only user of the write connection. While
// it commits one batch, new requests queue up; it then takes all of them
// (up to maxBatch) into the next transaction, so under load many reports
// share one fsync. It returns when Close has closed the queue and every
// queued request is answered.
func (s *Store) run() {
	defer close(s.stopped)
	batch := make([]*acceptReq, 0, s.maxBatch)
	for {
		select {
		case req, ok := <-s.queue:
			if !ok {
				return
			}
			batch = s.collect(batch[:0], req)
			if len(batch) > 0 {
				s.commitBatch(batch)
			}
			clear(batch) // let the answered requests go
		case j := <-s.jobs:
			j.err = s.runJob(j)
			close(j.done)
		}
	}
}

// collect adds first and whatever else is queued, without waiting, up to
// maxBatch. A request whose caller has given up before it joins a batch is
// answered with the context's error and not stored.
func (s *Store) collect(batch []*acceptReq, first *acceptReq) []*acceptReq {
	add := func(req *acceptReq) {
		if err := req.ctx.Err(); err != nil {
			req.err = err
			close(req.done)
			return
		}
		batch = append(batch, req)
	}
	add(first)
	for len(batch) < s.maxBatch {
		select {
		case req, ok := <-s.queue:
			if !ok {
				return batch
			}
			add(req)
		default:
			return batch
		}
	}
	return batch
}

// commitBatch writes and commits batch, then answers every request in it.
// If the transaction fails, every request gets report.ErrUnavailable:
// nothing of the batch is stored, and answers computed inside it (a replay,
// a conflict) may rest on rows that were rolled back.
func (s *Store) commitBatch(batch []*acceptReq) {
	if err := s.writeBatch(batch); err != nil {
		s.stats.failed.Add(1)
		err = unavailable(fmt.Sprintf("batch of %d", len(batch)), err)
		for _, req := range batch {
			req.res, req.err, req.stored = report.Accepted{}, err, false
		}
	} else {
		s.stats.batches.Add(1)
		var n uint64
		for _, req := range batch {
			if req.stored {
				n++
			}
		}
		s.stats.reports.Add(n)
	}
	for _, req := range batch {
		close(req.done)
	}
}

func (s *Store) writeBatch(batch []*acceptReq) (err error) {
	// Never a caller's context: one caller giving up must not roll back
	// the reports of everyone else in the batch.
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = s.acceptBatch(ctx, tx, batch); err != nil {
		return err
	}
	if h := s.hooks.beforeCommit; h != nil {
		if err = h(len(batch)); err != nil {
			return err
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// acceptBatch writes every request of batch in tx, in queue order, so a
// later request sees an earlier one's rows: the same idempotency key twice
// in a batch is a replay, the same URL twice a sighting.
//
// It is the one place a batch is written. Whatever must be stored
// atomically with a report goes here too (the delivery job of each new
// primary report, for one).
//
// A request that breaks a constraint is rolled back to its savepoint and
// answered with an error of its own; any other error fails the batch.
func (s *Store) acceptBatch(ctx context.Context, tx *sql.Tx, batch []*acceptReq) error {
	st := writeStmts{
		findIdempotency:   tx.StmtContext(ctx, s.w.findIdempotency),
		insertIdempotency: tx.StmtContext(ctx, s.w.insertIdempotency),
		findPrimary:       tx.StmtContext(ctx, s.w.findPrimary),
		insertReport:      tx.StmtContext(ctx, s.w.insertReport),
		addSighting:       tx.StmtContext(ctx, s.w.addSighting),
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

// acceptOne answers req, writing its rows if it is new. It returns an
// error only when the transaction can no longer be trusted.
func acceptOne(ctx context.Context, st *writeStmts, req *acceptReq) error {
	r := &req.r
	at := micros(r.ReceivedAt)

	var fp string
	var prev report.Accepted
	var prevAt int64
	err := st.findIdempotency.QueryRowContext(ctx, r.IdempotencyKey).
		Scan(&fp, &prev.ID, &prev.Reference, &prev.HotlineID, &prev.PrimaryID, &prevAt)
	switch {
	case err == nil && fp == r.Fingerprint:
		prev.ReceivedAt, prev.Replayed = fromMicros(prevAt), true
		req.res = prev
		return nil
	case err == nil:
		req.err = report.ErrIdempotencyConflict
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("find idempotency record: %w", err)
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
	primary := r.ID
	if w := req.window.Microseconds(); w > 0 {
		var id string
		err := st.findPrimary.QueryRowContext(ctx, r.URLKey, r.HotlineID, at-w, at+w).Scan(&id)
		switch {
		case err == nil:
			primary = id
		case !errors.Is(err, sql.ErrNoRows):
			return report.Accepted{}, fmt.Errorf("find primary: %w", err)
		}
	}
	if _, err := st.insertReport.ExecContext(ctx,
		r.ID, r.Reference, primary, r.URL, r.URLKey, r.PageURL, string(r.ContentType), string(r.Category),
		r.Country, r.HotlineID, r.Comment, r.Contact, r.Client.Name, r.Client.Version,
		at, at, at,
	); err != nil {
		return report.Accepted{}, fmt.Errorf("insert report: %w", err)
	}
	if primary != r.ID {
		if _, err := st.addSighting.ExecContext(ctx, at, at, primary); err != nil {
			return report.Accepted{}, fmt.Errorf("add sighting: %w", err)
		}
	}
	if _, err := st.insertIdempotency.ExecContext(ctx,
		r.IdempotencyKey, r.Fingerprint, r.ID, r.Reference, r.HotlineID, primary, at,
	); err != nil {
		return report.Accepted{}, fmt.Errorf("insert idempotency record: %w", err)
	}
	return report.Accepted{
		ID:         r.ID,
		Reference:  r.Reference,
		HotlineID:  r.HotlineID,
		ReceivedAt: fromMicros(at),
		PrimaryID:  primary,
	}, nil
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
