package token

import "time"

// Installations is the installation-token service the HTTP API needs
// (httpapi.Tokens): issue for a new installation, renew, check, and publish
// the key set.
type Installations struct {
	issuer   *Issuer
	verifier *Verifier
}

// NewInstallations combines an Issuer and a Verifier, which should share
// their Keyring and issuer name.
func NewInstallations(i *Issuer, v *Verifier) *Installations {
	return &Installations{issuer: i, verifier: v}
}

// NewInstallation issues a token for a new, random installation id.
func (s *Installations) NewInstallation() (token string, expires time.Time, err error) {
	return s.issuer.Issue(Installation, NewInstallationID())
}

// Renew verifies raw and issues a fresh token for the same installation.
// An expired token is not renewed: the extension then starts over as a new
// installation, which costs it nothing.
func (s *Installations) Renew(raw string) (token string, expires time.Time, err error) {
	c, err := s.verifier.Verify(Installation, raw)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.issuer.Issue(Installation, c.Subject)
}

// Check returns the installation id of a valid installation token.
func (s *Installations) Check(raw string) (installation string, err error) {
	c, err := s.verifier.Verify(Installation, raw)
	if err != nil {
		return "", err
	}
	return c.Subject, nil
}

// JWKS is the public key set.
func (s *Installations) JWKS() []byte { return s.issuer.kr.JWKS() }
