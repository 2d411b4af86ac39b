package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"github.com/reportit/reportit/internal/sqlfile"
	"io/fs"
	"slices"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaNewer means the database was migrated by a newer reportit than
// this one. Running on it could misread or damage data, so Open refuses.
var ErrSchemaNewer = errors.New("sqlite: database schema is newer than this program")

var errMigrations = errors.New("sqlite: bad migration files")

type migration struct {
	version int
	name    string // file name, for the record and the log
	sql     string
}

// loadMigrations reads the numbered *.sql files at the root of fsys (see
// sqlfile.LoadMigrations).
func loadMigrations(fsys fs.FS) ([]migration, error) {
	fm, err := sqlfile.LoadMigrations(fsys)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMigrations, err)
	}
	ms := make([]migration, len(fm))
	for i, m := range fm {
		ms[i] = migration{version: m.Version, name: m.Name, sql: m.SQL}
	}
	return ms, nil
}

func embeddedMigrations() ([]migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return loadMigrations(sub)
}

// Migrate brings the database at path to the current schema, creating it if
// needed, and returns the names of the migrations it applied (none when the
// schema was current). Open does the same; Migrate is for running it as a
// separate step (reportit migrate).
func Migrate(ctx context.Context, path string, opts ...Option) ([]string, error) {
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
	db, err := openWriter(path, o, q)
	if err != nil {
		return nil, err
	}
	applied, err := migrate(ctx, db, q, ms)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sqlite: close after migrate: %w", cerr)
	}
	return applied, err
}

// migrate applies the migrations not yet recorded, each in its own
// transaction together with its record, so that a failed step leaves the
// schema at the previous version and the next run retries it.
func migrate(ctx context.Context, db *sql.DB, q *queries, ms []migration) ([]string, error) {
	if _, err := db.ExecContext(ctx, q.createMigrationsTable); err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", err)
	}
	done, err := appliedVersions(ctx, db, q)
	if err != nil {
		return nil, err
	}
	if len(done) > 0 && done[len(done)-1] > ms[len(ms)-1].version {
		return nil, fmt.Errorf("%w: database at version %d, this program knows up to %d",
			ErrSchemaNewer, done[len(done)-1], ms[len(ms)-1].version)
	}
	var applied []string
	for _, m := range ms {
		if slices.Contains(done, m.version) {
			continue
		}
		ok, err := applyMigration(ctx, db, q, m)
		if err != nil {
			return applied, err
		}
		if ok {
			applied = append(applied, m.name)
		}
	}
	return applied, nil
}

func appliedVersions(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, q *queries) ([]int, error) {
	rows, err := db.QueryContext(ctx, q.appliedMigrations)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("sqlite: migrate: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", err)
	}
	return vs, nil
}

// applyMigration runs m unless another process applied it meanwhile: the
// IMMEDIATE transaction holds the write lock, and the record is read again
// under it. It reports whether it applied m.
func applyMigration(ctx context.Context, db *sql.DB, q *queries, m migration) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
	}
	defer tx.Rollback()
	done, err := appliedVersions(ctx, tx, q)
	if err != nil {
		return false, err
	}
	if slices.Contains(done, m.version) {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, q.recordMigration, m.version, m.name, micros(time.Now())); err != nil {
		return false, fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
	}
	return true, nil
}
