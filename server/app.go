package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/reportit/reportit/internal/clientip"
	"github.com/reportit/reportit/internal/config"
	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/httpapi"
	"github.com/reportit/reportit/internal/intake"
	"github.com/reportit/reportit/internal/outbox"
	"github.com/reportit/reportit/internal/ratelimit"
	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/token"
)

const usage = `reportit: report child sexual abuse material URLs to the right hotline.

Usage:
  reportit [serve] [flags]   run the service (default)
  reportit rotate-keys       create a new token signing key; tokens signed by
                             the previous key stay valid until they expire;
                             running servers follow within a minute, or at
                             once on SIGHUP
  reportit migrate           apply database migrations and exit
  reportit hotline-client    create, revoke or list hotline pull clients
  reportit dead-letter       list given-up deliveries, or retry them
  reportit intake-sim        run the reference hotline intake portal
  reportit healthcheck       probe a running server's /readyz (for containers)
  reportit help              this text

Run "reportit serve -h" for the flags; each has a REPORTIT_* variable too.
`

// run is main without the process: testable, and returning an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, getenv, stdout, stderr)
	case "rotate-keys":
		err = rotateKeys(args, getenv, stdout)
	case "migrate":
		err = migrate(args, getenv, stdout)
	case "hotline-client":
		err = hotlineClient(args, getenv, stdout)
	case "dead-letter":
		err = deadLetter(args, getenv, stdout)
	case "intake-sim":
		err = intakeSim(ctx, args, getenv, stdout)
	case "healthcheck":
		err = healthcheck(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "reportit: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "reportit %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	cfg, err := config.Load("reportit serve", args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	secret, err := loadOrCreateSecret(filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return err
	}
	keys, err := token.OpenKeyring(filepath.Join(cfg.DataDir, "keys"), time.Now)
	if err != nil {
		return err
	}
	issuer, err := token.NewIssuer(keys, cfg.Issuer, cfg.TokenTTL, time.Now)
	if err != nil {
		return err
	}
	verifier, err := token.NewVerifier(keys, cfg.Issuer, time.Now)
	if err != nil {
		return err
	}
	store, err := openBackend(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	dir, err := hotline.Seed()
	if err != nil {
		return err
	}
	if dir, err = dir.WithFallback(cfg.DefaultHotline); err != nil {
		return err
	}
	svc, err := intake.New(store, dir, derive(secret, "intake"), time.Now)
	if err != nil {
		return err
	}

	limStore, closeLimStore, err := newLimiterStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeLimStore()

	reg := prometheus.NewRegistry()
	fallbacks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reportit_ratelimit_fallbacks_total",
		Help: "Rate-limit decisions taken by the stricter in-process limiter because the shared store (Redis) failed.",
	}, []string{"policy"})
	reg.MustRegister(fallbacks)
	limits := ratelimit.New(limStore, derive(secret, "ratelimit"), ratelimit.WithFallbackHook(func(policy string, storeErr error) {
		fallbacks.WithLabelValues(policy).Inc()
		// storeErr is set once per failure; the calls in between (while the
		// store is skipped) only count.
		if storeErr != nil {
			log.Warn("rate-limit store failed; using the stricter in-process limit", "policy", policy, "err", storeErr)
		}
	}))
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	routes, pull, err := deliveryRoutes(cfg, dir, getenv)
	if err != nil {
		return err
	}
	dispatcher, err := newDispatcher(cfg, store, routes, reg)
	if err != nil {
		return err
	}
	reg.MustRegister(outbox.NewCollector(store, time.Now))
	hotlineIssuer, err := token.NewIssuer(keys, cfg.Issuer, 15*time.Minute, time.Now)
	if err != nil {
		return err
	}

	gin.SetMode(gin.ReleaseMode)
	router := httpapi.New(httpapi.Deps{
		Reports:       svc,
		Tokens:        token.NewInstallations(issuer, verifier),
		Limiter:       limits,
		Policies:      httpapi.Policies{Tokens: cfg.Policies.Tokens, Reports: cfg.Policies.Reports, Global: cfg.Policies.Global},
		ClientIP:      clientip.New(cfg.Trusted),
		Store:         store,
		Pull:          store,
		HotlineTokens: token.NewHotlines(hotlineIssuer, verifier),
		Registry:      reg,
		Log:           log,
	})

	srv := &http.Server{
		Handler: router,
		// Slow or idle clients must not tie up the server: bound every
		// phase of a request, and the header size.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Leases held by this data dir's previous process (killed, say) end
	// now, so its jobs need not wait out their lease.
	if n, err := store.ReleaseLeases(ctx, time.Now()); err != nil {
		return err
	} else if n > 0 {
		log.Info("released delivery leases of a previous run", "count", n)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	// The address line on stdout lets scripts and tests use port 0.
	fmt.Fprintf(stdout, "reportit listening on http://%s\n", ln.Addr())
	log.Info("listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "startup_ms", time.Since(started).Milliseconds())

	// Delivery runs beside intake, and stops after it: reports accepted
	// during shutdown are committed with their jobs, and delivered on the
	// next start if not now.
	dctx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		outbox.New(outbox.Config{Queue: store, Dispatcher: dispatcher, Pull: pull, Log: log}).Run(dctx)
	}()
	go outbox.Retain(dctx, store, cfg.Retention, time.Now,
		func(err error) { log.Error("erasing delivered reports", "err", err) },
		func(n int64) { log.Info("erased content of delivered reports", "count", n) })
	defer func() { stopDelivery(); <-delivered }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	go purgeIdempotency(ctx, store, log)
	go reloadKeysOnHangup(ctx, keys, log)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, let in-flight requests finish (their reports are
	// committed before they answer), then close the store (deferred).
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func rotateKeys(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load("reportit rotate-keys", args, getenv)
	if err != nil {
		return err
	}
	keys, err := token.OpenKeyring(filepath.Join(cfg.DataDir, "keys"), time.Now)
	if err != nil {
		return err
	}
	kid, err := keys.Rotate()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key %s; tokens signed by the previous key stay valid until they expire\n", kid)
	return nil
}

func migrate(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load("reportit migrate", args, getenv)
	if err != nil {
		return err
	}
	applied, err := migrateBackend(context.Background(), cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d migrations applied %v\n", len(applied), applied)
	return nil
}

// loadOrCreateSecret reads the server secret, creating 32 random bytes on
// first start. It keys receipts, idempotency keys and rate-limit keys.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("%s: secret too short", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	// Write a temporary file and link it into place: a crash can leave a
	// stray temporary file, never a short secret.key that would stop every
	// later start. Link, unlike rename, fails if another process created
	// the secret meanwhile; that one wins and we read it.
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".secret-*.tmp")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateSecret(path)
		}
		return nil, err
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// derive gives each use of the server secret its own key, so that no two
// purposes ever share one.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("reportit/" + purpose))
	return m.Sum(nil)
}

// purgeIdempotency forgets idempotency records older than
// report.IdempotencyTTL, the window in which a client may retry a report.
func purgeIdempotency(ctx context.Context, store backend, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := store.PurgeIdempotency(ctx, time.Now().Add(-report.IdempotencyTTL)); err != nil {
				log.Warn("purging idempotency records", "err", err)
			} else if n > 0 {
				log.Info("purged idempotency records", "count", n)
			}
		}
	}
}

// reloadKeysOnHangup makes a key rotation by "reportit rotate-keys" take
// effect at once on SIGHUP; without it the server notices within a minute.
func reloadKeysOnHangup(ctx context.Context, keys *token.Keyring, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := keys.Reload(); err != nil {
				log.Error("reloading signing keys", "err", err)
			} else {
				log.Info("signing keys reloaded", "active_kid", keys.ActiveKID())
			}
		}
	}
}
