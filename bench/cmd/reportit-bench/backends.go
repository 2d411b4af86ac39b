package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	libredis "github.com/redis/go-redis/v9"
)

// The local servers -mode postgres uses when no URL is given: those of the
// development machine and of the store tests.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379"
	// redisKeys are the keys the server's rate limiter writes (its prefix
	// "reportit", ulule's "prefix:key" form).
	redisKeys = "reportit:*"
)

// pgDatabase is a database made for one part of a run and dropped after it.
type pgDatabase struct {
	admin string // URL of the database it was created from
	name  string
	url   string // URL of the new database, for the server
}

// createDatabase creates an empty database named reportit_bench_<random>
// on the server admin names (admin's own database is only connected to),
// so that a run never writes into a database someone else uses, and two
// runs never share one.
func createDatabase(ctx context.Context, admin string) (*pgDatabase, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("-database-url: not a postgres:// URL")
	}
	var b [6]byte
	if _, err := crand.Read(b[:]); err != nil {
		return nil, err
	}
	db := &pgDatabase{admin: admin, name: "reportit_bench_" + hex.EncodeToString(b[:])}
	if err := pgExec(ctx, admin, "CREATE DATABASE "+db.name); err != nil {
		return nil, fmt.Errorf("creating database %s on %s: %w", db.name, u.Redacted(), err)
	}
	u.Path = "/" + db.name
	db.url = u.String()
	return db, nil
}

// drop drops the database, closing any connection a server left open.
func (db *pgDatabase) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pgExec(ctx, db.admin, "DROP DATABASE IF EXISTS "+db.name+" WITH (FORCE)")
}

func pgExec(ctx context.Context, dbURL, sql string) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, connURL(dbURL))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(cctx, sql)
	return err
}

// connURL is dbURL without pgxpool's settings (pool_max_conns and the
// like), which the server's pool takes but a single connection would send
// to the server as unknown run-time parameters.
func connURL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// pgReportIDs reads every report id of a PostgreSQL database.
func pgReportIDs(ctx context.Context, dbURL string) (map[string]struct{}, error) {
	conn, err := pgx.Connect(ctx, connURL(dbURL))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id FROM reports")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanIDs(rows)
}

// redisDB is the Redis database a run's rate limits count in.
type redisDB struct {
	url    string // for the server
	opts   *libredis.Options
	before map[string]bool // keys of the server's prefix there before the run
}

// pickRedisDB chooses where the run's limiter keys go. A URL that names a
// database (redis://host:port/N) is used as given; otherwise an empty one
// of the server's numbered databases, picked at random, so that the run's
// keys are the only ones there. Either way the keys under the server's
// prefix that were there before are remembered, and cleanup deletes only
// the others.
func pickRedisDB(ctx context.Context, raw string) (*redisDB, error) {
	opts, err := libredis.ParseURL(raw)
	if err != nil {
		return nil, errors.New("-redis-url: not a redis:// or rediss:// URL")
	}
	opts.DialTimeout = 2 * time.Second
	u, _ := url.Parse(raw)
	explicit := u != nil && strings.Trim(u.Path, "/") != ""
	if !explicit {
		n, err := redisDatabases(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
		}
		found := false
		// Database 0 is where everyone else's keys are: not that one.
		for _, i := range mrand.Perm(n - 1) {
			o := *opts
			o.DB = i + 1
			size, err := withRedis(ctx, &o, func(c *libredis.Client) (int64, error) { return c.DBSize(ctx).Result() })
			if err != nil {
				return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
			}
			if size == 0 {
				opts.DB, found = i+1, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("redis at %s: no empty database among 1..%d; give one with -redis-url redis://host:port/N", opts.Addr, n-1)
		}
		u.Path = fmt.Sprintf("/%d", opts.DB)
	}
	keys, err := redisScan(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	r := &redisDB{url: u.String(), opts: opts, before: map[string]bool{}}
	for _, k := range keys {
		r.before[k] = true
	}
	return r, nil
}

// redisDatabases is how many numbered databases the server has (16 unless
// configured otherwise).
func redisDatabases(ctx context.Context, opts *libredis.Options) (int, error) {
	m, err := withRedis(ctx, opts, func(c *libredis.Client) (map[string]string, error) { return c.ConfigGet(ctx, "databases").Result() })
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscan(m["databases"], &n); err != nil || n < 2 {
		return 0, errors.New("it has a single database; give one with -redis-url redis://host:port/N")
	}
	return n, nil
}

// cleanup deletes the keys the run added under the server's prefix; it
// returns how many.
func (r *redisDB) cleanup() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys, err := redisScan(ctx, r.opts)
	if err != nil {
		return 0, err
	}
	var del []string
	for _, k := range keys {
		if !r.before[k] {
			del = append(del, k)
		}
	}
	for len(del) > 0 {
		n := min(len(del), 500)
		if _, err := withRedis(ctx, r.opts, func(c *libredis.Client) (int64, error) { return c.Del(ctx, del[:n]...).Result() }); err != nil {
			return 0, err
		}
		del = del[n:]
	}
	return len(keys) - len(r.before), nil
}

func redisScan(ctx context.Context, opts *libredis.Options) ([]string, error) {
	return withRedis(ctx, opts, func(c *libredis.Client) ([]string, error) {
		var keys []string
		it := c.Scan(ctx, 0, redisKeys, 1000).Iterator()
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		return keys, it.Err()
	})
}

func withRedis[T any](ctx context.Context, opts *libredis.Options, f func(*libredis.Client) (T, error)) (T, error) {
	c := libredis.NewClient(opts)
	defer c.Close()
	return f(c)
}
