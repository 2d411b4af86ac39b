package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testURLEnv names the server the tests use. "skip" skips them; unset, they
// use the local server and skip only if none answers there. A URL set
// explicitly that does not answer fails the tests: CI must not pass by
// skipping.
const testURLEnv = "REPORTIT_TEST_DATABASE_URL"

const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// serverURL returns the URL of a database on the test server from which
// others can be created.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(testURLEnv)
	switch u {
	case "skip":
		t.Skipf("%s=skip: PostgreSQL tests skipped", testURLEnv)
	case "":
		u = defaultTestURL
	}
	return u
}

// adminConn connects to the test server, skipping or failing as testURLEnv
// says when it does not answer.
func adminConn(t testing.TB) *pgx.Conn {
	t.Helper()
	base := serverURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv(testURLEnv) == "" {
			t.Skipf("no PostgreSQL server answers at %s (%v): PostgreSQL tests skipped; set %s to a server's URL to run them",
				redact(base), err, testURLEnv)
		}
		t.Fatalf("PostgreSQL at %s (from %s): %v", redact(base), testURLEnv, err)
	}
	return conn
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// newDatabase creates an empty database of its own for the test, dropped
// when the test ends, and returns its URL.
func newDatabase(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "reportit_test_" + hex.EncodeToString(b[:])
	admin := adminConn(t)
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin := adminConn(t)
		defer admin.Close(context.Background())
		// FORCE: a store a failed test left open must not keep it alive.
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(serverURL(t))
	if err != nil {
		t.Fatalf("%s is not a URL: %v", testURLEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// withParam adds a query parameter (a run-time setting, for pgx) to raw.
func withParam(t testing.TB, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// openTest opens a store on a new database; the test closes it at the end.
func openTest(t testing.TB, opts ...Option) *Store {
	t.Helper()
	return openURL(t, newDatabase(t), opts...)
}

// openURL opens a store on an existing database; the test closes it at the
// end (before the database is dropped: cleanups run last-in first-out).
func openURL(t testing.TB, dbURL string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), dbURL, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dbName is the database a URL names.
func dbName(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}
