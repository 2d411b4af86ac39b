package archtest

import (
	"sort"
	"strconv"
	"strings"
	"testing"
)

// importGraph maps each package of the module to the paths its non-test
// files import.
func importGraph(m *module) map[string][]string {
	g := map[string][]string{}
	for _, p := range m.pkgs {
		seen := map[string]bool{}
		for _, f := range p.files {
			for _, s := range f.Imports {
				if ip, err := strconv.Unquote(s.Path.Value); err == nil && !seen[ip] {
					seen[ip] = true
					g[p.importPath] = append(g[p.importPath], ip)
				}
			}
		}
		sort.Strings(g[p.importPath])
	}
	return g
}

// hasPrefix reports whether import path ip is one of prefixes or below it.
func hasPrefix(ip string, prefixes []string) bool {
	for _, p := range prefixes {
		if ip == p || strings.HasPrefix(ip, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// forbiddenDeps follows from's imports through the packages of graph (the
// module's) and returns, for each forbidden import reached, the chain that
// reaches it.
func forbiddenDeps(graph map[string][]string, from string, forbidden []string) []string {
	var out []string
	via := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, ip := range graph[p] {
			if hasPrefix(ip, forbidden) {
				chain := []string{ip}
				for q := p; q != ""; q = via[q] {
					chain = append([]string{q}, chain...)
				}
				out = append(out, strings.Join(chain, " -> "))
				continue
			}
			if _, ok := graph[ip]; ok {
				if _, seen := via[ip]; !seen {
					via[ip] = p
					queue = append(queue, ip)
				}
			}
		}
	}
	return out
}

// domainForbidden is what the domain must not depend on (README: "Imports
// no HTTP, SQL or framework"): the adapters depend on it, never the
// reverse.
var domainForbidden = []string{
	"net/http", "database/sql",
	"github.com/gin-gonic", "github.com/jackc", "modernc.org/sqlite", "github.com/redis",
	"github.com/ulule/limiter", "github.com/prometheus", "github.com/golang-jwt",
}

// otherJWTLibraries are JWT/JOSE libraries other than golang-jwt/jwt/v5:
// a parser from one of them would escape the JWT parsing rule.
var otherJWTLibraries = []string{
	"github.com/golang-jwt/jwt/v4", "github.com/dgrijalva/jwt-go", "github.com/form3tech-oss/jwt-go",
	"github.com/lestrrat-go/jwx", "github.com/go-jose/go-jose", "gopkg.in/square/go-jose.v2",
	"gopkg.in/go-jose/go-jose.v2", "github.com/square/go-jose", "github.com/cristalhq/jwt",
	"github.com/pascaldekloe/jwt", "github.com/kataras/jwt", "github.com/gbrlsnchs/jwt",
}

func TestDomainImportsNoAdapters(t *testing.T) {
	m := loadModule(t, moduleRoot(t))
	g := importGraph(m)
	domain := m.path + "/internal/report"
	if _, ok := g[domain]; !ok {
		t.Fatalf("package %s not found", domain)
	}
	for _, chain := range forbiddenDeps(g, domain, domainForbidden) {
		t.Errorf("the domain depends on an adapter: %s", chain)
	}
}

func TestOnlyTokenPackageImportsJWT(t *testing.T) {
	m := loadModule(t, moduleRoot(t))
	tokenPkg := m.path + "/internal/token"
	found := false
	for p, imports := range importGraph(m) {
		for _, ip := range imports {
			switch {
			case ip == jwtImport && p == tokenPkg:
				found = true
			case ip == jwtImport:
				t.Errorf("%s imports %s: tokens are issued and verified by internal/token only", p, ip)
			case ip == "github.com/golang-jwt/jwt" || hasPrefix(ip, otherJWTLibraries):
				t.Errorf("%s imports %s: the only JWT library is %s, in internal/token", p, ip, jwtImport)
			}
		}
	}
	if !found {
		t.Fatalf("internal/token does not import %s: the rule looks in the wrong place", jwtImport)
	}
}

// TestForbiddenDepsFollowsChains proves the dependency walk on a small
// graph: a forbidden import two packages away is found, with its chain,
// and a cycle ends.
func TestForbiddenDepsFollowsChains(t *testing.T) {
	g := map[string][]string{
		"m/report": {"fmt", "m/util"},
		"m/util":   {"m/report", "m/deeper", "strings"},
		"m/deeper": {"net/http/httptest", "github.com/gin-gonic/gin"},
		"m/other":  {"database/sql"},
	}
	got := forbiddenDeps(g, "m/report", domainForbidden)
	want := []string{
		"m/report -> m/util -> m/deeper -> net/http/httptest",
		"m/report -> m/util -> m/deeper -> github.com/gin-gonic/gin",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if hasPrefix("net/httpx", domainForbidden) || !hasPrefix("net/http", domainForbidden) {
		t.Fatal("hasPrefix matches by string prefix, not by path element")
	}
}
