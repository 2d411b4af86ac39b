package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/reportit/reportit/internal/report"
)

// acceptReq is one Accept waiting for the writer. The writer sets res or
// err, then closes done.
type acceptReq struct {
	ctx    context.Context // only consulted before the request joins a batch
	r      report.NewReport
	at     time.Time     // r.ReceivedAt as kept: microseconds, UTC
	window time.Duration // whole microseconds; 0 or less: no dedup

	res    report.Accepted
	err    error
	stored bool
	done   chan struct{}
}

// run starts the writer goroutines, and the outcome writer (ops.go), and
// closes stopped when all have returned.
func (s *Store) run(writers int) {
	var wg sync.WaitGroup
	for range writers {
		wg.Go(s.write)
	}
	wg.Go(s.writeOutcomes)
	wg.Wait()
	close(s.stopped)
}

// write is a writer goroutine. While it commits one batch, new requests
// queue up; it then takes all of them (up to maxBatch) into the next
// transaction, so under load many reports share one WAL flush. It returns
// when Close has closed the queue and every queued request is answered.
func (s *Store) write() {
	batch := make([]*acceptReq, 0, s.maxBatch)
	for req := range s.queue {
		batch = collect(batch[:0], req, s.queue, s.maxBatch)
		if len(batch) > 0 {
			s.commitBatch(batch)
		}
		clear(batch) // let the answered requests go
	}
}

// A queued request is an accept or an outcome waiting for its writer.
type queued interface {
	// gaveUp answers the request with its context's error, if its caller
	// has given up, and says so.
	gaveUp() bool
}

func (r *acceptReq) gaveUp() bool { return answerGone(r.ctx, &r.err, r.done) }

func (r *outcomeReq) gaveUp() bool { return answerGone(r.ctx, &r.err, r.done) }

func answerGone(ctx context.Context, errp *error, done chan struct{}) bool {
	if err := ctx.Err(); err != nil {
		*errp = err
		close(done)
		return true
	}
	return false
}

// collect adds first and whatever else is queued, without waiting, up to
// max. A request whose caller has given up before it joins a batch is
// answered with the context's error and left out.
func collect[R queued](batch []R, first R, queue <-chan R, max int) []R {
	add := func(req R) {
		if !req.gaveUp() {
			batch = append(batch, req)
		}
	}
	add(first)
	for len(batch) < max {
		select {
		case req, ok := <-queue:
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
//
// A COMMIT that fails on a broken connection may have committed all the
// same; the callers are told it failed, and their retries (same
// idempotency keys) get the stored answers as replays.
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
		for _, req := range batch {
			if req.isNewPrimary() {
				// Before the answers: a caller that saw its report
				// accepted finds the signal there. Other replicas learn
				// of it by NOTIFY.
				s.signal()
				break
			}
		}
	}
	for _, req := range batch {
		close(req.done)
	}
}

func (s *Store) writeBatch(batch []*acceptReq) (err error) {
	// Never a caller's context: one caller giving up must not roll back
	// the reports of everyone else in the batch.
	ctx, cancel := context.WithTimeout(context.Background(), s.batchTimeout)
	defer cancel()
	// READ COMMITTED, whatever the server's default: each statement must
	// see what other replicas committed before this transaction got its
	// locks (see acceptBatch). Begun and, without a hook to run first,
	// committed in the pipelines of the batch's statements (see batchTx).
	tx, err := s.beginBatch(ctx, s.hooks.beforeCommit == nil)
	if err != nil {
		return err
	}
	defer tx.release(ctx)
	if err = s.acceptBatch(ctx, tx, batch); err != nil {
		return err
	}
	if h := s.hooks.beforeCommit; h != nil {
		if err = h(ctx, tx, len(batch)); err != nil {
			return err
		}
	}
	return tx.commit(ctx)
}

// acceptBatch writes every request of batch in tx, answering them as if
// they had been accepted one after the other in queue order: the same
// idempotency key twice in a batch is a replay, the same URL twice a
// sighting.
//
// It is the one place a batch is written. Whatever must be stored
// atomically with a report goes here too (the delivery job of each new
// primary report, for one: after the reports, in tx).
//
// # Several replicas
//
// Other processes run this same transaction on the same tables at the same
// time. Two decisions must hold across them: one answer per idempotency
// key, and one primary per URL and hotline within the window. Both are
// "read, then write what the read decided", so the transaction first takes
// a pg_advisory_xact_lock for every idempotency key and every (url_key,
// hotline_id) of the batch, and reads only after. Under READ COMMITTED each
// later statement sees everything committed by a transaction that held one
// of these locks before (the lock is released after the commit is visible),
// and no such transaction can commit meanwhile. The locks are taken in one
// statement, sorted, so batches with overlapping keys queue up instead of
// deadlocking; they are held to the end of the transaction, WAL flush
// included, which only serialises batches sharing a key or URL.
//
// The alternatives: INSERT ... ON CONFLICT settles the key but not the
// dedup, which depends on a time window either side of each report, so no
// unique index over a bucket expresses it; SERIALIZABLE would settle both
// but fail whole batches on any overlap, to be retried with every report
// in them. The primary and unique keys still stand behind the locks: were
// they ever bypassed, a duplicate key fails like any constraint below.
//
// # One report's failure
//
// The batch is first written as a set, in a handful of statements. If one
// report breaks a constraint (or carries a value the server refuses), the
// set is rolled back to its savepoint and the batch redone report by
// report, each on its own savepoint, so that only the culprit fails. Any
// other error fails the batch. The slow way is for the rare report intake
// validation let through: two round trips per report, and a subtransaction
// each (past 64 of them, other sessions' snapshots get slower until this
// transaction ends).
//
// # Round trips
//
// On the set path a batch is two round trips whatever its size: BEGIN,
// the locks, the savepoint and the lookups in one pipeline; the writes,
// the delivery jobs, NOTIFY and COMMIT in the next (see batchTx).
func (s *Store) acceptBatch(ctx context.Context, tx *batchTx, batch []*acceptReq) error {
	locks := lockKeys(batch)
	if !s.hooks.oneByOne {
		err := s.acceptSet(ctx, tx, batch, locks, func(b *pgx.Batch) {
			s.queueJobs(b, batch)
			tx.queueCommit(b)
		})
		if err == nil || errors.Is(err, errAfterSet) || !perReport(err) {
			return err
		}
		// The locks were taken before the set's savepoint: still held.
		locks = nil
	}
	if err := s.acceptOneByOne(ctx, tx, batch, locks); err != nil {
		return err
	}
	return s.enqueueJobs(ctx, tx, batch)
}

// enqueueJobs inserts the delivery job of every new primary report of
// batch, due at once, in tx: no 202 without a job. A replay, a sighting or
// a report that failed its set has none. It also queues the NOTIFY that
// wakes the other replicas' dispatchers once tx commits.
//
// It runs last, after every other lock the batch takes, because the
// cursor rows it bumps (see insertDeliveries) serialise the batches of a
// hotline across replicas until they commit.
//
// On the set path the jobs go in the pipeline of the set's writes (see
// acceptBatch); enqueueJobs is for the batches written report by report,
// and commits with the jobs.
func (s *Store) enqueueJobs(ctx context.Context, tx *batchTx, batch []*acceptReq) error {
	var b pgx.Batch
	s.queueJobs(&b, batch)
	tx.queueCommit(&b)
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("insert delivery jobs: %w", err)
	}
	return nil
}

// queueJobs queues, in b, the statements enqueueJobs describes, if batch
// has new primaries.
func (s *Store) queueJobs(b *pgx.Batch, batch []*acceptReq) {
	var ids, hotlines []string
	var at []time.Time
	for _, req := range batch {
		if req.isNewPrimary() {
			ids = append(ids, req.res.ID)
			hotlines = append(hotlines, req.res.HotlineID)
			at = append(at, req.at)
		}
	}
	if len(ids) == 0 {
		return
	}
	b.Queue(s.q.insertDeliveries, ids, hotlines, at)
	b.Queue(s.q.notify, s.owner)
}

// isNewPrimary tells whether req was stored as a primary report: the ones
// that get a delivery job.
func (req *acceptReq) isNewPrimary() bool {
	return req.err == nil && req.stored && req.res.PrimaryID == req.res.ID && !req.res.Replayed
}

// acceptOneByOne writes each request of batch as a set of its own, so that
// one breaking a constraint fails alone. locks, if not nil, are taken first.
func (s *Store) acceptOneByOne(ctx context.Context, tx *batchTx, batch []*acceptReq, locks []int64) error {
	s.stats.oneByOne.Add(1)
	for _, req := range batch {
		err := s.acceptSet(ctx, tx, []*acceptReq{req}, locks, nil)
		if err != nil && !perReport(err) {
			return err
		}
		locks = nil
		if err != nil {
			req.err = fmt.Errorf("postgres: report %s not stored: %w", req.r.ID, err)
		}
	}
	return nil
}

// lockKeys returns the advisory lock keys batch needs, sorted and without
// repeats. The (URL, hotline) lock is taken even for a report without
// dedup: it becomes a primary that others must see.
func lockKeys(batch []*acceptReq) []int64 {
	keys := make([]int64, 0, 2*len(batch))
	for _, req := range batch {
		keys = append(keys,
			lockKey("idempotency", req.r.IdempotencyKey),
			lockKey("dedup", req.r.URLKey, req.r.HotlineID))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// dedupKey names the reports that may be sightings of each other.
type dedupKey struct{ urlKey, hotlineID string }

// primary is a candidate primary report.
type primary struct {
	id  string
	at  time.Time
	row int // its row in this set's inserts, or -1 if stored before
}

// before orders primaries as findPrimaries does: by time, then id.
func (p primary) before(q primary) bool {
	if !p.at.Equal(q.at) {
		return p.at.Before(q.at)
	}
	return p.id < q.id
}

// counts are a primary's sighting counters, or what a set adds to them.
type counts struct {
	n           int64
	first, last time.Time
}

func (c *counts) add(at time.Time) {
	c.n++
	if at.Before(c.first) {
		c.first = at
	}
	if at.After(c.last) {
		c.last = at
	}
}

// acceptSet answers and writes set as acceptBatch describes, in two round
// trips: the lookups, then the writes. With locks, it first takes them and
// makes sure the commit will be synchronous. tail, if not nil, queues more
// statements after the writes, in their pipeline. On error it leaves
// nothing of set written (rolled back to its savepoint, if the
// transaction can go on), no request of it answered, and returns the
// error: one that errors.Is errAfterSet if set was written and a
// statement of tail failed.
func (s *Store) acceptSet(ctx context.Context, tx *batchTx, set []*acceptReq, locks []int64, tail func(*pgx.Batch)) (err error) {
	defer func() {
		if err != nil {
			for _, req := range set {
				req.res, req.err, req.stored = report.Accepted{}, nil, false
			}
		}
	}()
	prior, found, err := s.lookUp(ctx, tx, set, locks)
	if err != nil {
		return err
	}

	claimed := make(map[string]*acceptReq, len(set))
	newPrimaries := make(map[dedupKey][]primary)
	var rows reportRows
	grown := make(map[string]*counts) // sightings of primaries stored before
	for i, req := range set {
		r := &req.r
		if p, ok := prior[r.IdempotencyKey]; ok {
			if p.fingerprint == r.Fingerprint {
				req.res = p.acc
			} else {
				req.err = report.ErrIdempotencyConflict
			}
			continue
		}
		if c, ok := claimed[r.IdempotencyKey]; ok {
			if c.r.Fingerprint == r.Fingerprint {
				req.res = c.res
				req.res.Replayed = true
			} else {
				req.err = report.ErrIdempotencyConflict
			}
			continue
		}

		dk := dedupKey{r.URLKey, r.HotlineID}
		best, ok := found[i]
		if req.window > 0 {
			lo, hi := req.at.Add(-req.window), req.at.Add(req.window)
			for _, p := range newPrimaries[dk] {
				if !p.at.Before(lo) && !p.at.After(hi) && (!ok || p.before(best)) {
					best, ok = p, true
				}
			}
		}
		primaryID := r.ID
		switch {
		case !ok:
			newPrimaries[dk] = append(newPrimaries[dk], primary{id: r.ID, at: req.at, row: rows.len()})
		case best.row >= 0:
			primaryID = best.id
			rows.counts[best.row].add(req.at)
		default:
			primaryID = best.id
			c := grown[best.id]
			if c == nil {
				c = &counts{first: req.at, last: req.at}
				grown[best.id] = c
			}
			c.add(req.at)
		}
		rows.add(req, primaryID)
		claimed[r.IdempotencyKey] = req
		req.res = report.Accepted{
			ID: r.ID, Reference: r.Reference, HotlineID: r.HotlineID,
			ReceivedAt: req.at, PrimaryID: primaryID,
		}
		req.stored = true
	}
	return s.writeSet(ctx, tx, &rows, grown, tail)
}

// priorAnswer is an idempotency record stored by an earlier transaction.
type priorAnswer struct {
	fingerprint string
	acc         report.Accepted
}

// lookUp takes the locks (if any), sets the savepoint, and reads the
// idempotency records of set's keys and, for each report with a window,
// the earliest primary stored before within it (by index in set).
func (s *Store) lookUp(ctx context.Context, tx *batchTx, set []*acceptReq, locks []int64) (map[string]priorAnswer, map[int]primary, error) {
	keys := make([]string, len(set))
	var dk, dh []string
	var lo, hi []time.Time
	var dn []int // index in set of each dedup lookup
	for i, req := range set {
		keys[i] = req.r.IdempotencyKey
		if req.window > 0 {
			dk = append(dk, req.r.URLKey)
			dh = append(dh, req.r.HotlineID)
			lo = append(lo, req.at.Add(-req.window))
			hi = append(hi, req.at.Add(req.window))
			dn = append(dn, i)
		}
	}
	var b pgx.Batch
	tx.begin(&b)
	if locks != nil {
		b.Queue(s.q.batchSettings)
		b.Queue(s.q.lockKeys, locks)
	}
	b.Queue(s.q.savepoint)
	prior := make(map[string]priorAnswer)
	b.Queue(s.q.findIdempotency, keys).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var key string
			var p priorAnswer
			a := &p.acc
			if err := rows.Scan(&key, &p.fingerprint, &a.ID, &a.Reference, &a.HotlineID, &a.PrimaryID, &a.ReceivedAt); err != nil {
				return err
			}
			a.ReceivedAt, a.Replayed = a.ReceivedAt.UTC(), true
			prior[key] = p
		}
		return rows.Err()
	})
	found := make(map[int]primary)
	if len(dn) > 0 {
		b.Queue(s.q.findPrimaries, dk, dh, lo, hi).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var n int64
				p := primary{row: -1}
				if err := rows.Scan(&n, &p.id, &p.at); err != nil {
					return err
				}
				if n < 1 || int(n) > len(dn) {
					return fmt.Errorf("find primaries: ordinal %d out of range", n)
				}
				p.at = p.at.UTC()
				found[dn[n-1]] = p
			}
			return rows.Err()
		})
	}
	if err := s.sendSet(ctx, tx, &b, "look up"); err != nil {
		return nil, nil, err
	}
	return prior, found, nil
}

// writeSet inserts rows and their idempotency records, adds grown to the
// counters of primaries stored before, releases the savepoint, and runs
// what tail queues (if not nil) in the same pipeline.
func (s *Store) writeSet(ctx context.Context, tx *batchTx, rows *reportRows, grown map[string]*counts, tail func(*pgx.Batch)) error {
	var b pgx.Batch
	if rows.len() > 0 {
		n := make([]int64, rows.len())
		first := make([]time.Time, rows.len())
		last := make([]time.Time, rows.len())
		for i, c := range rows.counts {
			n[i], first[i], last[i] = c.n, c.first, c.last
		}
		b.Queue(s.q.insertReports,
			rows.id, rows.reference, rows.primaryID, rows.url, rows.urlKey, rows.pageURL,
			rows.contentType, rows.category, rows.country, rows.hotlineID, rows.comment, rows.contact,
			rows.clientName, rows.clientVersion, rows.at, n, first, last)
	}
	if len(grown) > 0 {
		// In id order, so that the row locks are taken in a stable order.
		ids := make([]string, 0, len(grown))
		for id := range grown {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		n := make([]int64, len(ids))
		first := make([]time.Time, len(ids))
		last := make([]time.Time, len(ids))
		for i, id := range ids {
			c := grown[id]
			n[i], first[i], last[i] = c.n, c.first, c.last
		}
		b.Queue(s.q.addSightings, ids, n, first, last)
	}
	if rows.len() > 0 {
		b.Queue(s.q.insertIdempotency, rows.idemKey, rows.fingerprint, rows.id, rows.reference,
			rows.hotlineID, rows.primaryID, rows.at)
	}
	if tail == nil {
		b.Queue(s.q.releaseSavepoint)
		return s.sendSet(ctx, tx, &b, "write")
	}
	var written bool
	b.Queue(s.q.releaseSavepoint).Exec(func(pgconn.CommandTag) error {
		written = true
		return nil
	})
	tail(&b)
	err := tx.SendBatch(ctx, &b).Close()
	if err != nil && written {
		// The set is in; what failed came after its savepoint, which is
		// gone: no going back to it.
		return fmt.Errorf("%w: %w", errAfterSet, err)
	}
	return s.setFailed(ctx, tx, err, "write")
}

// errAfterSet marks a failure after a set was written, in the statements
// its pipeline carried besides (the delivery jobs, COMMIT): it fails the
// whole batch, whatever its cause.
var errAfterSet = errors.New("after the reports were written")

// sendSet runs b, a pipeline of one set's statements. If one of them fails
// on a report's data, it rolls the set back to its savepoint, so that the
// transaction can go on without it.
func (s *Store) sendSet(ctx context.Context, tx *batchTx, b *pgx.Batch, op string) error {
	return s.setFailed(ctx, tx, tx.SendBatch(ctx, b).Close(), op)
}

// setFailed handles err, the outcome of a pipeline of a set's statements,
// as sendSet describes.
func (s *Store) setFailed(ctx context.Context, tx *batchTx, err error, op string) error {
	if err == nil {
		return nil
	}
	if perReport(err) {
		if rerr := s.rollbackSet(ctx, tx); rerr != nil {
			return fmt.Errorf("%s: %w (and rolling back: %w)", op, rerr, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// rollbackSet undoes the current set and drops its savepoint. One simple
// query (Exec without arguments): in an aborted transaction the server
// parses nothing but a ROLLBACK, so neither statement may be prepared.
func (s *Store) rollbackSet(ctx context.Context, tx *batchTx) error {
	_, err := tx.Exec(ctx, s.q.rollbackToSavepoint+"; "+s.q.releaseSavepoint)
	return err
}

// reportRows are the new reports of a set, column by column, as
// insertReports and insertIdempotency take them.
type reportRows struct {
	id, reference, primaryID, url, urlKey, pageURL []string
	contentType, category, country, hotlineID      []string
	comment, contact, clientName, clientVersion    []string
	idemKey, fingerprint                           []string
	at                                             []time.Time
	counts                                         []counts
}

func (rs *reportRows) len() int { return len(rs.id) }

func (rs *reportRows) add(req *acceptReq, primaryID string) {
	r := &req.r
	rs.id = append(rs.id, r.ID)
	rs.reference = append(rs.reference, r.Reference)
	rs.primaryID = append(rs.primaryID, primaryID)
	rs.url = append(rs.url, r.URL)
	rs.urlKey = append(rs.urlKey, r.URLKey)
	rs.pageURL = append(rs.pageURL, r.PageURL)
	rs.contentType = append(rs.contentType, string(r.ContentType))
	rs.category = append(rs.category, string(r.Category))
	rs.country = append(rs.country, r.Country)
	rs.hotlineID = append(rs.hotlineID, r.HotlineID)
	rs.comment = append(rs.comment, r.Comment)
	rs.contact = append(rs.contact, r.Contact)
	rs.clientName = append(rs.clientName, r.Client.Name)
	rs.clientVersion = append(rs.clientVersion, r.Client.Version)
	rs.idemKey = append(rs.idemKey, r.IdempotencyKey)
	rs.fingerprint = append(rs.fingerprint, r.Fingerprint)
	rs.at = append(rs.at, req.at)
	rs.counts = append(rs.counts, counts{n: 1, first: req.at, last: req.at})
}
