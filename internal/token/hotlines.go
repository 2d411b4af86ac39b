package token

import "time"

// Hotlines is the hotline-client token service the pull API needs: a
// hotline's system exchanges its client credentials for a short-lived
// token of kind Hotline, which can never pass as an installation token.
type Hotlines struct {
	issuer   *Issuer
	verifier *Verifier
}

// NewHotlines combines an Issuer (with the hotline token lifetime) and a
// Verifier sharing its Keyring.
func NewHotlines(i *Issuer, v *Verifier) *Hotlines { return &Hotlines{issuer: i, verifier: v} }

// Issue gives the hotline client clientID a token.
func (h *Hotlines) Issue(clientID string) (token string, expires time.Time, err error) {
	return h.issuer.Issue(Hotline, clientID)
}

// Check returns the client id of a valid hotline token.
func (h *Hotlines) Check(raw string) (clientID string, err error) {
	c, err := h.verifier.Verify(Hotline, raw)
	if err != nil {
		return "", err
	}
	return c.Subject, nil
}
