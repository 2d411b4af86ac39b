package scart

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		Host: "mail.hotline.example", Username: "u", Password: "Pw-4f9a2c",
		From: testFrom, To: testTo, SubjectPrefix: testSubject,
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := validConfig().check()
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS != TLSStartTLS || c.Port != 587 || c.Timeout != DefaultTimeout || c.ServerName != "mail.hotline.example" ||
		c.HelloName != "reportit.example" || c.Now == nil {
		t.Errorf("defaults: %+v", c)
	}
	tc := c.tlsConfig()
	if tc.ServerName != "mail.hotline.example" || tc.MinVersion != tls.VersionTLS12 || tc.InsecureSkipVerify {
		t.Errorf("tls config: %+v", tc)
	}
	for mode, port := range map[TLSMode]int{TLSImplicit: 465, TLSNone: 25} {
		cfg := validConfig()
		cfg.TLS, cfg.Host, cfg.Username, cfg.Password = mode, "127.0.0.1", "", ""
		if c, err := cfg.check(); err != nil || c.Port != port {
			t.Errorf("%s: port %d, %v", mode, c.Port, err)
		}
	}
	cfg := validConfig()
	cfg.From = "Reportit <reports@reportit.example>"
	if c, err := cfg.check(); err != nil || c.From != "reports@reportit.example" {
		t.Errorf("display name: %q, %v", c.From, err)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		says   string
	}{
		{"no host", func(c *Config) { c.Host = "" }, "host"},
		{"host with port", func(c *Config) { c.Host = "mail.example:587" }, "host"},
		{"host with space", func(c *Config) { c.Host = "mail example" }, "host"},
		{"port", func(c *Config) { c.Port = 70000 }, "port"},
		{"tls mode", func(c *Config) { c.TLS = "opportunistic" }, "tls must be"},
		{"none to remote host", func(c *Config) { c.TLS, c.Username, c.Password = TLSNone, "", "" }, "loopback"},
		{"none with password", func(c *Config) { c.TLS, c.Host = TLSNone, "127.0.0.1" }, "never sent without TLS"},
		{"password without user", func(c *Config) { c.Username = "" }, "password without username"},
		{"user with newline", func(c *Config) { c.Username = "u\r\nMAIL FROM:<x@y>" }, "control character"},
		{"no from", func(c *Config) { c.From = "" }, "from"},
		{"bad from", func(c *Config) { c.From = "not an address" }, "from"},
		{"utf8 from", func(c *Config) { c.From = "bücher@example.de" }, "ASCII"},
		{"bad to", func(c *Config) { c.To = "a@" }, "to"},
		{"header injection in to", func(c *Config) { c.To = "a@b.example\r\nBcc: x@y.example" }, "to"},
		{"no subject", func(c *Config) { c.SubjectPrefix = "" }, "subject"},
		{"subject with space", func(c *Config) { c.SubjectPrefix = "REPORT IT" }, "without spaces"},
		{"subject non-ascii", func(c *Config) { c.SubjectPrefix = "MELDÜNG" }, "ASCII"},
		{"subject too long", func(c *Config) { c.SubjectPrefix = strings.Repeat("A", 65) }, "subject"},
		{"SCARt's own subject", func(c *Config) { c.SubjectPrefix = "SCART-INPUT" }, "SCARt's own import formats"},
		{"ERT subject", func(c *Config) { c.SubjectPrefix = "ert-input-source" }, "SCARt's own import formats"},
		{"maintenance subject", func(c *Config) { c.SubjectPrefix = "SET_MAINTENANCE" }, "SCARt's own import formats"},
		{"insecure skip verify", func(c *Config) { c.TLSConfig = &tls.Config{InsecureSkipVerify: true} }, "cannot be turned off"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{"hello with space", func(c *Config) { c.HelloName = "a b" }, "hello"},
	} {
		cfg := validConfig()
		tc.mutate(&cfg)
		_, err := New(cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: err = %v; want ErrConfig saying %q", tc.name, err, tc.says)
		}
		if err != nil && strings.Contains(err.Error(), cfg.Password) && cfg.Password != "" {
			t.Errorf("%s: error gives the password away: %v", tc.name, err)
		}
	}
}

func TestTargetFromJSON(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	der := getPKI(t).server.Certificate[0]
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	js := `{"host":"mail.hotline.example","port":2587,"username":"reportit","password_env":"NL_SCART_PASSWORD",
		"from":"reports@reportit.example","to":"import@scart.hotline.example","subject":"REPORTIT",
		"tls":"starttls","ca_file":"` + ca + `","timeout":"45s","concurrency":2}`
	var tg Target
	if err := json.Unmarshal([]byte(js), &tg); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NL_SCART_PASSWORD": "from-env"}
	c, err := tg.Config(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Password != "from-env" || c.Port != 2587 || c.Timeout != 45*time.Second || c.RootCAs == nil || c.SubjectPrefix != "REPORTIT" {
		t.Errorf("config %+v", c)
	}

	for name, mutate := range map[string]func(*Target){
		"env unset":         func(t *Target) { t.PasswordEnv = "UNSET" },
		"both passwords":    func(t *Target) { t.Password = "x" },
		"bad timeout":       func(t *Target) { t.Timeout = "soon" },
		"missing ca file":   func(t *Target) { t.CAFile = filepath.Join(dir, "none.pem") },
		"ca file not a pem": func(t *Target) { t.CAFile = filepath.Join(dir, "ca.txt") },
	} {
		os.WriteFile(filepath.Join(dir, "ca.txt"), []byte("not a certificate"), 0o600)
		bad := tg
		mutate(&bad)
		if _, err := bad.Config(func(k string) string { return env[k] }); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
