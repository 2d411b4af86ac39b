package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	libredis "github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
	"github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/reportit/reportit/internal/config"
	"github.com/reportit/reportit/internal/postgres"
	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/sqlite"
)

// backend is what the server needs of its store, whichever engine holds
// it: reports, the delivery queue and the pull API, and the upkeep the
// server runs itself.
type backend interface {
	report.Store // Close included
	report.Queue
	report.Pull
	// ReleaseLeases ends, at start-up, delivery leases a crashed
	// predecessor held: every lease with SQLite (one process per file),
	// only this replica's own with PostgreSQL (see postgres.ReleaseLeases).
	ReleaseLeases(ctx context.Context, now time.Time) (int64, error)
	PurgeIdempotency(ctx context.Context, before time.Time) (int64, error)
}

var (
	_ backend = (*sqlite.Store)(nil)
	_ backend = (*postgres.Store)(nil)
)

// dbFile is the SQLite database in the data directory.
func dbFile(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "reportit.db") }

// openBackend opens PostgreSQL when REPORTIT_DATABASE_URL is set, and the
// SQLite file in the data directory otherwise. Either applies pending
// migrations. ctx bounds the opening only.
func openBackend(ctx context.Context, cfg *config.Config) (backend, error) {
	if cfg.DatabaseURL != "" {
		// Replicas share the database; a stable per-replica name lets a
		// restarted replica end its predecessor's leases at once.
		s, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.WithReplicaID(cfg.ReplicaID))
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	s, err := sqlite.Open(dbFile(cfg))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// migrateBackend applies the pending migrations of the configured store
// and returns their names.
func migrateBackend(ctx context.Context, cfg *config.Config) ([]string, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Migrate(ctx, cfg.DatabaseURL)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	return sqlite.Migrate(ctx, dbFile(cfg))
}

// Redis client settings. A limiter that waits for Redis makes every report
// wait: answers must come fast or not at all, and a failure goes to the
// ratelimit package's fallback (a stricter in-process limit) rather than
// being retried.
const (
	redisDialTimeout = 500 * time.Millisecond
	redisIOTimeout   = 250 * time.Millisecond
	redisPoolTimeout = 500 * time.Millisecond
	// redisPrefix namespaces reportit's keys in a shared Redis.
	redisPrefix = "reportit"
)

// newLimiterStore returns the store the rate limits count in: ulule's
// in-process memory store, or with REPORTIT_REDIS_URL its Redis store, so
// that every replica counts against the same limits. The function it
// returns closes what it opened.
//
// ulule's Redis store loads its scripts when it is made, and fails if
// Redis does not answer then. A replica must start all the same (Redis is
// a shared cache of counters, not data), so the store is made on first use
// and again after each failure; until it exists, every call fails, and
// ratelimit.Limiter answers from its stricter in-process fallback, as it
// does when Redis fails mid-run.
func newLimiterStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (limiter.Store, func() error, error) {
	if cfg.RedisURL == "" {
		return memory.NewStore(), func() error { return nil }, nil
	}
	opts, err := libredis.ParseURL(cfg.RedisURL)
	if err != nil {
		// go-redis's parse errors can quote the URL, password included.
		return nil, nil, errors.New("REPORTIT_REDIS_URL: not a redis:// or rediss:// URL")
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = redisDialTimeout, redisIOTimeout, redisIOTimeout
	opts.PoolTimeout = redisPoolTimeout
	opts.MaxRetries = -1 // fail fast to the fallback; never retry
	client := libredis.NewClient(opts)
	s := &lazyStore{make: func() (limiter.Store, error) {
		return redis.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: redisPrefix})
	}}
	if _, err := s.current(); err != nil {
		log.Warn("Redis for rate limits does not answer; limiting in-process, stricter, until it does", "err", err)
	}
	return s, client.Close, nil
}

// errStoreNotReady answers calls made while another call is making the
// store: they go to the fallback rather than queue behind a slow Redis.
var errStoreNotReady = errors.New("rate-limit store: Redis store not ready")

// lazyStore is a limiter.Store made on first use, retried after failures.
type lazyStore struct {
	make  func() (limiter.Store, error)
	mu    sync.Mutex // held while making
	store atomic.Pointer[limiter.Store]
}

var _ limiter.Store = (*lazyStore)(nil)

func (l *lazyStore) current() (limiter.Store, error) {
	if s := l.store.Load(); s != nil {
		return *s, nil
	}
	if !l.mu.TryLock() {
		return nil, errStoreNotReady
	}
	defer l.mu.Unlock()
	if s := l.store.Load(); s != nil {
		return *s, nil
	}
	s, err := l.make()
	if err != nil {
		return nil, fmt.Errorf("rate-limit store: %w", err)
	}
	l.store.Store(&s)
	return s, nil
}

func (l *lazyStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := l.current()
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Get(ctx, key, rate)
}

func (l *lazyStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := l.current()
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Peek(ctx, key, rate)
}

func (l *lazyStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := l.current()
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Reset(ctx, key, rate)
}

func (l *lazyStore) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	s, err := l.current()
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Increment(ctx, key, count, rate)
}
