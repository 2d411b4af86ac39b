// Package token issues and verifies the short-lived signed tokens of
// reportit: anonymous installation tokens for the browser extension and
// tokens for the hotline API. Tokens are JWS compact JWTs signed with
// Ed25519 (alg EdDSA) and nothing else; keys live in a directory managed by
// a Keyring and are rotated with Rotate.
//
// Verification is deliberately narrower than JWT allows: the verifier
// accepts exactly the shape the issuer produces (three header parameters,
// a fixed set of claims, integer times, ASCII strings without escapes, no
// duplicate names) and refuses everything else before any signature work.
package token

import (
	"errors"
	"time"
)

const (
	// MaxTokenLen bounds a token before anything is parsed. Our tokens are
	// about 410 bytes; the bound leaves room for a long issuer name.
	MaxTokenLen = 2048

	// MaxTTL is the longest lifetime an Issuer may give a token; the verifier
	// refuses tokens whose exp-iat exceeds it.
	MaxTTL = 24 * time.Hour

	// Leeway is the clock skew tolerated on exp, iat and nbf.
	Leeway = 30 * time.Second

	// RefreshInterval is how often issuing (and JWKS) re-reads the key
	// directory, so that a rotation done by another process is picked up
	// without a restart.
	RefreshInterval = time.Minute

	// ReloadMinInterval rate-limits the re-read triggered by a token with an
	// unknown kid: anyone can send one, and we will not touch the disk for
	// each of them.
	ReloadMinInterval = 5 * time.Second

	// RetiredGrace is how long a retired key still verifies tokens. A key
	// retired at R may still be signing in a server that has not refreshed
	// yet (until R+RefreshInterval); such a token lives at most MaxTTL and is
	// accepted Leeway past its exp.
	RetiredGrace = MaxTTL + RefreshInterval + Leeway

	// DefaultCacheSize is the number of verified tokens a Verifier keeps.
	DefaultCacheSize = 8192
)

// Kind is what a token is for. Each kind has its own typ header and
// audience, so a token of one kind is never accepted as another.
type Kind uint8

// Kinds of token. The zero Kind is invalid.
const (
	Installation Kind = iota + 1 // a browser extension installation
	Hotline                      // a hotline calling the hotline API
)

// Type is the JWS "typ" header of tokens of this kind (RFC 8725 §3.11).
func (k Kind) Type() string {
	switch k {
	case Installation:
		return "reportit-installation+jwt"
	case Hotline:
		return "reportit-hotline+jwt"
	}
	return ""
}

// Audience is the "aud" claim of tokens of this kind.
func (k Kind) Audience() string {
	switch k {
	case Installation:
		return "reportit-api"
	case Hotline:
		return "reportit-hotline-api"
	}
	return ""
}

func (k Kind) String() string {
	switch k {
	case Installation:
		return "installation"
	case Hotline:
		return "hotline"
	}
	return "invalid"
}

func (k Kind) valid() bool { return k == Installation || k == Hotline }

// Claims is what a verified token says.
type Claims struct {
	Subject   string // installation id, or hotline id
	ID        string // jti, unique per token
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Errors of Verify. Every refusal matches ErrInvalid; an expired but
// otherwise good token also matches ErrExpired, for logs and metrics only:
// callers should answer both the same way.
var (
	ErrInvalid = errors.New("token: invalid")
	ErrExpired = errors.New("token: expired")
)

// Error is a refused token. Reason is safe to log: it never contains any
// part of the token.
type Error struct {
	Reason  string
	expired bool
}

func (e *Error) Error() string { return "token: invalid: " + e.Reason }

// Is makes every *Error match ErrInvalid, and expired ones ErrExpired.
func (e *Error) Is(target error) bool {
	return target == ErrInvalid || (e.expired && target == ErrExpired)
}

// The reasons for refusal. They are preallocated so that refusing costs no
// allocation, whatever the input.
var (
	errTooLong        = &Error{Reason: "longer than MaxTokenLen"}
	errEmpty          = &Error{Reason: "empty"}
	errKind           = &Error{Reason: "unknown kind"}
	errSegments       = &Error{Reason: "not three segments"}
	errBase64         = &Error{Reason: "bad base64url"}
	errJSON           = &Error{Reason: "malformed JSON"}
	errEscape         = &Error{Reason: "escape sequence in JSON string"}
	errNonASCII       = &Error{Reason: "non-printable or non-ASCII byte in JSON string"}
	errNumber         = &Error{Reason: "number is not a small non-negative integer"}
	errValueType      = &Error{Reason: "value of unexpected JSON type"}
	errUnknownMember  = &Error{Reason: "header parameter or claim not allowed"}
	errDuplicate      = &Error{Reason: "duplicate header parameter or claim"}
	errMissing        = &Error{Reason: "required header parameter or claim missing"}
	errAlg            = &Error{Reason: "alg is not EdDSA"}
	errTyp            = &Error{Reason: "typ does not match the kind"}
	errKid            = &Error{Reason: "malformed kid"}
	errUnknownKid     = &Error{Reason: "unknown kid"}
	errKeyRetired     = &Error{Reason: "key retired past its grace period"}
	errAudShape       = &Error{Reason: "aud must name exactly one audience"}
	errLifetime       = &Error{Reason: "exp not after iat, or lifetime over MaxTTL"}
	errSignature      = &Error{Reason: "bad signature"}
	errIssuer         = &Error{Reason: "wrong issuer"}
	errAudience       = &Error{Reason: "wrong audience"}
	errIssuedInFuture = &Error{Reason: "iat in the future"}
	errNotYetValid    = &Error{Reason: "nbf in the future"}
	errExpired        = &Error{Reason: "expired", expired: true}
	errMalformed      = &Error{Reason: "malformed token"}
	errRefused        = &Error{Reason: "refused by the JWT parser"}
)
