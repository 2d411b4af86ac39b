package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportit/reportit/internal/report"
)

// ErrNotDurable means the server would acknowledge a commit before it is on
// disk (synchronous_commit or fsync off). The store refuses to run then: an
// acknowledged report could be lost in a crash.
var ErrNotDurable = errors.New("postgres: commits would not be durable")

// ErrServerVersion means the server is older than PostgreSQL 12, which
// brought plan_cache_mode (see batchSettings in queries.sql).
var ErrServerVersion = errors.New("postgres: PostgreSQL 12 or later is needed")

const minServerVersion = 120000

// idleInTransactionTimeout ends, on the server, a transaction whose client
// stopped talking in the middle of it (a replica frozen or cut off mid-batch),
// so that the locks it holds do not stall the other replicas for longer.
// Set only when the URL does not choose its own.
const idleInTransactionTimeout = time.Minute

// newPool makes the connection pool. Every connection it opens is checked
// for durability before use, so that none opened later (after a restart of
// the server, say) runs with weaker settings than the first.
func newPool(ctx context.Context, url string, o *options, q *queries) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included.
		return nil, errors.New("postgres: cannot parse the database URL")
	}
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = o.maxConns
	case !setsMaxConns(url):
		cfg.MaxConns = defaultMaxConns(o.writers)
	}
	params := cfg.ConnConfig.RuntimeParams
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "reportit"
	}
	if _, ok := params["idle_in_transaction_session_timeout"]; !ok {
		params["idle_in_transaction_session_timeout"] = fmt.Sprint(idleInTransactionTimeout.Milliseconds())
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		var syncCommit, fsync string
		var version int32
		if err := conn.QueryRow(ctx, q.serverSettings).Scan(&syncCommit, &fsync, &version); err != nil {
			return fmt.Errorf("postgres: reading server settings: %w", err)
		}
		if version < minServerVersion {
			return fmt.Errorf("%w: server version %d", ErrServerVersion, version)
		}
		return checkDurability(syncCommit, fsync)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Connect now, so that a wrong URL or a server without durability
	// fails Open rather than the first report.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return pool, nil
}

// DefaultMaxConns is the pool size when neither the URL (pool_max_conns)
// nor WithMaxConns sets one, with one writer: see defaultMaxConns.
const DefaultMaxConns = 16

// defaultMaxConns is the pool size for a store with writers accept
// writers, when nothing else sets it: a connection for each writer and
// for the outcome writer, one for the delivery runner's claims, and the
// rest for reads (delivery workers loading reports, status and pull
// requests, metrics), which are short. pgx's own default, the greater of 4
// and the number of CPUs, left a 2-core server four connections for all of
// that. Small enough that several replicas stay well under PostgreSQL's
// default max_connections of 100.
func defaultMaxConns(writers int) int32 {
	return int32(DefaultMaxConns - 1 + max(writers, 1))
}

// setsMaxConns tells whether the database URL (or key=value string) sets
// the pool size itself (pool_max_conns). pgxpool.ParseConfig removes the
// setting as it reads it, so the URL is parsed once more, as a connection
// configuration, which keeps it.
func setsMaxConns(url string) bool {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return false
	}
	_, ok := cc.RuntimeParams["pool_max_conns"]
	return ok
}

// checkDurability accepts every synchronous_commit but off: local,
// remote_write, on and remote_apply all flush the commit to the local disk
// before answering.
func checkDurability(syncCommit, fsync string) error {
	var bad []string
	if strings.EqualFold(syncCommit, "off") {
		bad = append(bad, "synchronous_commit is off")
	}
	if !strings.EqualFold(fsync, "on") {
		bad = append(bad, fmt.Sprintf("fsync is %q", fsync))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrNotDurable, strings.Join(bad, "; "))
	}
	return nil
}

// lockKey is the pg_advisory_xact_lock key for a namespace and the parts of
// a value. It must be the same in every replica, so it is a fixed hash
// (never a seeded one), and a cryptographic one so that nobody can make
// unrelated reports collide on purpose; an accidental collision would only
// make two batches wait for each other.
func lockKey(namespace string, parts ...string) int64 {
	h := sha256.New()
	h.Write([]byte("reportit/"))
	h.Write([]byte(namespace))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return int64(binary.BigEndian.Uint64(h.Sum(sum[:0])))
}

// perReport tells whether err comes from one report's data (a constraint it
// breaks, a value the server cannot take, such as a NUL byte) rather than
// from the database or the connection: such a report fails alone.
func perReport(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	class := pe.Code[:min(2, len(pe.Code))]
	return class == "22" || class == "23" // data exception, integrity constraint violation
}

// unavailable wraps a database failure as report.ErrUnavailable, keeping the
// cause for the log. pgx's error text names tables, columns and constraints,
// never the values (those are in PgError.Detail, which Error leaves out).
func unavailable(op string, err error) error {
	return fmt.Errorf("postgres: %s: %w: %w", op, report.ErrUnavailable, err)
}

// micro is the precision timestamptz keeps.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }
