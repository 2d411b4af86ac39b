package token

// The key directory. Each key is two files named by its kid:
//
//	<kid>.pem   PKCS#8 "PRIVATE KEY", mode 0600
//	<kid>.json  {"kid":..., "alg":"EdDSA", "created":..., "retired":...}
//
// The metadata file is what makes a key exist: it is written after the PEM
// when a key is created and removed before it when a key is deleted, so a
// reader never sees metadata without its key. Every file is written to a
// temporary name and renamed, so a reader sees either the old or the new
// content. Names starting with "." (temporaries, the lock) are not keys.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type key struct {
	kid     string
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	created time.Time
	retired time.Time // zero while active
}

// verifies reports whether k may still verify tokens at now.
func (k *key) verifies(now time.Time) bool {
	return k.retired.IsZero() || now.Before(k.retired.Add(RetiredGrace))
}

type keyMeta struct {
	Kid     string     `json:"kid"`
	Alg     string     `json:"alg"`
	Created time.Time  `json:"created"`
	Retired *time.Time `json:"retired,omitempty"`
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key: the
// SHA-256 of the required members crv, kty, x in lexicographic order with no
// whitespace (RFC 8037 §2), base64url without padding.
func thumbprint(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newKey(priv ed25519.PrivateKey, created time.Time) *key {
	pub := priv.Public().(ed25519.PublicKey)
	return &key{kid: thumbprint(pub), priv: priv, pub: pub, created: created.UTC()}
}

// writeKey stores a new key: the PEM first, then the metadata.
func writeKey(dir string, k *key) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("token: encode key: %w", err)
	}
	if err := writeFileAtomic(dir, k.kid+".pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return err
	}
	return writeMeta(dir, k)
}

func writeMeta(dir string, k *key) error {
	m := keyMeta{Kid: k.kid, Alg: "EdDSA", Created: k.created}
	if !k.retired.IsZero() {
		r := k.retired.UTC()
		m.Retired = &r
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("token: encode key metadata: %w", err)
	}
	return writeFileAtomic(dir, k.kid+".json", append(b, '\n'))
}

// deleteKey removes a key: metadata first, so it stops existing at once.
func deleteKey(dir, kid string) error {
	for _, name := range []string{kid + ".json", kid + ".pem"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("token: delete key: %w", err)
		}
	}
	return nil
}

// writeFileAtomic writes data to dir/name with mode 0600 (os.CreateTemp's
// mode) through a synced temporary file and a rename.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("token: write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("token: write %s: %w", name, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("token: sync key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("token: sync key directory: %w", err)
	}
	return nil
}

// keySet is one consistent view of the key directory. It is never changed
// after it is built; a reload builds a new one.
type keySet struct {
	byKid  map[string]*key
	keys   []*key // newest first
	active *key   // newest unretired key; nil if there is none
}

// loadKeys reads every key in dir. A key that disappears while being read
// (deleted by a concurrent Rotate) is skipped; anything else that is wrong
// fails the whole load, so that a half-broken directory is noticed rather
// than silently served from.
func loadKeys(dir string) (*keySet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("token: read key directory: %w", err)
	}
	ks := &keySet{byKid: make(map[string]*key)}
	for _, e := range entries {
		kid, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validKid(kid) {
			continue
		}
		k, err := loadKey(dir, kid)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ks.byKid[kid] = k
		ks.keys = append(ks.keys, k)
	}
	slices.SortFunc(ks.keys, func(a, b *key) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return strings.Compare(b.kid, a.kid)
	})
	for _, k := range ks.keys {
		if k.retired.IsZero() {
			ks.active = k
			break
		}
	}
	return ks, nil
}

func loadKey(dir, kid string) (*key, error) {
	mb, err := os.ReadFile(filepath.Join(dir, kid+".json"))
	if err != nil {
		return nil, err
	}
	var m keyMeta
	dec := json.NewDecoder(bytes.NewReader(mb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("token: key %s: metadata: %w", kid, err)
	}
	if m.Kid != kid || m.Alg != "EdDSA" || m.Created.IsZero() {
		return nil, fmt.Errorf("token: key %s: metadata does not match its file name or is incomplete", kid)
	}

	path := filepath.Join(dir, kid+".pem")
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("token: key %s: not a regular file", kid)
	}
	// Like ssh: a private key others can read is not trusted to be private.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("token: key %s: mode %v gives access to group or others; chmod 600 it", kid, fi.Mode().Perm())
	}
	pb, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(pb)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("token: key %s: not a single PEM PRIVATE KEY block", kid)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("token: key %s: %w", kid, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token: key %s: not an Ed25519 key", kid)
	}
	k := newKey(priv, m.Created)
	if k.kid != kid {
		return nil, fmt.Errorf("token: key %s: file name is not the key's thumbprint", kid)
	}
	if m.Retired != nil {
		k.retired = m.Retired.UTC()
	}
	return k, nil
}
