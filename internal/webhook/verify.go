package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"net/http"
	"strings"
	"time"
)

// DefaultTolerance is how far webhook-timestamp may be from the receiver's
// clock, either way, as the specification's libraries use.
const DefaultTolerance = 5 * time.Minute

// maxSignatures bounds the webhook-signature entries examined. Rotation
// needs two or three; the bound stops a header of thousands of entries
// from costing thousands of Ed25519 verifications.
const maxSignatures = 16

// maxTimestampDigits allows any time until the year 33658 and keeps the
// value far from int64 overflow.
const maxTimestampDigits = 12

// Verifier checks deliveries against a set of trusted keys. It is safe for
// concurrent use.
type Verifier struct {
	hmacs     []*hmacKey
	pubs      []ed25519.PublicKey
	tolerance time.Duration
}

// NewVerifier returns a Verifier that accepts a delivery signed by any of
// secrets: "whsec_…" (or bare base64) HMAC secrets, "whpk_…" Ed25519 public
// keys, or "whsk_…" signing keys (their public half is used). Several
// secrets allow rotation without downtime.
func NewVerifier(secrets ...string) (*Verifier, error) {
	v := &Verifier{tolerance: DefaultTolerance}
	for _, sec := range secrets {
		sec = strings.TrimSpace(sec)
		switch {
		case sec == "":
			return nil, ErrNoSecret
		case strings.HasPrefix(sec, PrefixPublicKey):
			pub, err := decodePublic(sec)
			if err != nil {
				return nil, err
			}
			v.pubs = append(v.pubs, pub)
		case strings.HasPrefix(sec, PrefixSigningKey):
			priv, err := decodeSeed(sec)
			if err != nil {
				return nil, err
			}
			v.pubs = append(v.pubs, priv.Public().(ed25519.PublicKey))
		default:
			key, err := decodeHMAC(sec)
			if err != nil {
				return nil, err
			}
			v.hmacs = append(v.hmacs, newHMACKey(key))
		}
	}
	if len(v.hmacs)+len(v.pubs) == 0 {
		return nil, ErrNoSecret
	}
	return v, nil
}

// WithTolerance returns a copy of v that allows timestamps d away from now.
// d <= 0 keeps DefaultTolerance: there is deliberately no way to switch
// the replay check off.
func (v *Verifier) WithTolerance(d time.Duration) *Verifier {
	c := *v
	if d > 0 {
		c.tolerance = d
	}
	return &c
}

// Verify checks the Standard Webhooks headers in h against body, the raw
// request body as received. It returns nil when webhook-timestamp is within
// the tolerance of now and at least one signature in webhook-signature is
// valid for a trusted key; otherwise one of ErrMissingHeaders, ErrBadID,
// ErrBadTimestamp, ErrTooOld, ErrTooNew or ErrNoMatch.
//
// Entries of unknown versions are skipped, as the specification requires
// for forward compatibility; only the first 16 entries are examined.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) error {
	id := h.Get(HeaderID)
	ts := h.Get(HeaderTimestamp)
	sigs := h.Values(HeaderSignature)
	if id == "" || ts == "" || len(sigs) == 0 {
		return ErrMissingHeaders
	}
	if !validID(id) {
		return ErrBadID
	}
	sec, ok := parseTimestamp(ts)
	if !ok {
		return ErrBadTimestamp
	}
	// The timestamp is checked before the signature, as the reference
	// libraries do: a stale delivery costs no cryptography.
	t := time.Unix(sec, 0)
	if now.Sub(t) > v.tolerance {
		return ErrTooOld
	}
	if t.Sub(now) > v.tolerance {
		return ErrTooNew
	}

	var tsBuf [maxTimestampDigits]byte
	tsb := append(tsBuf[:0], ts...)
	var macBuf [4][32]byte
	var macs [][32]byte // one per HMAC key, computed on the first v1 entry
	var msg []byte      // the signed content, built on the first v1a entry
	n := 0
	for _, line := range sigs {
		for entry := range strings.FieldsSeq(line) {
			if n++; n > maxSignatures {
				return ErrNoMatch
			}
			version, enc, ok := strings.Cut(entry, ",")
			if !ok {
				continue
			}
			switch version {
			case versionHMAC:
				if len(v.hmacs) == 0 {
					continue
				}
				var raw [32]byte
				if !decodeExact(raw[:], enc) {
					continue
				}
				if macs == nil {
					macs = macBuf[:0]
					for _, k := range v.hmacs {
						var m [32]byte
						k.mac(m[:0], id, tsb, body)
						macs = append(macs, m)
					}
				}
				for i := range macs {
					if hmac.Equal(raw[:], macs[i][:]) {
						return nil
					}
				}
			case versionEd25519:
				if len(v.pubs) == 0 {
					continue
				}
				var raw [ed25519.SignatureSize]byte
				if !decodeExact(raw[:], enc) {
					continue
				}
				if msg == nil {
					msg = signedContent(id, tsb, body)
				}
				for _, pub := range v.pubs {
					if ed25519.Verify(pub, msg, raw[:]) {
						return nil
					}
				}
			}
		}
	}
	return ErrNoMatch
}

// decodeExact decodes enc into dst and reports whether it was exactly
// len(dst) bytes in canonical, padded base64.
func decodeExact(dst []byte, enc string) bool {
	if len(enc) != b64.EncodedLen(len(dst)) {
		return false
	}
	var buf [ed25519.SignatureSize + 2]byte // DecodedLen of the largest signature
	n, err := b64.Decode(buf[:], []byte(enc))
	if err != nil || n != len(dst) {
		return false
	}
	copy(dst, buf[:n])
	return true
}

// validID accepts printable ASCII without '.': a '.' would let the id and
// the timestamp be split another way over the same signed content, which
// the specification warns against.
func validID(id string) bool {
	if len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e || c == '.' {
			return false
		}
	}
	return true
}

// parseTimestamp accepts only the canonical decimal form the signer writes:
// digits, no sign, no leading zero. The signature covers the header text,
// so any other spelling is not what a conforming sender signed.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxTimestampDigits || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
