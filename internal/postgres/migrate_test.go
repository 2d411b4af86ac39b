package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	_ "modernc.org/sqlite" // the driver, for the SQLite store's migrations
)

func TestLoadMigrations(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for _, c := range []struct {
		name string
		fs   fstest.MapFS
		ok   bool
	}{
		{"good", fstest.MapFS{"0001_a.sql": file, "0002_b.sql": file}, true},
		{"gap", fstest.MapFS{"0001_a.sql": file, "0003_c.sql": file}, false},
		{"not from 1", fstest.MapFS{"0002_b.sql": file}, false},
		{"twice", fstest.MapFS{"0001_a.sql": file, "0001_b.sql": file}, false},
		{"bad name", fstest.MapFS{"0001_a.sql": file, "0002-b.sql": file}, false},
		{"other file", fstest.MapFS{"0001_a.sql": file, "README": file}, false},
		{"none", fstest.MapFS{}, false},
	} {
		ms, err := loadMigrations(c.fs)
		if (err == nil) != c.ok {
			t.Errorf("%s: loadMigrations = %v, %v; want ok %v", c.name, ms, err, c.ok)
		}
		if err != nil && !errors.Is(err, errMigrations) {
			t.Errorf("%s: error %v is not errMigrations", c.name, err)
		}
	}
	if _, err := embeddedMigrations(); err != nil {
		t.Errorf("embedded migrations: %v", err)
	}
}

func TestLoadQueries(t *testing.T) {
	if _, err := loadQueries(queriesSQL); err != nil {
		t.Fatalf("queries.sql: %v", err)
	}
	for name, src := range map[string]string{
		"missing":  "-- name: status\nSELECT 1;",
		"unknown":  queriesSQL + "\n-- name: extra\nSELECT 1;",
		"twice":    queriesSQL + "\n-- name: status\nSELECT 1;",
		"empty":    "-- name: status\n;\n",
		"bad name": "-- name: two words\nSELECT 1;",
	} {
		if _, err := loadQueries(src); !errors.Is(err, errQueries) {
			t.Errorf("%s: loadQueries = %v, want errQueries", name, err)
		}
	}
}

func appliedCount(t *testing.T, s *Store) string {
	return queryString(t, s, "SELECT count(*)::text FROM schema_migrations")
}

func TestMigrationsIdempotent(t *testing.T) {
	dbURL := newDatabase(t)
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	applied, err := Migrate(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms) || applied[0] != "0001_reports.sql" {
		t.Errorf("first Migrate applied %q, want all %d", applied, len(ms))
	}
	for range 2 {
		s, err := Open(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		mustAccept(t, s, newReport(t))
		if got := appliedCount(t, s); got != fmt.Sprint(len(ms)) {
			t.Errorf("schema_migrations has %s rows, want %d", got, len(ms))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if applied, err := Migrate(context.Background(), dbURL); err != nil || len(applied) != 0 {
		t.Errorf("Migrate on a current database = %q, %v; want nothing applied", applied, err)
	}
}

// TestMigrationsConcurrent starts several replicas and migrate commands on
// a new database at once: all succeed and each migration is applied once.
func TestMigrationsConcurrent(t *testing.T) {
	const migrates, opens = 4, 3
	dbURL := newDatabase(t)
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var applied []string
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range migrates {
		wg.Go(func() {
			<-start
			names, err := Migrate(context.Background(), dbURL)
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
			mu.Lock()
			applied = append(applied, names...)
			mu.Unlock()
		})
	}
	for range opens {
		wg.Go(func() {
			<-start
			s, err := Open(context.Background(), dbURL)
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			if _, err := s.Accept(context.Background(), newReport(t), 0); err != nil {
				t.Errorf("Accept: %v", err)
			}
			s.Close()
		})
	}
	close(start)
	wg.Wait()
	s := openURL(t, dbURL)
	if got := appliedCount(t, s); got != fmt.Sprint(len(ms)) {
		t.Errorf("schema_migrations has %s rows, want %d", got, len(ms))
	}
	slices.Sort(applied)
	if len(slices.Compact(slices.Clone(applied))) != len(applied) {
		t.Errorf("migrations applied more than once: %q", applied)
	}
}

func TestSchemaNewer(t *testing.T) {
	dbURL := newDatabase(t)
	if _, err := Migrate(context.Background(), dbURL); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(context.Background(), dbURL); !errors.Is(err, ErrSchemaNewer) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open on a newer schema = %v, want ErrSchemaNewer", err)
	}
	if _, err := Migrate(context.Background(), dbURL); !errors.Is(err, ErrSchemaNewer) {
		t.Fatalf("Migrate on a newer schema = %v, want ErrSchemaNewer", err)
	}
}

// TestSchemaMatchesSQLite applies the SQLite store's migration files up to
// the last version this store has to a new SQLite database, and compares
// tables and columns (name and nullability) with this store's schema:
// version N must mean the same schema in both dialects. Versions SQLite
// has and this store has not yet are logged, not failed: they are ported
// with the work that adds them.
func TestSchemaMatchesSQLite(t *testing.T) {
	liteMs, err := loadMigrations(os.DirFS(filepath.Join("..", "sqlite", "migrations")))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(liteMs) < len(ms) {
		t.Fatalf("this store has %d migrations, the SQLite store only %d", len(ms), len(liteMs))
	}
	for _, m := range liteMs[len(ms):] {
		t.Logf("SQLite migration %s has no PostgreSQL counterpart yet", m.name)
	}
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "reports.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, m := range liteMs[:len(ms)] {
		if want := ms[i].name; m.name != want {
			t.Errorf("migration %d is %s in SQLite, %s here", i+1, m.name, want)
		}
		if _, err := db.Exec(m.sql); err != nil {
			t.Fatalf("SQLite %s: %v", m.name, err)
		}
	}
	rows, err := db.Query(`SELECT m.name, p.name, p."notnull" OR p.pk FROM sqlite_master AS m, pragma_table_info(m.name) AS p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var lite []string
	for rows.Next() {
		var table, col string
		var notNull bool
		if err := rows.Scan(&table, &col, &notNull); err != nil {
			t.Fatal(err)
		}
		lite = append(lite, fmt.Sprintf("%s.%s not null %v", table, col, notNull))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t)
	prows, err := s.pool.Query(context.Background(), `
		SELECT format('%s.%s not null %s', table_name, column_name, (is_nullable = 'NO')::text)
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pgx.CollectRows(prows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	// What only several replicas need: the per-hotline cursor counters
	// and the lease holder (see 0002_deliveries.sql).
	pg = slices.DeleteFunc(pg, func(c string) bool { return pgOnlyColumns[c] })
	slices.Sort(lite)
	slices.Sort(pg)
	if !slices.Equal(lite, pg) || len(pg) == 0 {
		t.Errorf("schemas differ:\nsqlite   %q\npostgres %q", lite, pg)
	}
}

// pgOnlyColumns are the columns this store has and the SQLite store needs
// not, having a single writer and a single process.
var pgOnlyColumns = map[string]bool{
	"delivery_seqs.hotline_id not null true": true,
	"delivery_seqs.last_seq not null true":   true,
	"deliveries.lease_owner not null false":  true,
}
