package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/reportit/reportit/internal/config"
	"github.com/reportit/reportit/internal/postgres"
	"github.com/reportit/reportit/internal/ratelimit"
	"github.com/reportit/reportit/internal/sqlite"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func loadConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load("test", nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestOpenBackendSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b, err := openBackend(context.Background(), loadConfig(t, map[string]string{"REPORTIT_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.(*sqlite.Store); !ok {
		t.Fatalf("backend is %T, want *sqlite.Store", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "reportit.db")); err != nil {
		t.Errorf("no database file in the data directory: %v", err)
	}
}

// testDatabaseURL creates a database of its own on the machine's
// PostgreSQL (REPORTIT_TEST_DATABASE_URL, as in internal/postgres), dropped
// when the test ends; it skips when no server answers.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("REPORTIT_TEST_DATABASE_URL")
	switch base {
	case "skip":
		t.Skip("PostgreSQL tests skipped")
	case "":
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("REPORTIT_TEST_DATABASE_URL") == "" {
			t.Skipf("no PostgreSQL server: %v", err)
		}
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "reportit_server_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// REPORTIT_DATABASE_URL, here through its _FILE form, switches to
// PostgreSQL, for the server, the migrate command and operator commands.
func TestOpenBackendPostgres(t *testing.T) {
	dbURL := testDatabaseURL(t)
	file := filepath.Join(t.TempDir(), "database_url")
	if err := os.WriteFile(file, []byte(dbURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REPORTIT_DATABASE_URL_FILE": file, "REPORTIT_DATA_DIR": t.TempDir()}
	cfg := loadConfig(t, env)
	applied, err := migrateBackend(context.Background(), cfg)
	if err != nil || len(applied) == 0 {
		t.Fatalf("migrateBackend = %v, %v; want the PostgreSQL migrations applied", applied, err)
	}
	b, err := openBackend(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*postgres.Store); !ok {
		t.Fatalf("backend is %T, want *postgres.Store", b)
	}
	b.Close()
	if _, err := os.Stat(filepath.Join(env["REPORTIT_DATA_DIR"], "reportit.db")); err == nil {
		t.Error("a SQLite file was made although PostgreSQL is configured")
	}
	s, _, err := openStoreFor("test", nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*postgres.Store); !ok {
		t.Errorf("operator commands open %T, want *postgres.Store", s)
	}
}

func TestLimiterStoreMemory(t *testing.T) {
	s, closeFn, err := newLimiterStore(context.Background(), loadConfig(t, nil), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, ok := s.(*memory.Store); !ok {
		t.Errorf("store is %T, want ulule's memory store", s)
	}
}

// A replica starts while Redis is down: it limits from the fallback, and
// once Redis answers it counts there.
func TestLimiterStoreRedisDownAtStart(t *testing.T) {
	// A port that refuses connections: listen, note it, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()

	cfg := loadConfig(t, map[string]string{"REPORTIT_REDIS_URL": "redis://" + down + "/0"})
	s, closeFn, err := newLimiterStore(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatalf("newLimiterStore with Redis down = %v, want a store that falls back", err)
	}
	defer closeFn()
	l := ratelimit.New(s, []byte("0123456789abcdef0123456789abcdef"), ratelimit.WithStoreCooldown(0))
	p, err := ratelimit.ParsePolicy("reports", "4-H")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		d, err := l.Allow(context.Background(), p, "id")
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		if !d.Fallback {
			t.Fatalf("decision %d not from the fallback with Redis down: %+v", i, d)
		}
		// The fallback's stricter limit: 4 / 2.
		if want := i < 2; d.Allowed != want {
			t.Errorf("decision %d: allowed %v, want %v", i, d.Allowed, want)
		}
	}
}

func TestLimiterStoreRedisUp(t *testing.T) {
	const addr = "127.0.0.1:6379"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Skipf("no Redis on %s", addr)
	} else {
		c.Close()
	}
	cfg := loadConfig(t, map[string]string{"REPORTIT_REDIS_URL": "redis://" + addr + "/0"})
	s, closeFn, err := newLimiterStore(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	// A key of its own: no other test or stack shares it.
	var secret [32]byte
	rand.Read(secret[:])
	l := ratelimit.New(s, secret[:])
	p, _ := ratelimit.ParsePolicy("reports", "100-H")
	d, err := l.Allow(context.Background(), p, "id")
	if err != nil || d.Fallback || !d.Allowed || d.Remaining != 99 {
		t.Errorf("Allow through Redis = %+v, %v; want counted in Redis", d, err)
	}
}

func TestReadyzURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"0.0.0.0:8080", "http://127.0.0.1:8080/readyz"},
		{"[::]:9000", "http://127.0.0.1:9000/readyz"},
		{":7000", "http://127.0.0.1:7000/readyz"},
		{"127.0.0.1:8081", "http://127.0.0.1:8081/readyz"},
		{"nonsense", "http://127.0.0.1:8080/readyz"},
	} {
		if got := readyzURL(tc.addr); got != tc.want {
			t.Errorf("readyzURL(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	getenv := func(k string) string {
		if k == "REPORTIT_ADDR" {
			return "0.0.0.0:" + addr[len("127.0.0.1:"):]
		}
		return ""
	}
	if err := healthcheck(context.Background(), nil, getenv, io.Discard); err != nil {
		t.Errorf("healthcheck of a ready server: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := healthcheck(context.Background(), nil, getenv, io.Discard); err == nil {
		t.Error("healthcheck of a server answering 503 succeeded")
	}
	if err := healthcheck(context.Background(), []string{"-url", srv.URL + "/other"}, getenv, io.Discard); err == nil {
		t.Error("healthcheck of a 404 succeeded")
	}
}

func TestEnvOrFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s")
	os.WriteFile(file, []byte(" whsec_x \n"), 0o600)
	empty := filepath.Join(t.TempDir(), "e")
	os.WriteFile(empty, nil, 0o600)
	for _, tc := range []struct {
		env     map[string]string
		want    string
		wantErr bool
	}{
		{map[string]string{}, "", false},
		{map[string]string{"X": "v"}, "v", false},
		{map[string]string{"X_FILE": file}, "whsec_x", false},
		{map[string]string{"X_FILE": file, "X": "v"}, "", true},
		{map[string]string{"X_FILE": filepath.Join(t.TempDir(), "missing")}, "", true},
		{map[string]string{"X_FILE": empty}, "", true},
	} {
		got, err := envOrFile(func(k string) string { return tc.env[k] }, "X")
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("envOrFile(%v) = %q, %v; want %q, error %v", tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}
