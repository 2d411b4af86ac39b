package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The configuration is outside input too: environment variables, files
// named by NAME_FILE, flags. The fuzz targets check that no value makes
// Load panic, that every bad value is an error naming its variable, and
// that whatever Load accepts is what Validate promises.

// envNames are the variables Load reads, for the fuzzer to pick from.
var envNames = []string{
	"REPORTIT_ADDR", "REPORTIT_DATA_DIR", "REPORTIT_RATE_TOKENS", "REPORTIT_RATE_REPORTS",
	"REPORTIT_RATE_GLOBAL", "REPORTIT_TRUSTED_PROXIES", "REPORTIT_DEFAULT_HOTLINE", "REPORTIT_ISSUER",
	"REPORTIT_LOG_LEVEL", "REPORTIT_INTAKE_URL", "REPORTIT_INTAKE_SECRET", "REPORTIT_ROUTES_FILE",
	"REPORTIT_PULL_HOTLINES", "REPORTIT_DATABASE_URL", "REPORTIT_REDIS_URL", "REPORTIT_REPLICA_ID",
	"REPORTIT_TOKEN_TTL", "REPORTIT_SHUTDOWN_WAIT", "REPORTIT_RETENTION", "REPORTIT_DELIVERY_MAX_AGE",
	"REPORTIT_DELIVERY_BACKOFF_BASE", "REPORTIT_DELIVERY_BACKOFF_MAX", "REPORTIT_DELIVERY_BREAKER_COOLDOWN",
	"REPORTIT_ALLOW_HTTP_INTAKE",
}

var durationVars = map[string]func(*Config) time.Duration{
	"REPORTIT_TOKEN_TTL":                 func(c *Config) time.Duration { return c.TokenTTL },
	"REPORTIT_SHUTDOWN_WAIT":             func(c *Config) time.Duration { return c.ShutdownWait },
	"REPORTIT_RETENTION":                 func(c *Config) time.Duration { return c.Retention },
	"REPORTIT_DELIVERY_MAX_AGE":          func(c *Config) time.Duration { return c.MaxAge },
	"REPORTIT_DELIVERY_BACKOFF_BASE":     func(c *Config) time.Duration { return c.BackoffBase },
	"REPORTIT_DELIVERY_BACKOFF_MAX":      func(c *Config) time.Duration { return c.BackoffMax },
	"REPORTIT_DELIVERY_BREAKER_COOLDOWN": func(c *Config) time.Duration { return c.BreakerCooldown },
}

// checkAccepted checks the promises of a configuration Load accepted.
func checkAccepted(t *testing.T, c *Config, input any) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("accepted %q, but "+format, append([]any{input}, args...)...)
	}
	for name, p := range map[string]struct {
		limit  int64
		period time.Duration
	}{
		"tokens":  {c.Policies.Tokens.Rate.Limit, c.Policies.Tokens.Rate.Period},
		"reports": {c.Policies.Reports.Rate.Limit, c.Policies.Reports.Rate.Period},
		"global":  {c.Policies.Global.Rate.Limit, c.Policies.Global.Rate.Period},
	} {
		if p.limit < 1 || p.period < time.Second || p.period > 24*time.Hour {
			fail("policy %s is %d per %v", name, p.limit, p.period)
		}
	}
	for _, p := range c.Trusted {
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Bits() == 0 || p.Addr().Zone() != "" {
			fail("trusted proxy %v", p)
		}
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > 24*time.Hour {
		fail("token TTL %v", c.TokenTTL)
	}
	if c.Retention < time.Hour || c.MaxAge < time.Hour {
		fail("retention %v, max age %v", c.Retention, c.MaxAge)
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase || c.BreakerCooldown <= 0 {
		fail("backoff %v..%v, cooldown %v", c.BackoffBase, c.BackoffMax, c.BreakerCooldown)
	}
	if c.ShutdownWait < 0 {
		fail("shutdown wait %v", c.ShutdownWait)
	}
	if c.Addr == "" || c.DataDir == "" || (c.IntakeURL == "") != (c.IntakeSecret == "") {
		fail("addr %q, data dir %q, intake %q/%q", c.Addr, c.DataDir, c.IntakeURL, c.IntakeSecret)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		fail("log level %q", c.LogLevel)
	}
	if err := c.Validate(); err != nil {
		fail("Validate now says %v", err)
	}
}

// FuzzLoadEnv sets two variables (picked by index) to arbitrary values.
func FuzzLoadEnv(f *testing.F) {
	idx := func(name string) uint8 {
		for i, n := range envNames {
			if n == name {
				return uint8(i)
			}
		}
		panic(name)
	}
	for _, s := range []struct {
		a, b   string
		va, vb string
	}{
		{"REPORTIT_RATE_TOKENS", "REPORTIT_RATE_GLOBAL", "100-H", "2000-S"},
		{"REPORTIT_RATE_REPORTS", "REPORTIT_RATE_TOKENS", "+60-h", " 5-M "},
		{"REPORTIT_RATE_TOKENS", "REPORTIT_RATE_REPORTS", "9223372036854775807-D", "-1-H"},
		{"REPORTIT_RATE_GLOBAL", "REPORTIT_RATE_REPORTS", "0-S", "1-H-H"},
		{"REPORTIT_TRUSTED_PROXIES", "REPORTIT_ADDR", "10.0.0.0/8, 192.0.2.1, fd00::/8", "[::1]:8080"},
		{"REPORTIT_TRUSTED_PROXIES", "REPORTIT_LOG_LEVEL", "::ffff:10.0.0.0/104,,", "debug"},
		{"REPORTIT_TRUSTED_PROXIES", "REPORTIT_LOG_LEVEL", "fe80::1%eth0, 10.0.0.1/8", "loud"},
		{"REPORTIT_TRUSTED_PROXIES", "REPORTIT_ADDR", "0.0.0.0/0", ""},
		{"REPORTIT_TOKEN_TTL", "REPORTIT_SHUTDOWN_WAIT", "1h30m", "-5s"},
		{"REPORTIT_TOKEN_TTL", "REPORTIT_RETENTION", "9223372036854775807ns", "1e3h"},
		{"REPORTIT_DELIVERY_BACKOFF_BASE", "REPORTIT_DELIVERY_BACKOFF_MAX", "2h", "1h"},
		{"REPORTIT_DELIVERY_BREAKER_COOLDOWN", "REPORTIT_DELIVERY_MAX_AGE", "0s", "72h"},
		{"REPORTIT_INTAKE_URL", "REPORTIT_INTAKE_SECRET", "https://intake.example/reports", "whsec_AAAA"},
		{"REPORTIT_ALLOW_HTTP_INTAKE", "REPORTIT_DATA_DIR", "true", ""},
	} {
		f.Add(idx(s.a), s.va, idx(s.b), s.vb)
	}
	f.Fuzz(func(t *testing.T, ia uint8, va string, ib uint8, vb string) {
		env := map[string]string{}
		a, b := envNames[int(ia)%len(envNames)], envNames[int(ib)%len(envNames)]
		env[a] = va
		env[b] = vb
		c, err := Load("fuzz", nil, func(k string) string { return env[k] })
		if err != nil {
			// An error names the variable it is about.
			if !strings.Contains(err.Error(), "REPORTIT_") {
				t.Fatalf("%v: error names no variable: %v", env, err)
			}
			return
		}
		checkAccepted(t, c, env)
		// What was set is what is used.
		for name, v := range env {
			if d := durationVars[name]; d != nil && v != "" {
				want, err := time.ParseDuration(v)
				if err != nil || d(c) != want {
					t.Fatalf("%s=%q gave %v", name, v, d(c))
				}
			}
		}
		if v := env["REPORTIT_ADDR"]; v != "" && c.Addr != v {
			t.Fatalf("REPORTIT_ADDR=%q gave %q", v, c.Addr)
		}
	})
}

// FuzzLoadFile gives a variable through NAME_FILE: arbitrary file
// contents, a file that is missing or a directory, and NAME set as well.
func FuzzLoadFile(f *testing.F) {
	f.Add(uint8(0), uint8(0), []byte("127.0.0.1:9999\n"), "")
	f.Add(uint8(2), uint8(0), []byte(" 100-H \r\n"), "")
	f.Add(uint8(5), uint8(0), []byte("10.0.0.0/8,\n192.0.2.1\n"), "")
	f.Add(uint8(10), uint8(0), []byte("whsec_c2VjcmV0\n"), "")
	f.Add(uint8(0), uint8(1), []byte(""), "")
	f.Add(uint8(0), uint8(2), []byte("x"), "")
	f.Add(uint8(0), uint8(0), []byte("x"), "also-set")
	f.Add(uint8(1), uint8(0), []byte("\x00\xff\n"), "")
	f.Add(uint8(16), uint8(0), []byte("2h"), "")
	f.Add(uint8(23), uint8(0), []byte("true\n"), "")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, which, shape uint8, content []byte, direct string) {
		name := envNames[int(which)%len(envNames)]
		path := filepath.Join(dir, "value")
		os.RemoveAll(path)
		switch shape % 3 {
		case 0:
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
		case 1: // missing
		case 2:
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		env := map[string]string{name + "_FILE": path}
		if direct != "" {
			env[name] = direct
		}
		c, err := Load("fuzz", nil, func(k string) string { return env[k] })
		if err != nil && !strings.Contains(err.Error(), "REPORTIT_") {
			t.Fatalf("%s: error names no variable: %v", name, err)
		}
		if direct != "" && err == nil {
			t.Fatalf("%s and %s_FILE both set, and accepted", name, name)
		}
		if shape%3 != 0 {
			if err == nil {
				t.Fatalf("%s_FILE names no readable file, and was accepted", name)
			}
			return
		}
		if direct != "" {
			return
		}
		// A file holding X is NAME=X (trimmed): the same configuration or
		// the same refusal.
		value := strings.TrimSpace(string(content))
		cd, errd := Load("fuzz", nil, func(k string) string { return map[string]string{name: value}[k] })
		if (err == nil) != (errd == nil) {
			t.Fatalf("%s: %q from a file: %v; given directly: %v", name, value, err, errd)
		}
		if err == nil {
			checkAccepted(t, c, env)
			if !reflect.DeepEqual(c, cd) {
				t.Fatalf("%s: %q from a file gives\n%+v\ngiven directly\n%+v", name, value, c, cd)
			}
		}
	})
}

// FuzzLoadFlags parses arbitrary values of the flags that take rates,
// durations and lists. flag's usage text on errors is thrown away.
func FuzzLoadFlags(f *testing.F) {
	flags := []string{"-rate-tokens", "-rate-reports", "-rate-global", "-trusted-proxies", "-token-ttl",
		"-shutdown-wait", "-retention", "-delivery-max-age", "-delivery-backoff-base", "-delivery-backoff-max",
		"-delivery-breaker-cooldown", "-log-level", "-addr", "-pull-hotlines", "-allow-http-intake"}
	f.Add(uint8(0), "5-M", uint8(4), "30m")
	f.Add(uint8(3), "192.0.2.0/24", uint8(11), "warn")
	f.Add(uint8(5), "-1ns", uint8(14), "maybe")
	f.Add(uint8(9), "1ns", uint8(8), "2ns")
	f.Fuzz(func(t *testing.T, ia uint8, va string, ib uint8, vb string) {
		args := []string{flags[int(ia)%len(flags)] + "=" + va, flags[int(ib)%len(flags)] + "=" + vb}
		stderr := os.Stderr
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		os.Stderr = devnull
		c, err := Load("fuzz", args, func(string) string { return "" })
		os.Stderr = stderr
		devnull.Close()
		if err != nil {
			return
		}
		checkAccepted(t, c, args)
	})
}
