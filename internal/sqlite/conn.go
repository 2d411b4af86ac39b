package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrPragma means a connection setting did not take effect, for instance a
// file system on which SQLite cannot use WAL. The store refuses to run then:
// without WAL and synchronous=FULL an acknowledged report could be lost.
var ErrPragma = errors.New("sqlite: connection setting did not take effect")

// pragmaCheck is a setting read back on every new connection.
type pragmaCheck struct {
	name  string
	query string
	want  string
}

// checkedConnector opens connections through the modernc driver and reads
// the settings back on each, so that no connection the pool opens later
// (after an idle close, say) runs with different durability than the first.
type checkedConnector struct {
	driver.Connector
	checks []pragmaCheck
}

func (c checkedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("%w: driver connection cannot be queried", ErrPragma)
	}
	err = checkPragmas(c.checks, func(query string) (string, error) {
		return queryOneDriver(ctx, q, query)
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// checkPragmas reads each setting with get and reports every mismatch.
func checkPragmas(checks []pragmaCheck, get func(query string) (string, error)) error {
	var bad []string
	for _, c := range checks {
		got, err := get(c.query)
		if err != nil {
			return fmt.Errorf("sqlite: reading pragma %s: %w", c.name, err)
		}
		if !strings.EqualFold(got, c.want) {
			bad = append(bad, fmt.Sprintf("%s is %q, want %q", c.name, got, c.want))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrPragma, strings.Join(bad, "; "))
	}
	return nil
}

func queryOneDriver(ctx context.Context, q driver.QueryerContext, query string) (string, error) {
	rows, err := q.QueryContext(ctx, query, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			return "", errors.New("no row")
		}
		return "", err
	}
	return fmt.Sprint(dest[0]), nil
}

// dsn builds a file: URI for path. Escaping %, ? and # keeps SQLite from
// reading part of the path as a URI escape, query or fragment.
func dsn(path string, params []string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	return "file:" + esc + "?" + strings.Join(params, "&")
}

// writerSettings are the write connection's: WAL, synchronous=FULL,
// foreign keys, and BEGIN IMMEDIATE so that a batch takes the write lock up
// front instead of failing with SQLITE_BUSY halfway through.
func writerSettings(o *options, q *queries) ([]string, []pragmaCheck) {
	ms := o.busyTimeout.Milliseconds()
	params := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", ms),
		"_pragma=foreign_keys(1)",
		"_pragma=journal_mode(WAL)",
		// NORMAL would not sync the WAL on each commit: a power loss could
		// take back reports we already acknowledged.
		"_pragma=synchronous(FULL)",
		// The per-report savepoints keep a sub-journal; in a temp file that
		// costs a write system call per page changed.
		"_pragma=temp_store(MEMORY)",
		// No checkpoint inside COMMIT: the checkpointer copies the WAL
		// into the database file on its own connection, so that a batch's
		// callers wait for their fsync, not for a checkpoint as well.
		"_pragma=wal_autocheckpoint(0)",
		// Random keys (references, URL keys, idempotency keys) touch
		// index pages all over the file; with SQLite's 2 MB default most
		// of them were read again for every report.
		fmt.Sprintf("_pragma=cache_size(%d)", writerCacheKiB),
		"_txlock=immediate",
	}
	checks := []pragmaCheck{
		{"journal_mode", q.journalMode, "wal"},
		{"synchronous", q.synchronous, "2"},
		{"foreign_keys", q.foreignKeys, "1"},
		{"busy_timeout", q.busyTimeout, fmt.Sprint(ms)},
		{"temp_store", q.tempStore, "2"},
		{"wal_autocheckpoint", q.walAutocheckpoint, "0"},
		{"cache_size", q.cacheSize, fmt.Sprint(writerCacheKiB)},
	}
	return params, checks
}

// writerCacheKiB is the writer's page cache, as SQLite takes it: a negative
// number of KiB. 32 MiB keeps the hot index pages of a few million reports
// and costs at most that much memory.
const writerCacheKiB = -32768

// checkpointerSettings are those of the checkpointer's connection. It syncs
// as the writer does (a checkpoint fsyncs the WAL before copying it and the
// database file after), and it gives up on a lock sooner: a busy
// checkpoint is simply tried again at the next tick.
func checkpointerSettings(q *queries) ([]string, []pragmaCheck) {
	params := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", checkpointBusy.Milliseconds()),
		"_pragma=synchronous(FULL)",
	}
	checks := []pragmaCheck{
		{"journal_mode", q.journalMode, "wal"},
		{"synchronous", q.synchronous, "2"},
	}
	return params, checks
}

func openCheckpointer(path string, q *queries) (*sql.DB, error) {
	params, checks := checkpointerSettings(q)
	db, err := openChecked(path, params, checks)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// openWriter opens the single-connection pool of the writer goroutine (and
// of Migrate).
func openWriter(path string, o *options, q *queries) (*sql.DB, error) {
	params, checks := writerSettings(o, q)
	db, err := openChecked(path, params, checks)
	if err != nil {
		return nil, err
	}
	// One connection, kept open for good: the writer goroutine owns it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// readerSettings are the read pool's. query_only makes a write through it
// fail rather than bypass the writer.
func readerSettings(o *options, q *queries) ([]string, []pragmaCheck) {
	ms := o.busyTimeout.Milliseconds()
	params := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", ms),
		"_pragma=query_only(1)",
	}
	checks := []pragmaCheck{
		{"journal_mode", q.journalMode, "wal"},
		{"query_only", q.queryOnly, "1"},
		{"busy_timeout", q.busyTimeout, fmt.Sprint(ms)},
	}
	return params, checks
}

func openReader(path string, o *options, q *queries) (*sql.DB, error) {
	params, checks := readerSettings(o, q)
	db, err := openChecked(path, params, checks)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(o.readConns)
	db.SetMaxIdleConns(o.readConns)
	return db, nil
}

func openChecked(path string, params []string, checks []pragmaCheck) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn(path, params))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db := sql.OpenDB(checkedConnector{Connector: c, checks: checks})
	// Open a connection now, so a bad path or setting fails Open.
	if err := db.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return db, nil
}

// createPrivate creates the database file readable by its owner only, if it
// does not exist yet: it holds reported URLs and reporters' contact
// addresses. SQLite gives the -wal and -shm files the same mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	return f.Close()
}

// isConstraint reports a constraint violation: a problem with one report,
// after which the transaction is still usable.
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
