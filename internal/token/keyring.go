package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// errNoActiveKey is a key directory where every key is retired.
var errNoActiveKey = errors.New("token: no active key in the key directory")

// Keyring is the set of signing keys in a directory: one active key that
// signs, and retired keys that still verify during RetiredGrace. Several
// Keyrings (in several processes) may use the same directory; each sees the
// others' changes on Reload.
type Keyring struct {
	dir string
	now func() time.Time

	cur atomic.Pointer[keySet]

	reloadMu sync.Mutex   // serialises loads and rotations in this process
	lastLoad atomic.Int64 // kr.now() of the last load attempt, Unix ns
	loads    atomic.Int64 // number of loads, for tests
}

// OpenKeyring opens the key directory dir, creating it (mode 0700) and a
// first key if there is no active key. now is the clock (nil: time.Now).
func OpenKeyring(dir string, now func() time.Time) (*Keyring, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token: create key directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("token: key directory: %w", err)
	}
	// Whoever can write the directory can plant a key we would sign with.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("token: key directory %s is writable by group or others (mode %v); chmod 700 it", dir, fi.Mode().Perm())
	}
	kr := &Keyring{dir: dir, now: now}
	ks, err := kr.load()
	if err != nil {
		return nil, err
	}
	if ks.active == nil {
		if ks, err = kr.createFirst(); err != nil {
			return nil, err
		}
	}
	kr.cur.Store(ks)
	return kr, nil
}

// createFirst creates a key under the directory lock, unless another
// process did so meanwhile.
func (kr *Keyring) createFirst() (*keySet, error) {
	unlock, err := lockDir(kr.dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ks, err := kr.load()
	if err != nil || ks.active != nil {
		return ks, err
	}
	if err := kr.addKey(); err != nil {
		return nil, err
	}
	return kr.load()
}

func (kr *Keyring) addKey() error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("token: generate key: %w", err)
	}
	if err := writeKey(kr.dir, newKey(priv, kr.now())); err != nil {
		return err
	}
	return syncDir(kr.dir)
}

// load reads the directory and counts the attempt.
func (kr *Keyring) load() (*keySet, error) {
	kr.loads.Add(1)
	kr.lastLoad.Store(kr.now().UnixNano())
	return loadKeys(kr.dir)
}

// Reload re-reads the key directory, to pick up a rotation done by another
// process. On error the keys in use are kept.
func (kr *Keyring) Reload() error {
	kr.reloadMu.Lock()
	defer kr.reloadMu.Unlock()
	return kr.reloadLocked()
}

func (kr *Keyring) reloadLocked() error {
	ks, err := kr.load()
	if err != nil {
		return err
	}
	if ks.active == nil {
		return errNoActiveKey
	}
	kr.cur.Store(ks)
	return nil
}

// maybeReload reloads if the last load is at least minAge old. Errors are
// dropped: the keys in use stay, and the next attempt is minAge later.
// Callers that want the error call Reload.
func (kr *Keyring) maybeReload(minAge time.Duration) {
	stale := func() bool { return kr.now().UnixNano()-kr.lastLoad.Load() >= int64(minAge) }
	if !stale() {
		return
	}
	kr.reloadMu.Lock()
	defer kr.reloadMu.Unlock()
	if stale() { // nobody reloaded while we waited for the lock
		_ = kr.reloadLocked()
	}
}

// Rotate creates a new active key and retires the previously active one(s)
// now. Keys retired past RetiredGrace are deleted. It returns the new kid.
func (kr *Keyring) Rotate() (newKid string, err error) {
	unlock, err := lockDir(kr.dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	kr.reloadMu.Lock()
	defer kr.reloadMu.Unlock()

	// Start from the disk, not from our view: another process may have
	// rotated since we last looked.
	before, err := kr.load()
	if err != nil {
		return "", err
	}
	now := kr.now()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("token: generate key: %w", err)
	}
	nk := newKey(priv, now)
	// New key first: should we stop half-way, there is still an active key.
	if err := writeKey(kr.dir, nk); err != nil {
		return "", err
	}
	for _, k := range before.keys {
		switch {
		case k.retired.IsZero():
			r := *k
			r.retired = now.UTC()
			if err := writeMeta(kr.dir, &r); err != nil {
				return "", err
			}
		case !k.verifies(now):
			if err := deleteKey(kr.dir, k.kid); err != nil {
				return "", err
			}
		}
	}
	if err := syncDir(kr.dir); err != nil {
		return "", err
	}
	if err := kr.reloadLocked(); err != nil {
		return "", err
	}
	return nk.kid, nil
}

// ActiveKID is the kid new tokens are signed with.
func (kr *Keyring) ActiveKID() string { return kr.cur.Load().active.kid }

// signingKey is the active key, re-reading the directory at most every
// RefreshInterval so a rotation by another process is followed.
func (kr *Keyring) signingKey() *key {
	kr.maybeReload(RefreshInterval)
	return kr.cur.Load().active
}

// verificationKey finds the key for kid. An unknown kid may be a key made
// by another process since we last looked; it triggers a reload, at most
// one per ReloadMinInterval whatever the number of such tokens.
func (kr *Keyring) verificationKey(kid []byte, now time.Time) (*key, *Error) {
	k := kr.cur.Load().byKid[string(kid)]
	if k == nil {
		kr.maybeReload(ReloadMinInterval)
		k = kr.cur.Load().byKid[string(kid)]
	}
	if k == nil {
		return nil, errUnknownKid
	}
	if !k.verifies(now) {
		return nil, errKeyRetired
	}
	return k, nil
}

// stillVerifies is the cheap check a cached token needs: its key is still
// in our view and in grace.
func (kr *Keyring) stillVerifies(kid string, now time.Time) bool {
	k := kr.cur.Load().byKid[kid]
	return k != nil && k.verifies(now)
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is the JSON Web Key Set (RFC 7517) of the public keys that verify
// tokens now: the active key and retired keys in grace, newest first.
func (kr *Keyring) JWKS() []byte {
	kr.maybeReload(RefreshInterval)
	ks, now := kr.cur.Load(), kr.now()
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(ks.keys))}
	for _, k := range ks.keys {
		if k.verifies(now) {
			set.Keys = append(set.Keys, jwk{
				Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.pub),
				Kid: k.kid, Alg: "EdDSA", Use: "sig",
			})
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err) // strings only: cannot happen
	}
	return b
}
