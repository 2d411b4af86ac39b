package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// batchTx is a writer's transaction (a batch of reports, or of delivery
// outcomes) on a pooled connection held for its length.
//
// The writers do not spend round trips of their own on BEGIN and COMMIT:
// BEGIN goes at the head of the transaction's first pipeline of
// statements, and COMMIT at the tail of its last, so that a batch of
// reports takes two round trips (the reads, then the writes and COMMIT)
// and a batch of outcomes one. Under load every round trip is two wake-ups
// (the server's process, the writer's goroutine) on CPUs that are busy
// with requests, and the writer's queue grows meanwhile.
//
// A statement that fails in a pipeline makes the server skip the rest of
// it, COMMIT included: the transaction is then still open (aborted, or
// rolled back to a savepoint by the caller), and it commits with commit
// or rolls back with release, as pgx.Tx would.
type batchTx struct {
	q    *queries
	conn *pgxpool.Conn
	// inline lets queueCommit put COMMIT in a pipeline; false when a test
	// hook must run between the last statement and COMMIT.
	inline    bool
	begun     bool // BEGIN queued
	committed bool // COMMIT done
}

var errCommitRolledBack = errors.New("commit: the transaction was rolled back")

// beginBatch acquires the connection for a batch transaction, to be
// begun with the first pipeline (see begin) and ended by release.
func (s *Store) beginBatch(ctx context.Context, inline bool) (*batchTx, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &batchTx{q: s.q, conn: conn, inline: inline}, nil
}

// begin queues BEGIN (READ COMMITTED, whatever the server's default) at
// the head of b, unless an earlier pipeline began the transaction.
func (t *batchTx) begin(b *pgx.Batch) {
	if !t.begun {
		b.Queue(t.q.begin)
		t.begun = true
	}
}

// queueCommit queues COMMIT at the tail of b, if the transaction may
// commit there. After b has run without error, the transaction is
// committed.
func (t *batchTx) queueCommit(b *pgx.Batch) {
	if !t.inline {
		return
	}
	b.Queue(t.q.commit).Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return errCommitRolledBack
		}
		t.committed = true
		return nil
	})
}

// commit commits the transaction, unless a pipeline did.
func (t *batchTx) commit(ctx context.Context) error {
	if t.committed {
		return nil
	}
	tag, err := t.conn.Exec(ctx, t.q.commit)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tag.String() != "COMMIT" {
		return errCommitRolledBack
	}
	t.committed = true
	return nil
}

// release rolls back what was not committed and gives the connection back
// to the pool; a connection left in a transaction (the rollback failed, or
// the connection broke) is closed by the pool.
func (t *batchTx) release(ctx context.Context) {
	if pc := t.conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
		// A failure leaves the connection in the transaction: closed below.
		_, _ = t.conn.Exec(ctx, t.q.rollback)
	}
	t.conn.Release()
}

// Exec, QueryRow and SendBatch run statements in the transaction.
func (t *batchTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.conn.Exec(ctx, sql, args...)
}

func (t *batchTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *batchTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.conn.SendBatch(ctx, b)
}
