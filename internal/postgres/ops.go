package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportit/reportit/internal/report"
)

// Group commit of delivery outcomes.
//
// A process runs up to outbox.DefaultWorkers deliveries at once, and each
// ends in a Complete. Committed one by one, every outcome costs a WAL flush
// and holds a pooled connection while it waits for it: with a few
// connections, the completions of a busy runner took all of them and the
// accept batches queued behind. So Complete hands its outcome to the
// outcome writer, a goroutine that, like the accept writer, commits
// whatever is waiting as one transaction: one statement per batch (two or
// more only when a batch holds two outcomes of one job), sent with BEGIN
// and COMMIT in one round trip (see batchTx), one WAL flush, one
// connection.
//
// The outcomes get transactions of their own rather than joining the
// accept batches (as they do in the SQLite store, where there is one
// writer connection anyway): an accept batch holds its advisory locks and
// the hotlines' delivery_seqs rows until its COMMIT, and every other
// replica's batches of those hotlines wait for them; outcomes in it would
// hold them longer, and would add row locks on deliveries to a
// transaction other replicas' acks and outcomes lock in another order.
// PostgreSQL flushes the WAL of concurrent commits together, so the two
// writers' commits still share flushes.
//
// One outcome's failure: if the batch's statement fails on one outcome's
// data (a reason or reference PostgreSQL cannot store, such as a NUL byte),
// the transaction is rolled back and the batch written again outcome by
// outcome, each on its own savepoint, so that only that outcome fails.

// DefaultMaxOutcomes bounds the outcomes one transaction records.
const DefaultMaxOutcomes = 256

// outcomeReq is one Complete waiting for the outcome writer, which sets
// found or err, then closes done.
type outcomeReq struct {
	ctx       context.Context // only consulted before the request joins a batch
	kind      report.DeliveryKind
	at        time.Time // microseconds, UTC; zero for await_pull
	reference string
	reason    string
	attempted int32
	id        string

	found bool
	err   error
	done  chan struct{}
}

// complete queues req for the outcome writer and waits for the commit of
// its batch. ctx bounds the wait for a place in the queue; once req is in
// a batch, the batch's outcome is req's.
func (s *Store) complete(ctx context.Context, req *outcomeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req.ctx, req.done = ctx, make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.outcomes <- req:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	<-req.done
	return req.err
}

// writeOutcomes is the outcome writer goroutine: as write, for outcomes.
// It returns when Close has closed the queue and every queued request is
// answered.
func (s *Store) writeOutcomes() {
	batch := make([]*outcomeReq, 0, s.maxOutcomes)
	for req := range s.outcomes {
		batch = collect(batch[:0], req, s.outcomes, s.maxOutcomes)
		if len(batch) > 0 {
			s.commitOutcomes(batch)
		}
		clear(batch)
	}
}

// commitOutcomes records batch in one transaction, then answers every
// request in it. If the transaction fails, every request gets
// report.ErrUnavailable: nothing of the batch is recorded. A COMMIT that
// fails on a broken connection may have committed all the same; the
// runner then leaves the job to its lease, and it is delivered again (at
// least once), as after any failed Complete.
func (s *Store) commitOutcomes(batch []*outcomeReq) {
	err := s.writeOutcomeBatch(batch, s.hooks.oneByOne)
	if err != nil && perReport(err) {
		// Rare: written again from the start, an outcome at a time.
		s.stats.outcomesOneByOne.Add(1)
		for _, req := range batch {
			req.found, req.err = false, nil
		}
		err = s.writeOutcomeBatch(batch, true)
	}
	if err != nil {
		s.stats.outcomesFailed.Add(1)
		err = unavailable(fmt.Sprintf("batch of %d delivery outcomes", len(batch)), err)
		for _, req := range batch {
			req.found, req.err = false, err
		}
	} else {
		s.stats.outcomeBatches.Add(1)
		s.stats.outcomes.Add(uint64(len(batch)))
	}
	for _, req := range batch {
		close(req.done)
	}
}

// writeOutcomeBatch writes batch in a transaction of its own: as one set
// (a statement per round, see rounds), or with oneByOne each outcome on a
// savepoint of its own, an outcome that fails on its data answered with
// its error. Without oneByOne, an outcome failing on its data fails the
// transaction with that error (see perReport).
func (s *Store) writeOutcomeBatch(batch []*outcomeReq, oneByOne bool) (err error) {
	// Never a caller's context, as for accepts.
	ctx, cancel := context.WithTimeout(context.Background(), s.batchTimeout)
	defer cancel()
	tx, err := s.beginBatch(ctx, s.hooks.beforeOutcomesCommit == nil)
	if err != nil {
		return err
	}
	defer tx.release(ctx)
	if oneByOne {
		err = s.outcomesOneByOne(ctx, tx, batch)
	} else {
		err = s.outcomeSet(ctx, tx, batch)
	}
	if err != nil {
		return err
	}
	if h := s.hooks.beforeOutcomesCommit; h != nil {
		if err = h(ctx, tx, len(batch)); err != nil {
			return err
		}
	}
	return tx.commit(ctx)
}

// outcomeSet writes batch in one round trip: BEGIN, the batch settings,
// one completeBatch per round, and COMMIT (see batchTx).
func (s *Store) outcomeSet(ctx context.Context, tx *batchTx, batch []*outcomeReq) error {
	var b pgx.Batch
	tx.begin(&b)
	b.Queue(s.q.batchSettings)
	for _, round := range rounds(batch) {
		s.queueOutcomes(&b, round)
	}
	tx.queueCommit(&b)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("record delivery outcomes: %w", err)
	}
	return nil
}

// outcomesOneByOne writes each outcome of batch on a savepoint of its own,
// in batch order.
func (s *Store) outcomesOneByOne(ctx context.Context, tx *batchTx, batch []*outcomeReq) error {
	var b pgx.Batch
	tx.begin(&b)
	b.Queue(s.q.batchSettings)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("batch settings: %w", err)
	}
	for _, req := range batch {
		var b pgx.Batch
		b.Queue(s.q.savepointOp)
		s.queueOutcomes(&b, []*outcomeReq{req})
		b.Queue(s.q.releaseSavepointOp)
		err := tx.SendBatch(ctx, &b).Close()
		if err == nil {
			continue
		}
		if !perReport(err) {
			return fmt.Errorf("record delivery outcome: %w", err)
		}
		// One simple query: in an aborted transaction the server parses
		// nothing but a ROLLBACK (see rollbackSet).
		if _, rerr := tx.Exec(ctx, s.q.rollbackToSavepointOp+"; "+s.q.releaseSavepointOp); rerr != nil {
			return fmt.Errorf("record delivery outcome: %w (and rolling back: %w)", err, rerr)
		}
		req.found, req.err = false, fmt.Errorf("postgres: delivery outcome for %s not recorded: %w", req.id, err)
	}
	return nil
}

// queueOutcomes queues the completeBatch of round, whose report ids are
// distinct, and reads each outcome's answer into it.
func (s *Store) queueOutcomes(b *pgx.Batch, round []*outcomeReq) {
	n := len(round)
	kinds := make([]string, n)
	at := make([]*time.Time, n) // NULL for await_pull, which has no time
	refs := make([]string, n)
	attempted := make([]int32, n)
	reasons := make([]string, n)
	ids := make([]string, n)
	for i, req := range round {
		kinds[i], refs[i], attempted[i], reasons[i], ids[i] = string(req.kind), req.reference, req.attempted, req.reason, req.id
		if !req.at.IsZero() {
			at[i] = &req.at
		}
	}
	b.Queue(s.q.completeBatch, kinds, at, refs, attempted, reasons, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var i int64
			var found bool
			if err := rows.Scan(&i, &found); err != nil {
				return err
			}
			if i < 1 || int(i) > n {
				return fmt.Errorf("complete: ordinal %d out of range", i)
			}
			round[i-1].found = found
		}
		return rows.Err()
	})
}

// rounds splits batch so that no round holds two outcomes of one job: the
// k-th outcome of a job in batch order goes to round k, so a job's
// outcomes apply in the order they came. Each round is sorted by report
// id, the order its statement locks the rows in.
func rounds(batch []*outcomeReq) [][]*outcomeReq {
	var out [][]*outcomeReq
	seen := make(map[string]int, len(batch))
	for _, req := range batch {
		k := seen[req.id]
		seen[req.id] = k + 1
		if k == len(out) {
			out = append(out, make([]*outcomeReq, 0, len(batch)))
		}
		out[k] = append(out[k], req)
	}
	for _, round := range out {
		slices.SortFunc(round, func(a, b *outcomeReq) int { return cmp.Compare(a.id, b.id) })
	}
	return out
}
