// Package config holds the service configuration: defaults in code,
// overridden by REPORTIT_* environment variables, overridden by flags.
// Secrets may be given as files with the _FILE suffix.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/reportit/reportit/internal/clientip"
	"github.com/reportit/reportit/internal/ratelimit"
)

// Defaults. The rate limits are sized for people, not scripts: a reporter
// rarely sends more than a few reports an hour, and many people can share
// one address behind a NAT.
const (
	DefaultAddr         = "127.0.0.1:8080"
	DefaultDataDir      = "./data"
	DefaultRateTokens   = "30-H"
	DefaultRateReports  = "60-H"
	DefaultRateGlobal   = "2000-S"
	DefaultTokenTTL     = time.Hour
	DefaultIssuer       = "reportit"
	DefaultShutdownWait = 20 * time.Second
	DefaultRetention    = 30 * 24 * time.Hour
	DefaultMaxAge       = 72 * time.Hour
	// The delivery retry schedule and circuit breaker, as in package
	// delivery; tests and demos shorten them.
	DefaultBackoffBase     = 15 * time.Second
	DefaultBackoffMax      = time.Hour
	DefaultBreakerCooldown = 30 * time.Second
)

// Config is the whole configuration of a reportit server.
type Config struct {
	Addr           string
	DataDir        string
	RateTokens     string
	RateReports    string
	RateGlobal     string
	TrustedProxies string
	DefaultHotline string
	Issuer         string
	TokenTTL       time.Duration
	ShutdownWait   time.Duration
	LogLevel       string

	// Delivery.
	IntakeURL    string // shared intake portal for every hotline without its own route
	IntakeSecret string // whsec_… or whsk_…; several separated by spaces during a rotation
	RoutesFile   string // JSON file with per-hotline push, e-mail and pull routes
	PullHotlines string // comma-separated hotline ids that pull their reports
	AllowHTTP    bool   // plain-http intake endpoints beyond loopback (development stacks only)
	Retention    time.Duration
	MaxAge       time.Duration

	// Scale-out. Both may hold passwords: environment or _FILE only, no
	// flags (a command line shows in ps), and never logged.
	DatabaseURL string // postgres://…: PostgreSQL instead of the SQLite file in DataDir
	RedisURL    string // redis://…: rate limits shared through Redis instead of in-process
	// ReplicaID names this replica among those sharing the database: unique
	// among live ones, the same across restarts of one (see
	// postgres.WithReplicaID). Empty: a random name per process.
	ReplicaID string
	// BackoffBase is the retry ceiling after a first failed delivery,
	// doubled per attempt up to BackoffMax; BreakerCooldown is how long a
	// failing portal is left alone.
	BackoffBase     time.Duration
	BackoffMax      time.Duration
	BreakerCooldown time.Duration

	// Parsed forms, filled by Validate.
	Policies struct{ Tokens, Reports, Global ratelimit.Policy }
	Trusted  []netip.Prefix
}

// Load reads the environment (getenv) and then the flags in args.
func Load(name string, args []string, getenv func(string) string) (*Config, error) {
	c := &Config{
		Addr:         DefaultAddr,
		DataDir:      DefaultDataDir,
		RateTokens:   DefaultRateTokens,
		RateReports:  DefaultRateReports,
		RateGlobal:   DefaultRateGlobal,
		Issuer:       DefaultIssuer,
		TokenTTL:     DefaultTokenTTL,
		ShutdownWait: DefaultShutdownWait,
		LogLevel:     "info",
		Retention:    DefaultRetention,
		MaxAge:       DefaultMaxAge,

		BackoffBase:     DefaultBackoffBase,
		BackoffMax:      DefaultBackoffMax,
		BreakerCooldown: DefaultBreakerCooldown,
	}
	env := []struct {
		name string
		dst  *string
	}{
		{"REPORTIT_ADDR", &c.Addr},
		{"REPORTIT_DATA_DIR", &c.DataDir},
		{"REPORTIT_RATE_TOKENS", &c.RateTokens},
		{"REPORTIT_RATE_REPORTS", &c.RateReports},
		{"REPORTIT_RATE_GLOBAL", &c.RateGlobal},
		{"REPORTIT_TRUSTED_PROXIES", &c.TrustedProxies},
		{"REPORTIT_DEFAULT_HOTLINE", &c.DefaultHotline},
		{"REPORTIT_ISSUER", &c.Issuer},
		{"REPORTIT_LOG_LEVEL", &c.LogLevel},
		{"REPORTIT_INTAKE_URL", &c.IntakeURL},
		{"REPORTIT_INTAKE_SECRET", &c.IntakeSecret},
		{"REPORTIT_ROUTES_FILE", &c.RoutesFile},
		{"REPORTIT_PULL_HOTLINES", &c.PullHotlines},
		{"REPORTIT_DATABASE_URL", &c.DatabaseURL},
		{"REPORTIT_REDIS_URL", &c.RedisURL},
		{"REPORTIT_REPLICA_ID", &c.ReplicaID},
	}
	for _, e := range env {
		v, err := lookup(getenv, e.name)
		if err != nil {
			return nil, err
		}
		if v != "" {
			*e.dst = v
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"REPORTIT_TOKEN_TTL", &c.TokenTTL}, {"REPORTIT_SHUTDOWN_WAIT", &c.ShutdownWait},
		{"REPORTIT_RETENTION", &c.Retention}, {"REPORTIT_DELIVERY_MAX_AGE", &c.MaxAge},
		{"REPORTIT_DELIVERY_BACKOFF_BASE", &c.BackoffBase}, {"REPORTIT_DELIVERY_BACKOFF_MAX", &c.BackoffMax},
		{"REPORTIT_DELIVERY_BREAKER_COOLDOWN", &c.BreakerCooldown}} {
		v, err := lookup(getenv, d.name)
		if err != nil {
			return nil, err
		}
		if v != "" {
			p, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.name, err)
			}
			*d.dst = p
		}
	}

	allowHTTP, err := lookup(getenv, "REPORTIT_ALLOW_HTTP_INTAKE")
	if err != nil {
		return nil, err
	}

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (REPORTIT_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the database and keys (REPORTIT_DATA_DIR)")
	fs.StringVar(&c.RateTokens, "rate-tokens", c.RateTokens, "token issue/refresh limit per client address, N-PERIOD (REPORTIT_RATE_TOKENS)")
	fs.StringVar(&c.RateReports, "rate-reports", c.RateReports, "report limit per installation, N-PERIOD (REPORTIT_RATE_REPORTS)")
	fs.StringVar(&c.RateGlobal, "rate-global", c.RateGlobal, "report limit for all installations together, N-PERIOD (REPORTIT_RATE_GLOBAL)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "comma-separated CIDRs whose X-Forwarded-For is believed; none by default (REPORTIT_TRUSTED_PROXIES)")
	fs.StringVar(&c.DefaultHotline, "default-hotline", c.DefaultHotline, "hotline id for reports with no hotline and no known country (REPORTIT_DEFAULT_HOTLINE)")
	fs.StringVar(&c.Issuer, "issuer", c.Issuer, "token issuer name (REPORTIT_ISSUER)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", c.TokenTTL, "lifetime of installation tokens (REPORTIT_TOKEN_TTL)")
	fs.DurationVar(&c.ShutdownWait, "shutdown-wait", c.ShutdownWait, "how long to let in-flight requests finish on SIGTERM (REPORTIT_SHUTDOWN_WAIT)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (REPORTIT_LOG_LEVEL)")
	fs.StringVar(&c.IntakeURL, "intake-url", c.IntakeURL, "intake portal for every hotline without its own route (REPORTIT_INTAKE_URL)")
	fs.StringVar(&c.RoutesFile, "routes-file", c.RoutesFile, "JSON file of per-hotline delivery routes (REPORTIT_ROUTES_FILE)")
	fs.StringVar(&c.PullHotlines, "pull-hotlines", c.PullHotlines, "comma-separated hotline ids that pull their reports (REPORTIT_PULL_HOTLINES)")
	fs.BoolVar(&c.AllowHTTP, "allow-http-intake", allowHTTP == "true", "allow plain-http intake endpoints beyond loopback, for development stacks (REPORTIT_ALLOW_HTTP_INTAKE)")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "erase a delivered report's URL, comment and contact after this long (REPORTIT_RETENTION)")
	fs.DurationVar(&c.MaxAge, "delivery-max-age", c.MaxAge, "give a delivery up (dead letter) after this long (REPORTIT_DELIVERY_MAX_AGE)")
	fs.DurationVar(&c.BackoffBase, "delivery-backoff-base", c.BackoffBase, "retry a failed delivery within this long, doubled per attempt (REPORTIT_DELIVERY_BACKOFF_BASE)")
	fs.DurationVar(&c.BackoffMax, "delivery-backoff-max", c.BackoffMax, "cap of the retry wait (REPORTIT_DELIVERY_BACKOFF_MAX)")
	fs.DurationVar(&c.BreakerCooldown, "delivery-breaker-cooldown", c.BreakerCooldown, "how long a failing portal gets no deliveries (REPORTIT_DELIVERY_BREAKER_COOLDOWN)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c, c.Validate()
}

// Validate checks values and their combinations and fills the parsed forms.
func (c *Config) Validate() error {
	var errs []error
	var err error
	if c.Policies.Tokens, err = ratelimit.ParsePolicy("tokens", c.RateTokens); err != nil {
		errs = append(errs, fmt.Errorf("REPORTIT_RATE_TOKENS: %w", err))
	}
	if c.Policies.Reports, err = ratelimit.ParsePolicy("reports", c.RateReports); err != nil {
		errs = append(errs, fmt.Errorf("REPORTIT_RATE_REPORTS: %w", err))
	}
	if c.Policies.Global, err = ratelimit.ParsePolicy("global", c.RateGlobal); err != nil {
		errs = append(errs, fmt.Errorf("REPORTIT_RATE_GLOBAL: %w", err))
	}
	if c.Trusted, err = clientip.ParseTrusted(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("REPORTIT_TRUSTED_PROXIES: %w", err))
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > 24*time.Hour {
		errs = append(errs, errors.New("REPORTIT_TOKEN_TTL: must be between 1m and 24h: tokens are meant to be short-lived"))
	}
	if c.Retention < time.Hour {
		errs = append(errs, errors.New("REPORTIT_RETENTION: must be at least 1h"))
	}
	if c.MaxAge < time.Hour {
		errs = append(errs, errors.New("REPORTIT_DELIVERY_MAX_AGE: must be at least 1h"))
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase {
		errs = append(errs, errors.New("REPORTIT_DELIVERY_BACKOFF_BASE and _MAX: the base must be positive and at most the max"))
	}
	if c.ShutdownWait < 0 {
		errs = append(errs, errors.New("REPORTIT_SHUTDOWN_WAIT: must not be negative"))
	}
	if c.BreakerCooldown <= 0 {
		errs = append(errs, errors.New("REPORTIT_DELIVERY_BREAKER_COOLDOWN: must be positive"))
	}
	if (c.IntakeURL == "") != (c.IntakeSecret == "") {
		errs = append(errs, errors.New("REPORTIT_INTAKE_URL and REPORTIT_INTAKE_SECRET: set both or neither"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("REPORTIT_DATA_DIR: must not be empty"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("REPORTIT_ADDR: must not be empty"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("REPORTIT_LOG_LEVEL: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// lookup reads NAME, or the contents of the file named by NAME_FILE (the
// docker secrets convention). Setting both is an error.
func lookup(getenv func(string) string, name string) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	if file == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("set %s or %s_FILE, not both", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
