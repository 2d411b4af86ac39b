package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"github.com/reportit/reportit/internal/sqlfile"
	"io/fs"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaNewer means the database was migrated by a newer reportit than
// this one. Running on it could misread or damage data, so Open refuses.
var ErrSchemaNewer = errors.New("postgres: database schema is newer than this program")

var errMigrations = errors.New("postgres: bad migration files")

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

// Migrate brings the database at url to the current schema and returns the
// names of the migrations it applied (none when the schema was current).
// Open does the same; Migrate is for running it as a separate step
// (reportit migrate). The database itself must exist.
func Migrate(ctx context.Context, url string, opts ...Option) ([]string, error) {
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
	defer pool.Close()
	return migrate(ctx, pool, q, ms)
}

// migrationLockKey is the one advisory lock all migrations take.
var migrationLockKey = lockKey("schema_migrations")

// migrate applies the migrations not yet recorded, each in its own
// transaction together with its record (PostgreSQL's DDL is
// transactional), so that a failed step leaves the schema at the previous
// version and the next run retries it.
//
// Each transaction first takes one advisory lock, then reads the record:
// replicas starting at once queue on the lock, and each finds the steps the
// others applied meanwhile already recorded. The lock also covers creating
// schema_migrations, which two sessions doing at once could fail on.
func migrate(ctx context.Context, pool *pgxpool.Pool, q *queries, ms []migration) ([]string, error) {
	var applied []string
	for {
		name, err := migrateStep(ctx, pool, q, ms)
		if err != nil {
			return applied, err
		}
		if name == "" {
			return applied, nil
		}
		applied = append(applied, name)
	}
}

// migrateStep applies the first pending migration and returns its name, or
// "" if none is pending.
func migrateStep(ctx context.Context, pool *pgxpool.Pool, q *queries, ms []migration) (string, error) {
	var name string
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, q.migrationLock, migrationLockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, q.createMigrationsTable); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, q.appliedMigrations)
		if err != nil {
			return err
		}
		done, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		if n := len(done); n > 0 && int(done[n-1]) > ms[len(ms)-1].version {
			return fmt.Errorf("%w: database at version %d, this program knows up to %d",
				ErrSchemaNewer, done[n-1], ms[len(ms)-1].version)
		}
		for _, m := range ms {
			if slices.Contains(done, int32(m.version)) {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, q.recordMigration, m.version, m.name); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			name = m.name
			return nil
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrSchemaNewer) {
			return "", err
		}
		return "", fmt.Errorf("postgres: migrate: %w", err)
	}
	return name, nil
}
