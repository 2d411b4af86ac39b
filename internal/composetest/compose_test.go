// Package composetest checks the container files at the repository's root
// (docker-compose.yml, Dockerfile) without a container engine: the compose
// file through compose-spec/compose-go, the loader Docker Compose itself
// uses, and the Dockerfile through a reading of its instructions.
package composetest

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/reportit/reportit/internal/clientip"
)

const root = "../.."

// load loads docker-compose.yml as `docker compose config` would, with
// interpolation, normalisation and the consistency checks.
func load(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(nil), // nothing from the test's own environment
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

var replicas = []string{"reportit-1", "reportit-2"}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	return s
}

func env(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

func TestServices(t *testing.T) {
	p := load(t)
	want := []string{"intake-sim", "postgres", "proxy", "redis", "reportit-1", "reportit-2"}
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
}

// Every service has a health check that runs, and the replicas' probes
// their /readyz; the proxy starts after both replicas are healthy.
func TestHealthchecks(t *testing.T) {
	p := load(t)
	for _, name := range p.ServiceNames() {
		hc := service(t, p, name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
			t.Errorf("%s: health check %+v, want an exec-form CMD test", name, hc)
		}
	}
	for _, name := range replicas {
		hc := service(t, p, name).HealthCheck
		// "reportit healthcheck" probes /readyz (see server/healthcheck.go).
		if hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/usr/local/bin/reportit", "healthcheck"}) {
			t.Errorf("%s: health check %v, want reportit's own /readyz probe", name, hc)
		}
	}
	proxy := service(t, p, "proxy")
	for _, name := range replicas {
		if d, ok := proxy.DependsOn[name]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("proxy depends on %s as %+v, want service_healthy", name, d)
		}
	}
	for _, name := range replicas {
		if d := service(t, p, name).DependsOn["postgres"]; d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s depends on postgres as %+v, want service_healthy", name, d)
		}
	}
}

// The proxy has a fixed address on the replicas' network, and that
// address, alone, is what the replicas trust.
func TestTrustedProxyIsTheProxy(t *testing.T) {
	p := load(t)
	proxy := service(t, p, "proxy")
	var addr string
	for name, n := range proxy.Networks {
		if n != nil && n.Ipv4Address != "" {
			addr = n.Ipv4Address
			nw := p.Networks[name]
			if len(nw.Ipam.Config) != 1 {
				t.Fatalf("network %s: IPAM %+v, want one fixed subnet", name, nw.Ipam)
			}
			subnet := netip.MustParsePrefix(nw.Ipam.Config[0].Subnet)
			if !subnet.Contains(netip.MustParseAddr(addr)) {
				t.Errorf("proxy address %s outside network %s's subnet %s", addr, name, subnet)
			}
			for _, r := range replicas {
				if _, ok := service(t, p, r).Networks[name]; !ok {
					t.Errorf("%s is not on the proxy's network %s", r, name)
				}
			}
		}
	}
	if addr == "" {
		t.Fatal("proxy has no fixed ipv4_address")
	}
	want := []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(addr), 32)}
	for _, r := range replicas {
		v := env(service(t, p, r), "REPORTIT_TRUSTED_PROXIES")
		trusted, err := clientip.ParseTrusted(v)
		if err != nil {
			t.Fatalf("%s: REPORTIT_TRUSTED_PROXIES=%q: %v", r, v, err)
		}
		if !slices.Equal(trusted, want) {
			t.Errorf("%s trusts %v, want the proxy's address alone %v", r, trusted, want)
		}
	}
	// Only the proxy is published.
	for _, name := range p.ServiceNames() {
		if ports := service(t, p, name).Ports; name != "proxy" && len(ports) > 0 {
			t.Errorf("%s publishes ports %+v; only the proxy should", name, ports)
		}
	}
}

// Secrets come from files, through *_FILE variables, and no secret value
// sits in the environment.
func TestSecrets(t *testing.T) {
	p := load(t)
	for name, s := range p.Secrets {
		if s.File == "" {
			t.Errorf("secret %s is not from a file", name)
		}
		if !strings.HasPrefix(s.File, filepath.Join(mustAbs(t, root), "deploy", "secrets")+string(filepath.Separator)) {
			t.Errorf("secret %s from %s, want a file in deploy/secrets", name, s.File)
		}
	}
	wantFiles := map[string]map[string]string{
		"postgres":   {"POSTGRES_PASSWORD_FILE": "db_password"},
		"reportit-1": {"REPORTIT_DATABASE_URL_FILE": "database_url", "REPORTIT_INTAKE_SECRET_FILE": "intake_secret"},
		"reportit-2": {"REPORTIT_DATABASE_URL_FILE": "database_url", "REPORTIT_INTAKE_SECRET_FILE": "intake_secret"},
		"intake-sim": {"REPORTIT_INTAKE_SECRET_FILE": "intake_secret"},
	}
	for svc, vars := range wantFiles {
		s := service(t, p, svc)
		for v, secret := range vars {
			if got, want := env(s, v), "/run/secrets/"+secret; got != want {
				t.Errorf("%s: %s=%q, want %q", svc, v, got, want)
			}
			if !slices.ContainsFunc(s.Secrets, func(c types.ServiceSecretConfig) bool { return c.Source == secret }) {
				t.Errorf("%s does not mount secret %s", svc, secret)
			}
		}
		for _, bare := range []string{"POSTGRES_PASSWORD", "REPORTIT_DATABASE_URL", "REPORTIT_INTAKE_SECRET"} {
			if _, ok := s.Environment[bare]; ok {
				t.Errorf("%s sets %s in the environment; use the _FILE form", svc, bare)
			}
		}
	}
}

// The data lives on named volumes: the database's, and the replicas'
// shared data directory (server secret and token keys, which both must
// have).
func TestVolumes(t *testing.T) {
	p := load(t)
	named := func(svc, target string) string {
		t.Helper()
		for _, v := range service(t, p, svc).Volumes {
			if v.Target == target {
				if v.Type != types.VolumeTypeVolume {
					t.Errorf("%s:%s is a %s mount, want a named volume", svc, target, v.Type)
				}
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s:%s uses volume %q, not declared", svc, target, v.Source)
				}
				return v.Source
			}
		}
		t.Errorf("%s has no volume at %s", svc, target)
		return ""
	}
	named("postgres", "/var/lib/postgresql/data")
	a, b := named("reportit-1", "/data"), named("reportit-2", "/data")
	if a != b {
		t.Errorf("replicas keep their data on %q and %q; they must share one (same secret and keys)", a, b)
	}
}

// The replicas use PostgreSQL, Redis and the intake portal of the stack,
// each with a replica id of its own.
func TestReplicaSettings(t *testing.T) {
	p := load(t)
	ids := map[string]bool{}
	for _, r := range replicas {
		s := service(t, p, r)
		if v := env(s, "REPORTIT_REDIS_URL"); !strings.HasPrefix(v, "redis://redis:") {
			t.Errorf("%s: REPORTIT_REDIS_URL=%q, want the stack's redis", r, v)
		}
		if v := env(s, "REPORTIT_INTAKE_URL"); !strings.HasPrefix(v, "http://intake-sim:") {
			t.Errorf("%s: REPORTIT_INTAKE_URL=%q, want the stack's intake-sim", r, v)
		}
		if env(s, "REPORTIT_ALLOW_HTTP_INTAKE") != "true" {
			t.Errorf("%s: plain-http intake not allowed, yet intake-sim is plain http", r)
		}
		id := env(s, "REPORTIT_REPLICA_ID")
		if id == "" || ids[id] {
			t.Errorf("%s: REPORTIT_REPLICA_ID %q empty or shared", r, id)
		}
		ids[id] = true
		if !slices.Equal(s.Command, types.ShellCommand{"serve"}) {
			t.Errorf("%s: command %v, want serve", r, s.Command)
		}
	}
	if c := service(t, p, "intake-sim").Command; len(c) == 0 || c[0] != "intake-sim" {
		t.Errorf("intake-sim: command %v", c)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
