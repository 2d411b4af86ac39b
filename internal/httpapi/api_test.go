package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/reportit/reportit/internal/clientip"
	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/httpapi"
	"github.com/reportit/reportit/internal/intake"
	"github.com/reportit/reportit/internal/ratelimit"
	"github.com/reportit/reportit/internal/sqlite"
	"github.com/reportit/reportit/internal/token"
)

// env is a real router over a real SQLite file, real keys and a real limiter.
type env struct {
	t       testing.TB
	handler http.Handler
	keys    *token.Keyring
	logs    *syncBuffer
	reg     *prometheus.Registry
	now     func() time.Time
	clock   *clock
	store   *sqlite.Store
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type options struct {
	tokens, reports, global string
	trusted                 string
	// seedKey, if set, is written into the key directory before the
	// keyring opens, so that the test holds the active private key.
	seedKey ed25519.PrivateKey
}

func newEnv(t testing.TB, o options) *env {
	t.Helper()
	if o.tokens == "" {
		o.tokens = "1000-H"
	}
	if o.reports == "" {
		o.reports = "1000-H"
	}
	if o.global == "" {
		o.global = "100000-H"
	}
	dir := t.TempDir()
	clk := &clock{t: time.Now()}
	if o.seedKey != nil {
		seedKeyDir(t, filepath.Join(dir, "keys"), o.seedKey, clk.Now().Add(-time.Minute))
	}
	keys, err := token.OpenKeyring(filepath.Join(dir, "keys"), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(filepath.Join(dir, "reportit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	d, err := hotline.Seed()
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{7}, 32)
	svc, err := intake.New(store, d, secret, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	pol := func(name, spec string) ratelimit.Policy {
		p, err := ratelimit.ParsePolicy(name, spec)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	trusted, err := clientip.ParseTrusted(o.trusted)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	hIss, err := token.NewIssuer(keys, "reportit", 15*time.Minute, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	hVer, err := token.NewVerifier(keys, "reportit", clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Deps{
		Reports:       svc,
		Tokens:        installations(t, keys, "reportit", clk.Now),
		Limiter:       ratelimit.New(memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: "limiter"}), secret),
		Policies:      httpapi.Policies{Tokens: pol("tokens", o.tokens), Reports: pol("reports", o.reports), Global: pol("global", o.global)},
		ClientIP:      clientip.New(trusted),
		Store:         store,
		Pull:          store,
		HotlineTokens: token.NewHotlines(hIss, hVer),
		Registry:      reg,
		Log:           slog.New(slog.NewJSONHandler(logs, nil)),
	})
	return &env{t: t, handler: h, keys: keys, logs: logs, reg: reg, now: clk.Now, clock: clk, store: store}
}

type req struct {
	method, path string
	body         string
	headers      map[string]string
	remote       string
}

type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (e *env) do(r req) resp {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	hr.RemoteAddr = "192.0.2.10:4321"
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, hr)
	return resp{rec.Code, rec.Header(), rec.Body.Bytes()}
}

func (e *env) installation() string {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/installations"})
	if r.code != http.StatusCreated {
		e.t.Fatalf("installation: %d %s", r.code, r.body)
	}
	return r.json(e.t)["token"].(string)
}

var keyCounter struct {
	sync.Mutex
	n int
}

func newKey() string {
	keyCounter.Lock()
	defer keyCounter.Unlock()
	keyCounter.n++
	return fmt.Sprintf("key-%d-%d", time.Now().UnixNano(), keyCounter.n)
}

const goodBody = `{"url":"https://example.com/some/page","content_type":"page","category":"csam","country":"DE","client":{"name":"reportit-extension","version":"1.0.0"}}`

func (e *env) submit(tok, key, body string) resp {
	e.t.Helper()
	return e.do(req{method: "POST", path: "/v1/reports", body: body, headers: map[string]string{
		"Authorization": "Bearer " + tok, "Content-Type": "application/json", "Idempotency-Key": key,
	}})
}

func wantProblem(t *testing.T, r resp, status int, code string) map[string]any {
	t.Helper()
	if r.code != status {
		t.Fatalf("status %d, want %d; body %s", r.code, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	p := r.json(t)
	if p["type"] != httpapi.ProblemTypePrefix+code {
		t.Fatalf("problem type %v, want %s; body %s", p["type"], code, r.body)
	}
	if p["title"] == "" || p["status"] != float64(status) {
		t.Fatalf("problem lacks title or status: %s", r.body)
	}
	if status < 500 && status != 401 && status != 404 && p["detail"] == "" {
		t.Fatalf("problem lacks detail: %s", r.body)
	}
	return p
}

func TestHappyPathAndStatus(t *testing.T) {
	e := newEnv(t, options{})
	tok := e.installation()
	r := e.submit(tok, newKey(), goodBody)
	if r.code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.code, r.body)
	}
	a := r.json(t)
	for _, f := range []string{"id", "reference", "receipt", "received_at"} {
		if s, _ := a[f].(string); s == "" {
			t.Errorf("answer lacks %s: %s", f, r.body)
		}
	}
	if a["status"] != "accepted" || a["duplicate"] != false {
		t.Errorf("answer %s", r.body)
	}
	if h := a["hotline"].(map[string]any); h["id"] != "de-eco-beschwerdestelle" || h["report_url"] == "" {
		t.Errorf("routed to %v, want DE's default", h)
	}
	ref, receipt := a["reference"].(string), a["receipt"].(string)

	st := e.do(req{method: "GET", path: "/v1/reports/" + ref, headers: map[string]string{"Report-Receipt": receipt}})
	if st.code != http.StatusOK {
		t.Fatalf("status: %d %s", st.code, st.body)
	}
	s := st.json(t)
	if s["reference"] != ref || s["status"] != "accepted" {
		t.Fatalf("status body %s", st.body)
	}
	if strings.Contains(string(st.body), "example.com") {
		t.Errorf("status shows the reported URL: %s", st.body)
	}
	// Lower-case reference works too: people type them.
	if st := e.do(req{method: "GET", path: "/v1/reports/" + strings.ToLower(ref), headers: map[string]string{"Report-Receipt": receipt}}); st.code != 200 {
		t.Errorf("lower-case reference: %d", st.code)
	}
	// A wrong receipt and an unknown reference look the same.
	wrong := e.do(req{method: "GET", path: "/v1/reports/" + ref, headers: map[string]string{"Report-Receipt": "x" + receipt[1:]}})
	unknown := e.do(req{method: "GET", path: "/v1/reports/RIT-0000-0000-0000", headers: map[string]string{"Report-Receipt": receipt}})
	wantProblem(t, wrong, 404, "not-found")
	wantProblem(t, unknown, 404, "not-found")
	if !bytes.Equal(wrong.body, unknown.body) {
		t.Errorf("wrong receipt and unknown reference differ:\n%s\n%s", wrong.body, unknown.body)
	}
	wantProblem(t, e.do(req{method: "GET", path: "/v1/reports/" + ref}), 404, "receipt-missing")
	// A token is not a receipt.
	wantProblem(t, e.do(req{method: "GET", path: "/v1/reports/" + ref, headers: map[string]string{"Authorization": "Bearer " + tok}}), 404, "receipt-missing")
}

func TestIdempotentRetry(t *testing.T) {
	e := newEnv(t, options{})
	tok := e.installation()
	key := newKey()
	first := e.submit(tok, key, goodBody)
	if first.code != 202 {
		t.Fatalf("first: %d %s", first.code, first.body)
	}
	again := e.submit(tok, key, goodBody)
	if again.code != 202 || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %v %s", again.code, again.header, again.body)
	}
	a, b := first.json(t), again.json(t)
	for _, f := range []string{"id", "reference", "receipt", "received_at"} {
		if a[f] != b[f] {
			t.Errorf("%s differs on retry: %v vs %v", f, a[f], b[f])
		}
	}
	// The same report re-encoded (other whitespace, other key order) is a retry.
	reordered := `{ "category":"csam", "url":"https://example.com/some/page","content_type":"page","country":"DE",
		"client":{"version":"1.0.0","name":"reportit-extension"}}`
	if r := e.submit(tok, key, reordered); r.code != 202 || r.json(t)["id"] != a["id"] {
		t.Fatalf("re-encoded retry: %d %s", r.code, r.body)
	}
	// A quoted structured-field key is the same key.
	if r := e.submit(tok, `"`+key+`"`, goodBody); r.code != 202 || r.json(t)["id"] != a["id"] {
		t.Fatalf("sf-string key: %d %s", r.code, r.body)
	}
	changed := strings.Replace(goodBody, "some/page", "other/page", 1)
	wantProblem(t, e.submit(tok, key, changed), 422, "idempotency-key-reused")
	// The first report is untouched by the refused one.
	st := e.do(req{method: "GET", path: "/v1/reports/" + a["reference"].(string), headers: map[string]string{"Report-Receipt": a["receipt"].(string)}})
	if st.code != 200 {
		t.Fatalf("first report after conflict: %d", st.code)
	}
	// Keys are per installation: another installation's same key is its own.
	other := e.submit(e.installation(), key, goodBody)
	if other.code != 202 || other.json(t)["id"] == a["id"] {
		t.Fatalf("other installation, same key: %d %s", other.code, other.body)
	}
}

func TestConcurrentRetriesStoreOneReport(t *testing.T) {
	e := newEnv(t, options{})
	tok := e.installation()
	key := newKey()
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.submit(tok, key, goodBody)
			if r.code == 202 {
				var a struct{ ID string }
				json.Unmarshal(r.body, &a)
				ids[i] = a.ID
			}
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("concurrent retries got ids %v, want one id", ids)
		}
	}
}

func TestDuplicateAggregation(t *testing.T) {
	e := newEnv(t, options{})
	tok := e.installation()
	first := e.submit(tok, newKey(), goodBody).json(t)
	// Same URL, written differently, same hotline: a sighting.
	variant := strings.Replace(goodBody, "https://example.com/some/page", "HTTPS://Example.COM:443/some/./page", 1)
	second := e.submit(e.installation(), newKey(), variant)
	if second.code != 202 {
		t.Fatalf("second: %d %s", second.code, second.body)
	}
	s := second.json(t)
	if s["duplicate"] != true || s["id"] == first["id"] || s["reference"] == first["reference"] {
		t.Fatalf("sighting answer %s (first %v)", second.body, first)
	}
	// Same URL to another hotline: a new report.
	other := strings.Replace(goodBody, `"country":"DE"`, `"country":"FR"`, 1)
	if r := e.submit(tok, newKey(), other); r.code != 202 || r.json(t)["duplicate"] != false {
		t.Fatalf("other hotline: %d %s", r.code, r.body)
	}
	// After the 24-hour window: a new report again.
	e.clock.Add(25 * time.Hour)
	if r := e.submit(e.installation(), newKey(), goodBody); r.code != 202 || r.json(t)["duplicate"] != false {
		t.Fatalf("after window: %d %s", r.code, r.body)
	}
}

func TestBadBodies(t *testing.T) {
	e := newEnv(t, options{})
	tok := e.installation()
	tests := []struct {
		name   string
		body   string
		ctype  string
		status int
		code   string
		field  string
	}{
		{"unknown field", `{"url":"https://example.com/","content_type":"page","category":"csam","client":{"name":"x"},"screenshot":"x"}`, "", 400, "invalid-json", "screenshot"},
		{"unknown nested field", `{"url":"https://example.com/","content_type":"page","category":"csam","client":{"name":"x","os":"y"}}`, "", 400, "invalid-json", "client.os"},
		{"duplicate field", `{"url":"https://example.com/a","url":"https://example.com/b","content_type":"page","category":"csam","client":{"name":"x"}}`, "", 400, "invalid-json", "url"},
		{"case variant field", `{"url":"https://example.com/a","URL":"https://example.com/b","content_type":"page","category":"csam","client":{"name":"x"}}`, "", 400, "invalid-json", "URL"},
		{"wrong case only", `{"URL":"https://example.com/a","content_type":"page","category":"csam","client":{"name":"x"}}`, "", 400, "invalid-json", "URL"},
		{"wrong type", `{"url":42,"content_type":"page","category":"csam","client":{"name":"x"}}`, "", 400, "invalid-json", "url"},
		{"invalid utf-8", "{\"url\":\"https://example.com/\",\"comment\":\"\xff\xfe\",\"content_type\":\"page\",\"category\":\"csam\",\"client\":{\"name\":\"x\"}}", "", 400, "invalid-json", ""},
		{"trailing data", goodBody + `{"url":"x"}`, "", 400, "invalid-json", ""},
		{"not an object", `["https://example.com/"]`, "", 400, "invalid-json", ""},
		{"syntax error", `{"url":"https://example.com/",`, "", 400, "invalid-json", ""},
		{"empty body", ``, "", 400, "invalid-json", ""},
		{"too large", `{"comment":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, "", 413, "body-too-large", ""},
		{"form encoded", `url=https://example.com/`, "application/x-www-form-urlencoded", 415, "unsupported-media-type", ""},
		{"no content type", goodBody, "-", 415, "unsupported-media-type", ""},
		{"latin-1 charset", goodBody, "application/json; charset=iso-8859-1", 415, "unsupported-media-type", ""},
		{"missing category", `{"url":"https://example.com/","content_type":"page","client":{"name":"x"}}`, "", 422, "invalid-field", "category"},
		{"comment too long", `{"url":"https://example.com/","content_type":"page","category":"csam","comment":"` + strings.Repeat("é", 2001) + `","client":{"name":"x"}}`, "", 422, "invalid-field", "comment"},
		{"bad contact", `{"url":"https://example.com/","content_type":"page","category":"csam","contact":"call me","client":{"name":"x"}}`, "", 422, "invalid-field", "contact"},
		{"unknown hotline", `{"url":"https://example.com/","content_type":"page","category":"csam","hotline":"xx-none","client":{"name":"x"}}`, "", 422, "unknown-hotline", "hotline"},
		{"no hotline for country", `{"url":"https://example.com/","content_type":"page","category":"csam","country":"AQ","client":{"name":"x"}}`, "", 422, "no-hotline", "hotline"},
		{"several fields", `{"url":"data:image/png;base64,AAAA","content_type":"picture","category":"csam","client":{"name":"x"}}`, "", 422, "validation-failed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json", "Idempotency-Key": newKey()}
			switch tt.ctype {
			case "":
			case "-":
				delete(h, "Content-Type")
			default:
				h["Content-Type"] = tt.ctype
			}
			p := wantProblem(t, e.do(req{method: "POST", path: "/v1/reports", body: tt.body, headers: h}), tt.status, tt.code)
			if tt.field != "" && p["field"] != tt.field {
				t.Errorf("field %v, want %s (%v)", p["field"], tt.field, p)
			}
		})
	}
	t.Run("validation lists each field", func(t *testing.T) {
		p := wantProblem(t, e.submit(tok, newKey(), tests[len(tests)-1].body), 422, "validation-failed")
		errs, _ := p["errors"].([]any)
		fields := map[string]string{}
		for _, x := range errs {
			m := x.(map[string]any)
			fields[m["field"].(string)] = m["type"].(string)
		}
		if fields["url"] != httpapi.ProblemTypePrefix+"url-is-content" || fields["content_type"] != httpapi.ProblemTypePrefix+"invalid-field" {
			t.Fatalf("errors = %v", fields)
		}
	})
}

func TestURLRules(t *testing.T) {
	e := newEnv(t, options{})
	tok := e.installation()
	body := func(u string) string {
		b, _ := json.Marshal(map[string]any{"url": u, "content_type": "image", "category": "csam", "country": "NL",
			"page_url": "https://example.org/gallery", "client": map[string]string{"name": "test"}})
		return string(b)
	}
	refused := []struct{ url, code string }{
		{"data:image/png;base64,iVBORw0KGgo=", "url-is-content"},
		{"DATA:image/jpeg;base64,/9j/", "url-is-content"},
		{"blob:https://example.com/550e8400-e29b-41d4-a716-446655440000", "url-is-content"},
		{"javascript:alert(1)", "url-scheme"},
		{"file:///home/user/pic.jpg", "url-scheme"},
		{"about:blank", "url-scheme"},
		{"chrome://settings", "url-scheme"},
		{"chrome-extension://abcdefghijklmnop/popup.html", "url-scheme"},
		{"moz-extension://1234-5678/popup.html", "url-scheme"},
		{"view-source:https://example.com/", "url-scheme"},
		{"ftp://example.com/x.jpg", "url-scheme"},
		{"http://localhost/x", "url-host"},
		{"http://127.0.0.1/x", "url-host"},
		{"http://10.1.2.3/x", "url-host"},
		{"http://192.168.0.10/x", "url-host"},
		{"http://172.16.5.4/x", "url-host"},
		{"http://169.254.169.254/latest", "url-host"},
		{"http://[::1]/x", "url-host"},
		{"http://[fe80::1]/x", "url-host"},
		{"http://2130706433/x", "url-host"},
		{"https://example.com/" + strings.Repeat("a", 5000), "url-too-long"},
		{"example.com/no-scheme", "url-malformed"},
	}
	for _, tt := range refused {
		t.Run(tt.url[:min(len(tt.url), 40)], func(t *testing.T) {
			p := wantProblem(t, e.submit(tok, newKey(), body(tt.url)), 422, tt.code)
			if p["field"] != "url" {
				t.Errorf("field %v, want url", p["field"])
			}
		})
	}
	accepted := []struct{ in, want string }{
		{"http://exampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion/x", ""},
		{"https://bücher.example/straße", "xn--bcher-kva.example"},
		{"HTTPS://EXAMPLE.com:443/a/../b", "https://example.com/b"},
	}
	for _, tt := range accepted {
		r := e.submit(tok, newKey(), body(tt.in))
		if r.code != 202 {
			t.Errorf("%s refused: %s", tt.in, r.body)
		}
	}
	// A data: URL is never stored: nothing in the database holds it.
	// (Checked at the store level by TestNoMaterialStored in package sqlite;
	// here: the refusal answer does not echo it back.)
	r := e.submit(tok, newKey(), body("data:image/png;base64,SECRETPIXELS"))
	if bytes.Contains(r.body, []byte("SECRETPIXELS")) {
		t.Errorf("refusal echoes the content: %s", r.body)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, options{})
	good := e.installation()
	pub, foreign, _ := ed25519.GenerateKey(rand.Reader)
	_ = pub
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	claims := fmt.Sprintf(`{"iss":"reportit","aud":"reportit-api","sub":"i1","exp":%d,"iat":%d,"jti":"j"}`, e.now().Add(time.Hour).Unix(), e.now().Unix())
	parts := strings.Split(good, ".")
	kid := func() string {
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		var m map[string]any
		json.Unmarshal(h, &m)
		return m["kid"].(string)
	}()
	foreignTok := func() string {
		t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": "reportit", "aud": "reportit-api", "sub": "i1",
			"exp": e.now().Add(time.Hour).Unix(), "iat": e.now().Unix(), "jti": "j"})
		t.Header["kid"] = kid
		t.Header["typ"] = "reportit-installation+jwt"
		s, _ := t.SignedString(foreign)
		return s
	}()
	expired := func() string {
		old := installations(t, e.keys, "reportit", func() time.Time { return e.now().Add(-2 * time.Hour) })
		s, _, err := old.NewInstallation()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	otherIssuer, _, _ := installations(t, e.keys, "someone-else", e.now).NewInstallation()
	hotlineIssuer, err := token.NewIssuer(e.keys, "reportit", time.Hour, e.now)
	if err != nil {
		t.Fatal(err)
	}
	hotlineTok, _, err := hotlineIssuer.Issue(token.Hotline, "hotline-client")
	if err != nil {
		t.Fatal(err)
	}
	unknownKid := func() string {
		t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": "reportit", "aud": "reportit-api", "sub": "i1",
			"exp": e.now().Add(time.Hour).Unix(), "iat": e.now().Unix(), "jti": "j"})
		t.Header["kid"] = "no-such-key"
		t.Header["typ"] = "reportit-installation+jwt"
		s, _ := t.SignedString(foreign)
		return s
	}()
	// The classic confusion attack: HS256 with the published public key as
	// the HMAC secret.
	hsWithPublicKey := func() string {
		var set struct {
			Keys []struct{ X string } `json:"keys"`
		}
		json.Unmarshal(e.keys.JWKS(), &set)
		x, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
		t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "reportit", "aud": "reportit-api", "sub": "i1",
			"exp": e.now().Add(time.Hour).Unix(), "iat": e.now().Unix(), "jti": "j"})
		t.Header["kid"] = kid
		t.Header["typ"] = "reportit-installation+jwt"
		s, _ := t.SignedString(x)
		return s
	}()
	tampered := parts[0] + "." + b64(strings.Replace(string(must(base64.RawURLEncoding.DecodeString(parts[1]))), `"sub":"`, `"sub":"x`, 1)) + "." + parts[2]
	cases := map[string]string{
		"missing":           "",
		"basic scheme":      "Basic dXNlcjpwYXNz",
		"garbage":           "Bearer not-a-token",
		"alg none":          "Bearer " + b64(`{"alg":"none","typ":"reportit-installation+jwt","kid":"`+kid+`"}`) + "." + b64(claims) + ".",
		"expired":           "Bearer " + expired,
		"tampered payload":  "Bearer " + tampered,
		"foreign key":       "Bearer " + foreignTok,
		"other issuer":      "Bearer " + otherIssuer,
		"hotline token":     "Bearer " + hotlineTok,
		"unknown kid":       "Bearer " + unknownKid,
		"HS256 public key":  "Bearer " + hsWithPublicKey,
		"lower-case scheme": "bearer " + tampered,
		"huge":              "Bearer " + strings.Repeat("A", 1<<20),
	}
	var bodies [][]byte
	for name, auth := range cases {
		t.Run(name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json", "Idempotency-Key": newKey()}
			if auth != "" {
				h["Authorization"] = auth
			}
			r := e.do(req{method: "POST", path: "/v1/reports", body: goodBody, headers: h})
			wantProblem(t, r, 401, "unauthorized")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			bodies = append(bodies, r.body)
		})
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatalf("401 bodies differ:\n%s\n%s", b, bodies[0])
		}
	}
	// Refresh gives a working token for the same installation; a bad one is refused.
	r := e.do(req{method: "POST", path: "/v1/token/refresh", headers: map[string]string{"Authorization": "Bearer " + good}})
	if r.code != 200 {
		t.Fatalf("refresh: %d %s", r.code, r.body)
	}
	if s := e.submit(r.json(t)["token"].(string), newKey(), goodBody); s.code != 202 {
		t.Fatalf("refreshed token refused: %d %s", s.code, s.body)
	}
	wantProblem(t, e.do(req{method: "POST", path: "/v1/token/refresh", headers: map[string]string{"Authorization": "Bearer " + expired}}), 401, "unauthorized")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRateLimits(t *testing.T) {
	t.Run("tokens per address; forged X-Forwarded-For buys nothing", func(t *testing.T) {
		e := newEnv(t, options{tokens: "3-H"})
		for i := 0; i < 3; i++ {
			r := e.do(req{method: "POST", path: "/v1/installations", headers: map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}})
			if r.code != 201 {
				t.Fatalf("request %d: %d", i+1, r.code)
			}
			if r.header.Get("RateLimit-Policy") != `"tokens";q=3;w=3600` {
				t.Errorf("RateLimit-Policy = %q", r.header.Get("RateLimit-Policy"))
			}
		}
		r := e.do(req{method: "POST", path: "/v1/installations", headers: map[string]string{"X-Forwarded-For": "198.51.100.99", "X-Real-IP": "198.51.100.98"}})
		wantProblem(t, r, 429, "rate-limited")
		if r.header.Get("Retry-After") == "" || r.header.Get("RateLimit") == "" {
			t.Errorf("429 headers: %v", r.header)
		}
		if strings.Contains(fmt.Sprint(r.header)+string(r.body), "192.0.2.10") {
			t.Errorf("client address echoed")
		}
		// Another address has its own bucket.
		if r := e.do(req{method: "POST", path: "/v1/installations", remote: "192.0.2.11:1"}); r.code != 201 {
			t.Fatalf("other address: %d", r.code)
		}
	})
	t.Run("IPv6 per /64", func(t *testing.T) {
		e := newEnv(t, options{tokens: "2-H"})
		for i, a := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:1", "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1"} {
			r := e.do(req{method: "POST", path: "/v1/installations", remote: a})
			if want := map[bool]int{true: 201, false: 429}[i < 2]; r.code != want {
				t.Fatalf("%s: %d, want %d", a, r.code, want)
			}
		}
		if r := e.do(req{method: "POST", path: "/v1/installations", remote: "[2001:db8:1:3::1]:1"}); r.code != 201 {
			t.Fatalf("next /64: %d", r.code)
		}
	})
	t.Run("trusted proxy's header is believed", func(t *testing.T) {
		e := newEnv(t, options{tokens: "1-H", trusted: "192.0.2.0/24"})
		for i := 0; i < 3; i++ {
			r := e.do(req{method: "POST", path: "/v1/installations", headers: map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}})
			if r.code != 201 {
				t.Fatalf("client %d behind proxy: %d", i, r.code)
			}
		}
		r := e.do(req{method: "POST", path: "/v1/installations", headers: map[string]string{"X-Forwarded-For": "203.0.113.0"}})
		wantProblem(t, r, 429, "rate-limited")
	})
	t.Run("reports per installation and global", func(t *testing.T) {
		e := newEnv(t, options{reports: "2-H", global: "3-H"})
		a, b := e.installation(), e.installation()
		for i := 0; i < 2; i++ {
			if r := e.submit(a, newKey(), goodBody); r.code != 202 {
				t.Fatalf("a %d: %d %s", i, r.code, r.body)
			}
		}
		r := e.submit(a, newKey(), goodBody)
		wantProblem(t, r, 429, "rate-limited")
		if !strings.Contains(r.header.Get("RateLimit-Policy"), `"reports";q=2;w=3600`) {
			t.Errorf("policy header %q", r.header.Get("RateLimit-Policy"))
		}
		r = e.submit(b, newKey(), goodBody)
		if r.code != 202 {
			t.Fatalf("b: %d", r.code)
		}
		if strings.Contains(r.header.Get("RateLimit"), "global") {
			t.Errorf("global volume shown to a client: %q", r.header.Get("RateLimit"))
		}
		// The global cap (3) is now reached for everyone.
		r = e.submit(b, newKey(), goodBody)
		wantProblem(t, r, 429, "rate-limited")
		if !strings.Contains(r.header.Get("RateLimit-Policy"), `"global";q=3`) {
			t.Errorf("refusal by the global cap does not name it: %q", r.header.Get("RateLimit-Policy"))
		}
	})
}

func TestDirectoryJWKSAndProbes(t *testing.T) {
	e := newEnv(t, options{})
	r := e.do(req{method: "GET", path: "/v1/hotlines"})
	if r.code != 200 || r.header.Get("ETag") == "" {
		t.Fatalf("hotlines: %d %v", r.code, r.header)
	}
	var dir struct {
		Hotlines []hotline.Hotline `json:"hotlines"`
	}
	if err := json.Unmarshal(r.body, &dir); err != nil || len(dir.Hotlines) < 50 {
		t.Fatalf("directory: %v, %d entries", err, len(dir.Hotlines))
	}
	if r2 := e.do(req{method: "GET", path: "/v1/hotlines", headers: map[string]string{"If-None-Match": r.header.Get("ETag")}}); r2.code != 304 {
		t.Fatalf("If-None-Match: %d", r2.code)
	}
	j := e.do(req{method: "GET", path: "/.well-known/jwks.json"})
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(j.body, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["crv"] != "Ed25519" || set.Keys[0]["d"] != "" {
		t.Fatalf("jwks: %s", j.body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := e.do(req{method: "GET", path: p}); r.code != 200 {
			t.Errorf("%s: %d", p, r.code)
		}
	}
	wantProblem(t, e.do(req{method: "GET", path: "/v2/nothing"}), 404, "route-not-found")
	wantProblem(t, e.do(req{method: "DELETE", path: "/v1/reports"}), 405, "method-not-allowed")
}

func TestNothingPrivateInLogsOrMetrics(t *testing.T) {
	e := newEnv(t, options{})
	tok := e.installation()
	body := `{"url":"https://marker-url.example/abuse","page_url":"https://marker-page.example/","content_type":"image","category":"csam","country":"DE",
		"comment":"marker-comment","contact":"marker-contact@example.org","client":{"name":"reportit-extension","version":"1.0.0"}}`
	h := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json", "Idempotency-Key": "marker-key",
		"User-Agent": "marker-agent", "Origin": "moz-extension://marker-origin", "X-Forwarded-For": "198.51.100.77"}
	if r := e.do(req{method: "POST", path: "/v1/reports", body: body, headers: h, remote: "203.0.113.77:5555"}); r.code != 202 {
		t.Fatalf("submit: %d %s", r.code, r.body)
	}
	e.do(req{method: "POST", path: "/v1/reports", body: `{"url":"javascript:marker-bad"`, headers: h, remote: "203.0.113.77:5555"})
	metrics := e.do(req{method: "GET", path: "/metrics"})
	for _, out := range []string{e.logs.String(), string(metrics.body)} {
		for _, m := range []string{"marker", "203.0.113.77", "198.51.100.77", tok} {
			if strings.Contains(out, m) {
				t.Errorf("%q found in logs or metrics", m)
			}
		}
	}
	if !strings.Contains(e.logs.String(), "report accepted") {
		t.Errorf("acceptance not logged at all: %s", e.logs.String())
	}
}

var _ = context.Background

func installations(t testing.TB, keys *token.Keyring, issuer string, now func() time.Time) *token.Installations {
	t.Helper()
	iss, err := token.NewIssuer(keys, issuer, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := token.NewVerifier(keys, "reportit", now)
	if err != nil {
		t.Fatal(err)
	}
	return token.NewInstallations(iss, ver)
}
