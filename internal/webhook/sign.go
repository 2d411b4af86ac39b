package webhook

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signer signs deliveries with one or more keys. It is safe for concurrent use.
type Signer struct {
	keys []signingKey
}

// signingKey is one of hmac or ed.
type signingKey struct {
	hmac *hmacKey
	ed   ed25519.PrivateKey
}

// NewSigner returns a Signer for secret: "whsec_…" (or bare base64) for
// HMAC-SHA256, "whsk_…" for Ed25519. Further secrets add their signatures to
// the same header, for zero-downtime rotation: sign with the new and the old
// key until every receiver has the new one.
func NewSigner(secret string, more ...string) (*Signer, error) {
	all := append([]string{secret}, more...)
	s := &Signer{keys: make([]signingKey, 0, len(all))}
	for _, sec := range all {
		sec = strings.TrimSpace(sec)
		if sec == "" {
			return nil, ErrNoSecret
		}
		if strings.HasPrefix(sec, PrefixSigningKey) {
			priv, err := decodeSeed(sec)
			if err != nil {
				return nil, err
			}
			s.keys = append(s.keys, signingKey{ed: priv})
			continue
		}
		if strings.HasPrefix(sec, PrefixPublicKey) {
			return nil, errPublicKeyToSign
		}
		key, err := decodeHMAC(sec)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, signingKey{hmac: newHMACKey(key)})
	}
	return s, nil
}

var errPublicKeyToSign = fmt.Errorf("%w: a whpk_ public key cannot sign; use the whsk_ signing key", ErrBadSecret)

// Sign returns the webhook-signature header value for a delivery: one
// "v1,…" or "v1a,…" entry per key, space-separated. ts is sent in whole
// seconds. The id should be a unique, printable ASCII string without '.'
// of at most MaxIDLen bytes, or this package's Verifier rejects it.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	var tsBuf [20]byte
	t := strconv.AppendInt(tsBuf[:0], ts.Unix(), 10)
	out := make([]byte, 0, len(s.keys)*(len(versionEd25519)+1+88+1))
	var msg []byte // Ed25519 signs the whole message; build it at most once
	for i, k := range s.keys {
		if i > 0 {
			out = append(out, ' ')
		}
		if k.hmac != nil {
			var sum [32]byte
			out = append(out, versionHMAC+","...)
			out = b64.AppendEncode(out, k.hmac.mac(sum[:0], id, t, body))
			continue
		}
		if msg == nil {
			msg = signedContent(id, t, body)
		}
		out = append(out, versionEd25519+","...)
		out = b64.AppendEncode(out, ed25519.Sign(k.ed, msg))
	}
	return string(out)
}

// SetHeaders sets the three Standard Webhooks headers on h for a delivery.
func (s *Signer) SetHeaders(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, body))
}
