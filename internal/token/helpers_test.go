package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// t0 is when every test starts; clocks only move when a test says so.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testIssuer = "reportit-test"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// env is a keyring in a temporary directory with an issuer and verifiers
// on one fake clock.
type env struct {
	dir   string
	clock *fakeClock
	kr    *Keyring
	iss   *Issuer
	ver   *Verifier // with cache
	cold  *Verifier // without cache
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvIn(t, filepath.Join(t.TempDir(), "keys"), newClock())
}

func newEnvIn(t testing.TB, dir string, clock *fakeClock) *env {
	t.Helper()
	kr, err := OpenKeyring(dir, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(kr, testIssuer, time.Hour, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := NewVerifier(kr, testIssuer, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := NewVerifier(kr, testIssuer, clock.Now, WithCacheSize(0))
	if err != nil {
		t.Fatal(err)
	}
	return &env{dir: dir, clock: clock, kr: kr, iss: iss, ver: ver, cold: cold}
}

func (e *env) issue(t testing.TB, kind Kind, sub string) string {
	t.Helper()
	tok, _, err := e.iss.Issue(kind, sub)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) active() *key { return e.kr.cur.Load().active }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signed builds a token from raw header and payload JSON, signed with priv.
func signed(header, payload string, priv ed25519.PrivateKey) string {
	in := b64(header) + "." + b64(payload)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

func header(kid string, kind Kind) string {
	return fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":%q}`, kid, kind.Type())
}

// claims is a good installation claims set issued at iat for an hour.
func claims(iat time.Time) string {
	return claimsAt(iat.Unix(), iat.Unix()+3600)
}

func claimsAt(iat, exp int64) string {
	return fmt.Sprintf(`{"iss":%q,"sub":"inst-1","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j1"}`, testIssuer, exp, iat)
}

// seedKey writes a deterministic key into dir, before OpenKeyring.
func seedKey(t testing.TB, dir string, seed byte, created time.Time) *key {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	k := newKey(ed25519.NewKeyFromSeed(s), created)
	if err := writeKey(dir, k); err != nil {
		t.Fatal(err)
	}
	return k
}

// countingReader is a deterministic stand-in for crypto/rand.
type countingReader struct{ n byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}
