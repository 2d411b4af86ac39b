package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// RFC 8037 appendix A.2/A.3: the thumbprint of the example Ed25519 key.
func TestThumbprintRFC8037(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got, want := thumbprint(ed25519.PublicKey(x)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("thumbprint %s, want %s", got, want)
	}
}

type jwksDoc struct {
	Keys []map[string]string `json:"keys"`
}

func parseJWKS(t *testing.T, b []byte) (kids []string) {
	t.Helper()
	var d jwksDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("JWKS %s: %v", b, err)
	}
	for _, k := range d.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k["x"])
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("JWKS x %q", k["x"])
		}
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || len(k) != 6 {
			t.Errorf("JWKS entry %v", k)
		}
		if k["kid"] != thumbprint(x) {
			t.Errorf("kid %s is not the thumbprint of x", k["kid"])
		}
		kids = append(kids, k["kid"])
	}
	return kids
}

func TestOpenKeyringCreatesFirstKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "keys")
	e := newEnvIn(t, dir, newClock())
	kid := e.kr.ActiveKID()
	if !validKid(kid) {
		t.Fatalf("kid %q", kid)
	}
	if runtime.GOOS != "windows" {
		assertMode(t, dir, 0o700)
		assertMode(t, filepath.Join(dir, kid+".pem"), 0o600)
		assertMode(t, filepath.Join(dir, kid+".json"), 0o600)
	}
	pemBytes, _ := os.ReadFile(filepath.Join(dir, kid+".pem"))
	if !strings.HasPrefix(string(pemBytes), "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("key file is not PKCS#8 PEM:\n%s", pemBytes)
	}
	var meta map[string]any
	mb, _ := os.ReadFile(filepath.Join(dir, kid+".json"))
	if err := json.Unmarshal(mb, &meta); err != nil || meta["kid"] != kid || meta["created"] != t0.Format(time.RFC3339) || meta["retired"] != nil {
		t.Errorf("metadata %s (%v)", mb, err)
	}
	if kids := parseJWKS(t, e.kr.JWKS()); !slices.Equal(kids, []string{kid}) {
		t.Errorf("JWKS kids %v", kids)
	}

	// Opening again uses the key that is there.
	kr2, err := OpenKeyring(dir, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if kr2.ActiveKID() != kid {
		t.Errorf("reopened with kid %s, want %s", kr2.ActiveKID(), kid)
	}
	if n := countKeys(t, dir); n != 1 {
		t.Errorf("%d keys after reopening", n)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
	}
}

func countKeys(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	j, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(m) != len(j) {
		t.Errorf("%d key files, %d metadata files", len(m), len(j))
	}
	return len(j)
}

func TestOpenKeyringRefuses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	t.Run("key readable by others", func(t *testing.T) {
		e := newEnv(t)
		os.Chmod(filepath.Join(e.dir, e.kr.ActiveKID()+".pem"), 0o644)
		if _, err := OpenKeyring(e.dir, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("opened: %v", err)
		}
		if err := e.kr.Reload(); err == nil {
			t.Error("reloaded")
		}
	})
	t.Run("directory writable by others", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "keys")
		os.Mkdir(dir, 0o700)
		os.Chmod(dir, 0o777)
		if _, err := OpenKeyring(dir, nil); err == nil {
			t.Error("opened")
		}
	})
	t.Run("metadata of another key", func(t *testing.T) {
		e := newEnv(t)
		kid := e.kr.ActiveKID()
		other := seedKey(t, t.TempDir(), 9, t0)
		mb, _ := os.ReadFile(filepath.Join(e.dir, kid+".json"))
		os.WriteFile(filepath.Join(e.dir, other.kid+".json"), mb, 0o600)
		os.Rename(filepath.Join(e.dir, kid+".pem"), filepath.Join(e.dir, other.kid+".pem"))
		if _, err := OpenKeyring(e.dir, nil); err == nil {
			t.Error("opened")
		}
	})
	t.Run("key that is not its name", func(t *testing.T) {
		e := newEnv(t)
		other := seedKey(t, t.TempDir(), 9, t0)
		kid := e.kr.ActiveKID()
		der, _ := os.ReadFile(filepath.Join(e.dir, kid+".pem"))
		os.WriteFile(filepath.Join(e.dir, other.kid+".pem"), der, 0o600)
		os.WriteFile(filepath.Join(e.dir, other.kid+".json"), []byte(`{"kid":"`+other.kid+`","alg":"EdDSA","created":"2026-01-01T00:00:00Z"}`), 0o600)
		if _, err := OpenKeyring(e.dir, nil); err == nil || !strings.Contains(err.Error(), "thumbprint") {
			t.Errorf("opened: %v", err)
		}
	})
	t.Run("unknown metadata field", func(t *testing.T) {
		e := newEnv(t)
		kid := e.kr.ActiveKID()
		os.WriteFile(filepath.Join(e.dir, kid+".json"), []byte(`{"kid":"`+kid+`","alg":"EdDSA","created":"2026-01-01T00:00:00Z","x":1}`), 0o600)
		if _, err := OpenKeyring(e.dir, nil); err == nil {
			t.Error("opened")
		}
	})
}

func TestRotation(t *testing.T) {
	e := newEnv(t)
	old := e.kr.ActiveKID()
	oldTok := e.issue(t, Installation, "before")
	if _, err := e.ver.Verify(Installation, oldTok); err != nil { // now cached
		t.Fatal(err)
	}
	oldKey := *e.active()

	e.clock.Advance(10 * time.Minute)
	rotatedAt := e.clock.Now()
	nk, err := e.kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if nk == old || e.kr.ActiveKID() != nk {
		t.Fatalf("Rotate gave %s, active %s, old %s", nk, e.kr.ActiveKID(), old)
	}
	var meta keyMeta
	mb, _ := os.ReadFile(filepath.Join(e.dir, old+".json"))
	if err := json.Unmarshal(mb, &meta); err != nil || meta.Retired == nil || !meta.Retired.Equal(rotatedAt) {
		t.Errorf("old key metadata %s", mb)
	}

	newTok := e.issue(t, Installation, "after")
	if h, _, _ := splitTok(newTok); !strings.Contains(mustB64(t, h), nk) {
		t.Errorf("new token not signed with the new key")
	}
	if kids := parseJWKS(t, e.kr.JWKS()); !slices.Equal(kids, []string{nk, old}) {
		t.Errorf("JWKS after rotation %v, want [new old]", kids)
	}
	for _, v := range []*Verifier{e.cold, e.ver} {
		for _, tok := range []string{oldTok, newTok} {
			if _, err := v.Verify(Installation, tok); err != nil {
				t.Errorf("during grace: %v", err)
			}
		}
	}

	// A token the old key signed late (as by a server that had not noticed
	// the rotation) outlives the grace period; it is accepted up to the end
	// of the grace and refused after, cached or not.
	graceEnd := rotatedAt.Add(RetiredGrace)
	late := signed(header(old, Installation), claims(graceEnd.Add(-time.Minute)), oldKey.priv)
	e.clock.Set(graceEnd.Add(-time.Second))
	for _, v := range []*Verifier{e.cold, e.ver} {
		if _, err := v.Verify(Installation, late); err != nil {
			t.Errorf("just before the end of grace: %v", err)
		}
	}
	if kids := parseJWKS(t, e.kr.JWKS()); !slices.Equal(kids, []string{nk, old}) {
		t.Errorf("JWKS just before the end of grace %v", kids)
	}
	e.clock.Set(graceEnd)
	for _, v := range []*Verifier{e.cold, e.ver} {
		if _, err := v.Verify(Installation, late); !errors.Is(err, errKeyRetired) {
			t.Errorf("after grace: %v, want %v", err, errKeyRetired)
		}
	}
	if kids := parseJWKS(t, e.kr.JWKS()); !slices.Equal(kids, []string{nk}) {
		t.Errorf("JWKS after grace %v, want [new]", kids)
	}

	// The next rotation deletes the old key from disk.
	if n := countKeys(t, e.dir); n != 2 {
		t.Errorf("%d keys on disk before the second rotation", n)
	}
	third, err := e.kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, e.dir); n != 2 {
		t.Errorf("%d keys on disk after the second rotation, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(e.dir, old+".pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old key still on disk: %v", err)
	}
	if kids := parseJWKS(t, e.kr.JWKS()); !slices.Equal(kids, []string{third, nk}) {
		t.Errorf("JWKS after second rotation %v", kids)
	}
}

func mustB64(t *testing.T, s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRotationByAnotherProcess: a server keyring and a rotate-keys keyring
// on the same directory.
func TestRotationByAnotherProcess(t *testing.T) {
	clock := newClock()
	dir := filepath.Join(t.TempDir(), "keys")
	server := newEnvIn(t, dir, clock)
	cli := newEnvIn(t, dir, clock)
	old := server.kr.ActiveKID()
	if cli.kr.ActiveKID() != old {
		t.Fatal("two keyrings on one directory disagree")
	}
	oldTok := server.issue(t, Installation, "s")

	clock.Advance(time.Second)
	nk, err := cli.kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	// A token from the new key (as from another server instance) makes
	// the server reload: the unknown-kid path. Within ReloadMinInterval of
	// its last load it does not look (the rate limit), after it does.
	newTok := cli.issue(t, Installation, "s")
	if _, err := server.cold.Verify(Installation, newTok); !errors.Is(err, errUnknownKid) {
		t.Fatalf("within ReloadMinInterval: %v, want %v", err, errUnknownKid)
	}
	clock.Advance(ReloadMinInterval)
	loads := server.kr.loads.Load()
	if _, err := server.cold.Verify(Installation, newTok); err != nil {
		t.Fatalf("server refused a token of the rotated key: %v", err)
	}
	if got := server.kr.loads.Load() - loads; got != 1 {
		t.Errorf("%d loads, want 1", got)
	}
	if server.kr.ActiveKID() != nk {
		t.Errorf("server active %s, want %s", server.kr.ActiveKID(), nk)
	}
	if _, err := server.cold.Verify(Installation, oldTok); err != nil {
		t.Errorf("old token refused during grace: %v", err)
	}

	// Without any such token, the issuer and JWKS follow within
	// RefreshInterval.
	other := newEnvIn(t, dir, clock) // a second server, up to date now
	clock.Advance(time.Second)
	nk2, err := cli.kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if tok := other.issue(t, Installation, "s"); strings.Contains(mustB64(t, tok[:strings.IndexByte(tok, '.')]), nk2) {
		t.Error("issuer re-read the directory before RefreshInterval")
	}
	clock.Advance(RefreshInterval)
	if tok := other.issue(t, Installation, "s"); !strings.Contains(mustB64(t, tok[:strings.IndexByte(tok, '.')]), nk2) {
		t.Error("issuer still on the old key after RefreshInterval")
	}
	if kids := parseJWKS(t, other.kr.JWKS()); !slices.Equal(kids, []string{nk2, nk, old}) {
		t.Errorf("JWKS %v", kids)
	}

	// Explicit Reload.
	clock.Advance(time.Second)
	nk3, _ := cli.kr.Rotate()
	if err := server.kr.Reload(); err != nil {
		t.Fatal(err)
	}
	if server.kr.ActiveKID() != nk3 {
		t.Errorf("after Reload active %s, want %s", server.kr.ActiveKID(), nk3)
	}
}

// TestUnknownKidReloadIsRateLimited: tokens with made-up kids cost at most
// one directory read per ReloadMinInterval.
func TestUnknownKidReloadIsRateLimited(t *testing.T) {
	e := newEnv(t)
	_, attacker, _ := ed25519.GenerateKey(nil)
	tok := signed(header(thumbprint(attacker.Public().(ed25519.PublicKey)), Installation), claims(t0), attacker)
	e.clock.Advance(ReloadMinInterval) // the load by OpenKeyring is old enough
	start := e.kr.loads.Load()
	for range 1000 {
		if _, err := e.cold.Verify(Installation, tok); !errors.Is(err, errUnknownKid) {
			t.Fatal(err)
		}
	}
	if n := e.kr.loads.Load() - start; n != 1 {
		t.Errorf("%d loads for 1000 unknown kids, want 1", n)
	}
	e.clock.Advance(ReloadMinInterval - time.Nanosecond)
	e.cold.Verify(Installation, tok)
	if n := e.kr.loads.Load() - start; n != 1 {
		t.Errorf("%d loads before ReloadMinInterval, want 1", n)
	}
	e.clock.Advance(time.Nanosecond)
	e.cold.Verify(Installation, tok)
	if n := e.kr.loads.Load() - start; n != 2 {
		t.Errorf("%d loads after ReloadMinInterval, want 2", n)
	}
}

// TestReloadKeepsKeysOnError: a broken directory does not take the keys
// in use away.
func TestReloadKeepsKeysOnError(t *testing.T) {
	e := newEnv(t)
	tok := e.issue(t, Installation, "s")
	kid := e.kr.ActiveKID()
	os.WriteFile(filepath.Join(e.dir, kid+".json"), []byte("{"), 0o600)
	if err := e.kr.Reload(); err == nil {
		t.Fatal("reloaded a broken directory")
	}
	if _, err := e.cold.Verify(Installation, tok); err != nil {
		t.Errorf("keys lost after a failed reload: %v", err)
	}
	os.Remove(filepath.Join(e.dir, kid+".json"))
	if err := e.kr.Reload(); err == nil {
		t.Fatal("reloaded a directory without an active key")
	}
	if e.kr.ActiveKID() != kid {
		t.Error("active key lost after a failed reload")
	}
}

// TestConcurrentUse is for -race: verification, issuing and JWKS while
// other keyrings rotate the directory.
func TestConcurrentUse(t *testing.T) {
	clock := newClock()
	dir := filepath.Join(t.TempDir(), "keys")
	e := newEnvIn(t, dir, clock)
	cli := newEnvIn(t, dir, clock)
	tok := e.issue(t, Installation, "s")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := e.ver.Verify(Installation, tok); err != nil {
					t.Error(err)
					return
				}
				if g == 0 && i%20 == 0 {
					if _, err := cli.kr.Rotate(); err != nil {
						t.Error(err)
						return
					}
					e.kr.Reload()
				}
				if t2, _, err := e.iss.Issue(Installation, "s"); err != nil {
					t.Error(err)
				} else if _, err := e.ver.Verify(Installation, t2); err != nil {
					t.Error(err)
				}
				e.kr.JWKS()
			}
		})
	}
	wg.Wait()
}
