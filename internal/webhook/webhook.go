// Package webhook signs and verifies HTTP deliveries per the Standard
// Webhooks specification (version 1.0.0): the headers webhook-id,
// webhook-timestamp and webhook-signature, where the signature covers
// "{id}.{timestamp}.{body}".
//
// Two schemes are supported, chosen by the secret's prefix as the
// specification recommends:
//
//   - "whsec_" + base64 key (24 to 64 bytes): HMAC-SHA256, signature "v1,<base64>";
//   - "whsk_" + base64 Ed25519 seed (32 bytes) to sign, "whpk_" + base64
//     Ed25519 public key (32 bytes) to verify: signature "v1a,<base64>".
//
// A secret without a prefix is read as an HMAC key, as the reference
// libraries do.
package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// Header names. http.Header canonicalises them; the specification writes
// them in lower case.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Prefixes of serialised secrets and keys.
const (
	PrefixSecret     = "whsec_"
	PrefixSigningKey = "whsk_"
	PrefixPublicKey  = "whpk_"
)

// Signature version identifiers.
const (
	versionHMAC    = "v1"
	versionEd25519 = "v1a"
)

// Limits from the specification: HMAC secrets are 24 to 64 bytes
// (192 to 512 bits).
const (
	minHMACKey = 24
	maxHMACKey = 64
)

// MaxIDLen bounds webhook-id. The specification sets no limit; receivers
// keep ids for deduplication, so an unbounded id is a memory hazard.
const MaxIDLen = 256

// Errors. Verify returns exactly one of the verification errors, so callers
// can map them to responses with errors.Is.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadID          = errors.New("webhook: malformed webhook-id")
	ErrBadTimestamp   = errors.New("webhook: malformed webhook-timestamp")
	ErrTooOld         = errors.New("webhook: timestamp too old")
	ErrTooNew         = errors.New("webhook: timestamp too far in the future")
	ErrNoMatch        = errors.New("webhook: no valid signature")

	ErrNoSecret  = errors.New("webhook: no secret given")
	ErrBadSecret = errors.New("webhook: malformed secret")
)

// b64 is strict so that one signature has exactly one encoding: a verifier
// that ignored the padding bits would accept a changed signature string.
var b64 = base64.StdEncoding.Strict()

// hmacKey is a shared HMAC secret. Hash states are pooled: hmac.New
// allocates and hashes the key each time, and deliveries sign constantly.
type hmacKey struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	sum []byte
}

func newHMACKey(key []byte) *hmacKey {
	key = append([]byte(nil), key...)
	k := &hmacKey{}
	k.pool.New = func() any {
		h := hmac.New(sha256.New, key)
		return &macState{h: h, sum: make([]byte, 0, h.Size())}
	}
	return k
}

// mac computes the HMAC of "{id}.{ts}.{body}" into dst.
func (k *hmacKey) mac(dst []byte, id string, ts []byte, body []byte) []byte {
	st := k.pool.Get().(*macState)
	st.h.Reset()
	// hmac has no WriteString: the id goes in through the pooled buffer
	// rather than a fresh []byte conversion.
	st.sum = append(st.sum[:0], id...)
	st.h.Write(st.sum)
	st.h.Write(dot)
	st.h.Write(ts)
	st.h.Write(dot)
	st.h.Write(body)
	st.sum = st.h.Sum(st.sum[:0])
	dst = append(dst, st.sum...)
	k.pool.Put(st)
	return dst
}

var dot = []byte{'.'}

// signedContent returns "{id}.{ts}.{body}" for Ed25519, which needs the
// message whole.
func signedContent(id string, ts []byte, body []byte) []byte {
	msg := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = append(msg, ts...)
	msg = append(msg, '.')
	return append(msg, body...)
}

// decodeKey strips prefix from s and decodes the base64 rest. Errors never
// quote the secret.
func decodeKey(s, prefix string) ([]byte, error) {
	raw, err := b64.DecodeString(strings.TrimPrefix(s, prefix))
	if err != nil {
		// Secrets copied from elsewhere are sometimes unpadded.
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimPrefix(s, prefix))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not base64 after %q", ErrBadSecret, prefix)
	}
	return raw, nil
}

func decodeHMAC(s string) ([]byte, error) {
	key, err := decodeKey(s, PrefixSecret)
	if err != nil {
		return nil, err
	}
	if len(key) < minHMACKey || len(key) > maxHMACKey {
		return nil, fmt.Errorf("%w: HMAC key is %d bytes, want %d to %d", ErrBadSecret, len(key), minHMACKey, maxHMACKey)
	}
	return key, nil
}

func decodeSeed(s string) (ed25519.PrivateKey, error) {
	seed, err := decodeKey(s, PrefixSigningKey)
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: Ed25519 signing key is %d bytes, want %d", ErrBadSecret, len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func decodePublic(s string) (ed25519.PublicKey, error) {
	pub, err := decodeKey(s, PrefixPublicKey)
	if err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: Ed25519 public key is %d bytes, want %d", ErrBadSecret, len(pub), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(pub), nil
}

// NewSecret returns a fresh HMAC secret in "whsec_" form (32 random bytes).
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key) // never fails: crypto/rand crashes the program instead
	return PrefixSecret + b64.EncodeToString(key)
}

// NewKeyPair returns a fresh Ed25519 signing key ("whsk_") for the sender
// and its public key ("whpk_") for the receiver.
func NewKeyPair() (signingKey, publicKey string) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(err)
	}
	return PrefixSigningKey + b64.EncodeToString(priv.Seed()), PrefixPublicKey + b64.EncodeToString(pub)
}

// PublicKey returns the "whpk_" public key of a "whsk_" signing key, to hand
// to a receiver.
func PublicKey(signingKey string) (string, error) {
	priv, err := decodeSeed(strings.TrimSpace(signingKey))
	if err != nil {
		return "", err
	}
	return PrefixPublicKey + b64.EncodeToString(priv.Public().(ed25519.PublicKey)), nil
}
