package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sigLen is the length of a base64url Ed25519 signature (64 bytes).
const sigLen = 86

// Verifier checks tokens signed by the keys of a Keyring. It is safe for
// concurrent use.
type Verifier struct {
	kr      *Keyring
	now     func() time.Time
	b64     *base64.Encoding
	parsers [Hotline + 1]*jwt.Parser // by Kind
	cache   *cache                   // nil when disabled
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier)

// WithCacheSize sets how many verified tokens are kept (default
// DefaultCacheSize); 0 turns the cache off.
func WithCacheSize(n int) VerifierOption {
	return func(v *Verifier) {
		v.cache = nil
		if n > 0 {
			v.cache = newCache(n)
		}
	}
}

// NewVerifier makes a Verifier that accepts tokens with iss=issuer. now is
// the clock (nil: time.Now).
func NewVerifier(kr *Keyring, issuer string, now func() time.Time, opts ...VerifierOption) (*Verifier, error) {
	if kr == nil {
		return nil, errors.New("token: nil keyring")
	}
	if !validClaimString(issuer) {
		return nil, errors.New("token: issuer must be 1-256 printable ASCII characters other than \" \\ < > &")
	}
	if now == nil {
		now = time.Now
	}
	v := &Verifier{kr: kr, now: now, b64: base64.RawURLEncoding.Strict(), cache: newCache(DefaultCacheSize)}
	for _, o := range opts {
		o(v)
	}
	for _, k := range []Kind{Installation, Hotline} {
		v.parsers[k] = jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(k.Audience()),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(now),
			// Canonical base64 only: otherwise the spare bits of the last
			// character give several strings for one token.
			jwt.WithStrictDecoding(),
		)
	}
	return v, nil
}

// Verify checks raw as a token of kind and returns its claims. Every
// refusal is an *Error matching ErrInvalid.
func (v *Verifier) Verify(kind Kind, raw string) (Claims, error) {
	// First, before looking at the content: an oversized value costs us
	// nothing.
	if len(raw) > MaxTokenLen {
		return Claims{}, errTooLong
	}
	if !kind.valid() {
		return Claims{}, errKind
	}
	now := v.now()
	if v.cache != nil {
		if e, ok := v.cache.get(raw); ok && e.kind == kind && now.Before(e.until) && v.kr.stillVerifies(e.kid, now) {
			return e.claims, nil
		}
	}
	c, k, err := v.verify(kind, raw, now)
	if err != nil {
		return Claims{}, err
	}
	if v.cache != nil {
		// Never serve from the cache past exp (the leeway is for clocks,
		// not for the cache), nor past the key's grace.
		until := c.ExpiresAt
		if !k.retired.IsZero() {
			if end := k.retired.Add(RetiredGrace); end.Before(until) {
				until = end
			}
		}
		if now.Before(until) {
			v.cache.put(raw, cacheEntry{kind: kind, kid: k.kid, claims: c, until: until}, now)
		}
	}
	return c, nil
}

// verify is the full check, cheapest first: shape, header (so that alg
// attacks are reported as such), claims shape, key; then golang-jwt for the
// signature and the claim values.
func (v *Verifier) verify(kind Kind, raw string, now time.Time) (Claims, *key, *Error) {
	if raw == "" {
		return Claims{}, nil, errEmpty
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig, '.') >= 0 || h == "" || p == "" {
		return Claims{}, nil, errSegments
	}
	hb, err := v.b64.DecodeString(h)
	if err != nil {
		return Claims{}, nil, errBase64
	}
	kid, e := checkHeader(hb, kind)
	if e != nil {
		return Claims{}, nil, e
	}
	var sb [ed25519.SignatureSize]byte
	if len(sig) != sigLen {
		return Claims{}, nil, errSignature
	}
	if _, err := v.b64.Decode(sb[:], []byte(sig)); err != nil {
		return Claims{}, nil, errBase64
	}
	pb, err := v.b64.DecodeString(p)
	if err != nil {
		return Claims{}, nil, errBase64
	}
	if e := checkClaims(pb); e != nil {
		return Claims{}, nil, e
	}
	k, e := v.kr.verificationKey(kid, now)
	if e != nil {
		return Claims{}, nil, e
	}

	var rc jwt.RegisteredClaims
	_, err = v.parsers[kind].ParseWithClaims(raw, &rc, func(t *jwt.Token) (any, error) {
		// Already checked above; checked again on what golang-jwt decoded,
		// so that the two readings cannot differ.
		if t.Method != jwt.SigningMethodEdDSA {
			return nil, errAlg
		}
		if kid, _ := t.Header["kid"].(string); kid != k.kid {
			return nil, errKid
		}
		if typ, _ := t.Header["typ"].(string); typ != kind.Type() {
			return nil, errTyp
		}
		return k.pub, nil
	})
	if err != nil {
		return Claims{}, nil, jwtError(err)
	}
	if rc.ExpiresAt == nil || rc.IssuedAt == nil { // checkClaims required both
		return Claims{}, nil, errMissing
	}
	return Claims{Subject: rc.Subject, ID: rc.ID, IssuedAt: rc.IssuedAt.Time, ExpiresAt: rc.ExpiresAt.Time}, k, nil
}

// jwtError maps a golang-jwt refusal to ours. golang-jwt reports all claim
// failures at once; expiry comes last so a token that is both expired and
// wrong is logged as wrong.
func jwtError(err error) *Error {
	var own *Error
	if errors.As(err, &own) { // from our key func
		return own
	}
	for _, m := range []struct {
		jwt  error
		ours *Error
	}{
		{jwt.ErrTokenSignatureInvalid, errSignature},
		{jwt.ErrTokenMalformed, errMalformed},
		{jwt.ErrTokenInvalidIssuer, errIssuer},
		{jwt.ErrTokenInvalidAudience, errAudience},
		{jwt.ErrTokenRequiredClaimMissing, errMissing},
		{jwt.ErrTokenUsedBeforeIssued, errIssuedInFuture},
		{jwt.ErrTokenNotValidYet, errNotYetValid},
		{jwt.ErrTokenExpired, errExpired},
	} {
		if errors.Is(err, m.jwt) {
			return m.ours
		}
	}
	return errRefused
}
