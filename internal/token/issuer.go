package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer signs tokens with the active key of a Keyring.
type Issuer struct {
	kr     *Keyring
	issuer string
	ttl    time.Duration
	now    func() time.Time
	rand   io.Reader // jti source; tests make it deterministic
}

// NewIssuer makes an Issuer whose tokens carry iss=issuer and live ttl
// (whole seconds, at most MaxTTL). now is the clock (nil: time.Now).
func NewIssuer(kr *Keyring, issuer string, ttl time.Duration, now func() time.Time) (*Issuer, error) {
	if kr == nil {
		return nil, errors.New("token: nil keyring")
	}
	if !validClaimString(issuer) {
		return nil, errors.New("token: issuer must be 1-256 printable ASCII characters other than \" \\ < > &")
	}
	if ttl < time.Second || ttl > MaxTTL {
		return nil, fmt.Errorf("token: ttl %v outside 1s..%v", ttl, MaxTTL)
	}
	if now == nil {
		now = time.Now
	}
	return &Issuer{kr: kr, issuer: issuer, ttl: ttl.Truncate(time.Second), now: now, rand: rand.Reader}, nil
}

// validClaimString is what we put in iss and sub: printable ASCII that
// encoding/json writes verbatim (no escapes, which the verifier refuses).
func validClaimString(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// wireClaims is the claims set as we write it. It has integer times and a
// single-string aud whatever golang-jwt's package settings (TimePrecision,
// MarshalSingleStringAsArray) are.
type wireClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat"`
	Jti string `json:"jti"`
}

// The jwt.Claims methods: required by jwt.NewWithClaims, used for
// validation only when parsing, which we do into jwt.RegisteredClaims.
func (c wireClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return &jwt.NumericDate{Time: time.Unix(c.Exp, 0)}, nil
}
func (c wireClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return &jwt.NumericDate{Time: time.Unix(c.Iat, 0)}, nil
}
func (c wireClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c wireClaims) GetIssuer() (string, error)              { return c.Iss, nil }
func (c wireClaims) GetSubject() (string, error)             { return c.Sub, nil }
func (c wireClaims) GetAudience() (jwt.ClaimStrings, error)  { return jwt.ClaimStrings{c.Aud}, nil }

// Issue signs a token of kind for subject. expires is its exp.
func (i *Issuer) Issue(kind Kind, subject string) (token string, expires time.Time, err error) {
	if !kind.valid() {
		return "", time.Time{}, errors.New("token: unknown kind")
	}
	if !validClaimString(subject) {
		return "", time.Time{}, errors.New("token: subject must be 1-256 printable ASCII characters other than \" \\ < > &")
	}
	jti, err := randomID(i.rand)
	if err != nil {
		return "", time.Time{}, err
	}
	k := i.kr.signingKey()
	iat := i.now().Unix()
	exp := iat + int64(i.ttl/time.Second)
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, wireClaims{
		Iss: i.issuer, Sub: subject, Aud: kind.Audience(), Exp: exp, Iat: iat, Jti: jti,
	})
	t.Header["typ"] = kind.Type()
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.priv)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: sign: %w", err)
	}
	if len(s) > MaxTokenLen { // only with an absurd issuer and subject
		return "", time.Time{}, errors.New("token: token would exceed MaxTokenLen")
	}
	return s, time.Unix(exp, 0), nil
}

// NewInstallationID returns a fresh random installation id: 128 bits,
// base64url. It identifies nothing but the installation it is given to.
func NewInstallationID() string {
	id, err := randomID(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand.Reader does not fail (Go 1.24+)
	}
	return id
}

func randomID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("token: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
