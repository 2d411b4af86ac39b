package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/reportit/reportit/internal/report"
)

// The fast path: the first attempt at every batch. It answers the batch's
// requests in queue order, as the careful path (acceptOne) does one
// statement after another, but works out in Go what an earlier request of
// the same batch means for a later one (the same idempotency key twice is
// a replay, the same URL twice a sighting), so that it can write all the
// batch's reports, delivery jobs and idempotency records with one multi-row
// INSERT each. Per report it runs only the duplicate lookup (and, for a
// sighting, the update of its primary's counters); the idempotency keys of
// the whole batch are looked up together. That saves the per-statement
// work of three statements per report (binding, opening a cursor on every
// index, the statement's start and end): about 6% of the writer's
// instructions per report, measured with BenchmarkWriteBatch.
//
// A constraint violation anywhere returns errRedo: the transaction is
// rolled back and the batch written again carefully, with a savepoint per
// report, so that the report at fault fails alone.

// multiStmt holds one query prepared for 1, 2, 4, ... 64 rows (or keys): a
// batch is written in chunks of powers of two, so that a handful of
// statements, prepared at Open, serve every batch size. 64 rows of a report
// are 1,088 parameters, well below SQLite's limit.
type multiStmt [7]*sql.Stmt

// fastStmts are the fast path's multi-row statements.
type fastStmts struct {
	findIdempotencies                              multiStmt
	insertReports, insertDeliveries, insertIdempts multiStmt
}

func (f *fastStmts) all() []*multiStmt {
	return []*multiStmt{&f.findIdempotencies, &f.insertReports, &f.insertDeliveries, &f.insertIdempts}
}

func (f *fastStmts) close() {
	for _, m := range f.all() {
		for _, st := range m {
			if st != nil {
				st.Close()
			}
		}
	}
}

// prepareFast prepares the multi-row forms of the queries, on the writer's
// connection, and checks that each row has the parameters acceptFast
// passes for it.
func (s *Store) prepareFast(ctx context.Context) error {
	for _, p := range []struct {
		dst    *multiStmt
		query  string
		expand func(string, int) (string, error)
		width  int
	}{
		{&s.fast.findIdempotencies, s.q.findIdempotencies, inList, 1},
		{&s.fast.insertReports, s.q.insertReport, valuesRows, reportWidth},
		{&s.fast.insertDeliveries, s.q.insertDelivery, valuesRows, deliveryWidth},
		{&s.fast.insertIdempts, s.q.insertIdempotency, valuesRows, idempWidth},
	} {
		query := withoutComments(p.query)
		for i := range p.dst {
			q, err := p.expand(query, 1<<i)
			if err != nil {
				return err
			}
			if n := strings.Count(q, "?"); n != p.width<<i {
				return fmt.Errorf("%w: %d parameters in %q, the writer passes %d", errQueries, n, q, p.width<<i)
			}
			if p.dst[i], err = s.wdb.PrepareContext(ctx, q); err != nil {
				return err
			}
		}
	}
	return nil
}

// withoutComments returns query without its comment lines, which may
// mention what the expansions below look for.
func withoutComments(query string) string {
	lines := strings.Split(query, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n")
}

// valuesRows returns query, an INSERT ending with one VALUES row of
// anonymous parameters, with n such rows.
func valuesRows(query string, n int) (string, error) {
	q := strings.TrimSuffix(strings.TrimSpace(query), ";")
	i := strings.LastIndex(q, "VALUES")
	if i < 0 {
		return "", fmt.Errorf("%w: no VALUES row to repeat in %q", errQueries, query)
	}
	row := strings.TrimSpace(q[i+len("VALUES"):])
	if !anonymousGroup(row) {
		return "", fmt.Errorf("%w: the VALUES row of %q is not a list of ?", errQueries, query)
	}
	var b strings.Builder
	b.WriteString(q[:i+len("VALUES")])
	for j := range n {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(row)
	}
	return b.String(), nil
}

// inList returns query, which holds one "IN (?)", with n parameters in that
// list.
func inList(query string, n int) (string, error) {
	const one = "IN (?)"
	if strings.Count(query, one) != 1 {
		return "", fmt.Errorf("%w: %q needs exactly one %q", errQueries, query, one)
	}
	return strings.Replace(query, one, "IN (?"+strings.Repeat(", ?", n-1)+")", 1), nil
}

// anonymousGroup reports whether s is "(?, ?, ..., ?)".
func anonymousGroup(s string) bool {
	if len(s) < 3 || s[0] != '(' || s[len(s)-1] != ')' {
		return false
	}
	for _, p := range strings.Split(s[1:len(s)-1], ",") {
		if strings.TrimSpace(p) != "?" {
			return false
		}
	}
	return true
}

// execMulti runs m in tx for args, rows of width values each, in chunks of
// powers of two.
func execMulti(ctx context.Context, tx *sql.Tx, m *multiStmt, width int, args []any) error {
	for n := len(args) / width; n > 0; {
		i := min(bits.Len(uint(n))-1, len(m)-1)
		k := 1 << i
		if _, err := tx.StmtContext(ctx, m[i]).ExecContext(ctx, args[:k*width]...); err != nil {
			return err
		}
		args, n = args[k*width:], n-k
	}
	return nil
}

// idemRecord is an idempotency record: the answer a key was given.
type idemRecord struct {
	fingerprint string
	acc         report.Accepted
}

// dedupKey is what makes two reports the same: their URL and hotline.
type dedupKey struct{ urlKey, hotlineID string }

// batchPrimary is a primary report written earlier in the same batch.
type batchPrimary struct {
	id string
	at int64
}

// sighting is a sighting to add to its primary's counters.
type sighting struct {
	primary string
	at      int64
}

// fastScratch is the fast path's working memory, kept by the writer
// goroutine from batch to batch.
type fastScratch struct {
	keys                        []any
	seen                        map[string]struct{}
	known                       map[string]idemRecord
	primaries                   map[dedupKey][]batchPrimary
	reports, deliveries, idemps []any
	sightings                   []sighting
}

func (f *fastScratch) reset() {
	if f.known == nil {
		f.seen = make(map[string]struct{})
		f.known = make(map[string]idemRecord)
		f.primaries = make(map[dedupKey][]batchPrimary)
	}
	clear(f.keys)
	clear(f.reports)
	clear(f.deliveries)
	clear(f.idemps)
	f.keys, f.reports, f.deliveries, f.idemps = f.keys[:0], f.reports[:0], f.deliveries[:0], f.idemps[:0]
	f.sightings = f.sightings[:0]
	clear(f.seen)
	clear(f.known)
	clear(f.primaries)
}

// Row widths of the multi-row statements: parameters per row.
const (
	reportWidth   = 17
	deliveryWidth = 4
	idempWidth    = 7
)

// acceptFast answers every request of batch and writes the batch's rows,
// without savepoints; a constraint violation returns errRedo.
func (s *Store) acceptFast(ctx context.Context, tx *sql.Tx, batch []*acceptReq) error {
	f := &s.scratch
	f.reset()
	defer f.reset() // let the batch's strings go
	if err := s.knownKeys(ctx, tx, batch); err != nil {
		return err
	}
	findPrimary := tx.StmtContext(ctx, s.w.findPrimary)
	for _, req := range batch {
		r := &req.r
		if rec, ok := f.known[r.IdempotencyKey]; ok {
			if rec.fingerprint == r.Fingerprint {
				req.res = rec.acc
				req.res.Replayed = true
			} else {
				req.err = report.ErrIdempotencyConflict
			}
			continue
		}
		at := micros(r.ReceivedAt)
		primary, err := f.primaryOf(ctx, findPrimary, req, at)
		if err != nil {
			return err
		}
		f.reports = append(f.reports,
			r.ID, r.Reference, primary, r.URL, r.URLKey, r.PageURL, string(r.ContentType), string(r.Category),
			r.Country, r.HotlineID, r.Comment, r.Contact, r.Client.Name, r.Client.Version,
			at, at, at,
		)
		if primary == r.ID {
			// The delivery job, due at once, in the report's transaction.
			f.deliveries = append(f.deliveries, r.ID, r.HotlineID, at, at)
			k := dedupKey{r.URLKey, r.HotlineID}
			f.primaries[k] = append(f.primaries[k], batchPrimary{r.ID, at})
		} else {
			// A sighting gets no job; see insertRows.
			f.sightings = append(f.sightings, sighting{primary, at})
		}
		f.idemps = append(f.idemps, r.IdempotencyKey, r.Fingerprint, r.ID, r.Reference, r.HotlineID, primary, at)
		acc := report.Accepted{ID: r.ID, Reference: r.Reference, HotlineID: r.HotlineID, ReceivedAt: fromMicros(at), PrimaryID: primary}
		f.known[r.IdempotencyKey] = idemRecord{fingerprint: r.Fingerprint, acc: acc}
		req.res, req.stored = acc, true
	}
	if err := execMulti(ctx, tx, &s.fast.insertReports, reportWidth, f.reports); err != nil {
		return fastErr("insert reports", err)
	}
	if err := execMulti(ctx, tx, &s.fast.insertDeliveries, deliveryWidth, f.deliveries); err != nil {
		return fastErr("insert deliveries", err)
	}
	if len(f.sightings) > 0 {
		add := tx.StmtContext(ctx, s.w.addSighting)
		for _, sg := range f.sightings {
			if _, err := add.ExecContext(ctx, sg.at, sg.at, sg.primary); err != nil {
				return fastErr("add sighting", err)
			}
		}
	}
	if err := execMulti(ctx, tx, &s.fast.insertIdempts, idempWidth, f.idemps); err != nil {
		return fastErr("insert idempotency records", err)
	}
	return nil
}

// knownKeys fills f.known with the stored idempotency records of the
// batch's keys.
func (s *Store) knownKeys(ctx context.Context, tx *sql.Tx, batch []*acceptReq) error {
	f := &s.scratch
	for _, req := range batch {
		k := req.r.IdempotencyKey
		if _, dup := f.seen[k]; !dup {
			f.seen[k] = struct{}{}
			f.keys = append(f.keys, k)
		}
	}
	m := &s.fast.findIdempotencies
	for keys := f.keys; len(keys) > 0; {
		i := min(bits.Len(uint(len(keys)))-1, len(m)-1)
		k := 1 << i
		rows, err := tx.StmtContext(ctx, m[i]).QueryContext(ctx, keys[:k]...)
		if err != nil {
			return fmt.Errorf("find idempotency records: %w", err)
		}
		for rows.Next() {
			var key string
			var rec idemRecord
			var at int64
			if err := rows.Scan(&key, &rec.fingerprint, &rec.acc.ID, &rec.acc.Reference, &rec.acc.HotlineID, &rec.acc.PrimaryID, &at); err != nil {
				rows.Close()
				return fmt.Errorf("find idempotency records: %w", err)
			}
			rec.acc.ReceivedAt = fromMicros(at)
			f.known[key] = rec
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("find idempotency records: %w", err)
		}
		keys = keys[k:]
	}
	return nil
}

// primaryOf returns the id of the primary req is a sighting of, or req's
// own id: the earliest primary of the same URL to the same hotline within
// the window either side of at, among the stored reports and those written
// earlier in this batch.
func (f *fastScratch) primaryOf(ctx context.Context, findPrimary *sql.Stmt, req *acceptReq, at int64) (string, error) {
	r := &req.r
	w := req.window.Microseconds()
	if w <= 0 {
		return r.ID, nil
	}
	var id string
	var idAt int64
	found := true
	err := findPrimary.QueryRowContext(ctx, r.URLKey, r.HotlineID, at-w, at+w).Scan(&id, &idAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		found = false
	case err != nil:
		return "", fmt.Errorf("find primary: %w", err)
	}
	for _, p := range f.primaries[dedupKey{r.URLKey, r.HotlineID}] {
		if p.at < at-w || p.at > at+w {
			continue
		}
		if !found || p.at < idAt || (p.at == idAt && p.id < id) {
			id, idAt, found = p.id, p.at, true
		}
	}
	if !found {
		return r.ID, nil
	}
	return id, nil
}
