package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load("t", nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "./data" || len(c.Trusted) != 0 || c.TokenTTL != time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
	if c.Policies.Tokens.Rate.Limit != 30 || c.Policies.Tokens.Rate.Period != time.Hour {
		t.Fatalf("tokens policy %+v", c.Policies.Tokens)
	}
}

func TestPrecedenceFlagsOverEnv(t *testing.T) {
	c, err := Load("t", []string{"-rate-reports", "5-M"}, env(map[string]string{
		"REPORTIT_ADDR": ":9000", "REPORTIT_RATE_REPORTS": "7-H", "REPORTIT_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9000" || c.Policies.Reports.Rate.Limit != 5 || c.Policies.Reports.Rate.Period != time.Minute || len(c.Trusted) != 2 {
		t.Fatalf("got %+v", c)
	}
}

func TestFileSecrets(t *testing.T) {
	f := filepath.Join(t.TempDir(), "addr")
	os.WriteFile(f, []byte("127.0.0.1:9999\n"), 0o600)
	c, err := Load("t", nil, env(map[string]string{"REPORTIT_ADDR_FILE": f}))
	if err != nil || c.Addr != "127.0.0.1:9999" {
		t.Fatalf("%v %+v", err, c)
	}
	if _, err := Load("t", nil, env(map[string]string{"REPORTIT_ADDR_FILE": f, "REPORTIT_ADDR": "x"})); err == nil {
		t.Fatal("both NAME and NAME_FILE accepted")
	}
}

func TestInvalid(t *testing.T) {
	tests := map[string]map[string]string{
		"REPORTIT_RATE_TOKENS":     {"REPORTIT_RATE_TOKENS": "ten-H"},
		"REPORTIT_RATE_GLOBAL":     {"REPORTIT_RATE_GLOBAL": "0-S"},
		"REPORTIT_TRUSTED_PROXIES": {"REPORTIT_TRUSTED_PROXIES": "not-an-ip"},
		"REPORTIT_TOKEN_TTL":       {"REPORTIT_TOKEN_TTL": "720h"},
		"REPORTIT_LOG_LEVEL":       {"REPORTIT_LOG_LEVEL": "loud"},
	}
	for want, e := range tests {
		_, err := Load("t", nil, env(e))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: err %v, want one naming %s", e, err, want)
		}
	}
}
