package httpapi_test

// The bad-token suite (issue 7, "Tokens"): crafted Authorization headers
// sent to the real router, over real SQLite and a real key directory, on
// both authenticated APIs: POST /v1/reports (installation tokens) and
// GET /v1/hotline/reports (hotline tokens). Every one must be refused with
// 401 and the same body, byte for byte, whatever was wrong: an answer that
// told an expired token from a forged one would help only an attacker.
//
// The key directory is seeded with a key whose private half the test holds,
// so forged tokens carry a real signature where that matters and fail only
// because of what their case changes. The controls prove it: the builder's
// unchanged token is accepted, on both APIs, before and after the attacks.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reportit/reportit/internal/httpapi"
	"github.com/reportit/reportit/internal/token"
)

// attackEnv is the router of newEnv, built on a seeded key directory.
type attackEnv struct {
	*env
	priv ed25519.PrivateKey // the active key's private half
	kid  string
	pull pullClient // a hotline client of the pull API
}

// seedKeyDir writes priv into dir in the keyring's on-disk format (PKCS#8
// PEM and metadata, named by the RFC 7638 thumbprint) and returns its kid.
func seedKeyDir(t testing.TB, dir string, priv ed25519.PrivateKey, created time.Time) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kid := thumbprint(priv.Public().(ed25519.PublicKey))
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(map[string]any{"kid": kid, "alg": "EdDSA", "created": created.UTC()})
	if err := os.WriteFile(filepath.Join(dir, kid+".pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, kid+".json"), meta, 0o600); err != nil {
		t.Fatal(err)
	}
	return kid
}

func thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newAttackEnv(t testing.TB) *attackEnv {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const never = "1000000000-H" // limits never in the way, even of fuzzing
	e := newEnv(t, options{tokens: never, reports: never, global: never, seedKey: priv})
	kid := thumbprint(priv.Public().(ed25519.PublicKey))
	if e.keys.ActiveKID() != kid {
		t.Fatalf("active kid %s, want the seeded %s", e.keys.ActiveKID(), kid)
	}
	return &attackEnv{env: e, priv: priv, kid: kid, pull: e.hotlineClient("de-eco-beschwerdestelle")}
}

// profile is one authenticated API and the token kind it takes.
type profile struct {
	name  string
	kind  token.Kind
	other token.Kind
	sub   string // a subject the API accepts
	ok    int    // status of an authenticated request
}

func (a *attackEnv) profiles() []profile {
	return []profile{
		// Installation ids are random; any well-formed subject will do.
		{name: "reports", kind: token.Installation, other: token.Hotline, sub: "aW5zdGFsbGF0aW9uLWlk", ok: http.StatusAccepted},
		// The pull API also looks the client up: the subject must be a real one.
		{name: "hotline", kind: token.Hotline, other: token.Installation, sub: a.pull.id, ok: http.StatusOK},
	}
}

// send makes a request to p's API with the given Authorization header
// values (none, one, or several header lines).
func (a *attackEnv) send(p profile, auth []string) resp {
	a.t.Helper()
	var hr *http.Request
	if p.kind == token.Installation {
		hr = httptest.NewRequest("POST", "/v1/reports", strings.NewReader(goodBody))
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Idempotency-Key", newKey())
	} else {
		hr = httptest.NewRequest("GET", "/v1/hotline/reports?limit=1", nil)
	}
	hr.RemoteAddr = "192.0.2.10:4321"
	for _, v := range auth {
		hr.Header.Add("Authorization", v)
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, hr)
	return resp{rec.Code, rec.Header(), rec.Body.Bytes()}
}

var jtiCounter atomic.Int64

func b64u(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// header and claims are what the issuer writes, as raw JSON so that cases
// can reorder, duplicate or drop members.
func (a *attackEnv) header(p profile) string {
	return fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":%q}`, a.kid, p.kind.Type())
}

func (a *attackEnv) claims(p profile) string {
	now := a.now().Unix()
	return claimsJSON(p.sub, p.kind.Audience(), now, now+900)
}

func claimsJSON(sub, aud string, iat, exp int64) string {
	return fmt.Sprintf(`{"iss":"reportit","sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j%d"}`, sub, aud, exp, iat, jtiCounter.Add(1))
}

// edSign is a compact JWS of raw header and claims JSON, signed with priv.
func edSign(header, claims string, priv ed25519.PrivateKey) string {
	in := b64u(header) + "." + b64u(claims)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

// jwsSign signs with any golang-jwt method (HS*, RS*, PS*, ES*).
func jwsSign(t testing.TB, m jwt.SigningMethod, header, claims string, key any) string {
	t.Helper()
	in := b64u(header) + "." + b64u(claims)
	sig, err := m.Sign(in, key)
	if err != nil {
		t.Fatalf("%s: %v", m.Alg(), err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// good is the builder's token for p: accepted, as the controls check.
func (a *attackEnv) good(p profile) string { return edSign(a.header(p), a.claims(p), a.priv) }

// withHeader and withClaims sign a changed header or claims set with the
// real key: a correct signature over the wrong content.
func (a *attackEnv) withHeader(p profile, format string, args ...any) string {
	return edSign(fmt.Sprintf(format, args...), a.claims(p), a.priv)
}

func (a *attackEnv) withClaims(p profile, format string, args ...any) string {
	return edSign(a.header(p), fmt.Sprintf(format, args...), a.priv)
}

type attack struct {
	name string
	auth func(p profile) []string // Authorization header values; nil sends none
}

func bearer(tok string) []string { return []string{"Bearer " + tok} }

func (a *attackEnv) attacks(t *testing.T, issued map[token.Kind]string) []attack {
	pub := a.priv.Public().(ed25519.PublicKey)
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	// The JWK exactly as the service publishes it, and the whole set.
	jwksDoc := a.do(req{method: "GET", path: "/.well-known/jwks.json"}).body
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwksDoc, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", jwksDoc, err)
	}
	pubJWK := []byte(set.Keys[0])
	if !bytes.Contains(pubJWK, []byte(base64.RawURLEncoding.EncodeToString(pub))) {
		t.Fatalf("published JWK %s is not the seeded key", pubJWK)
	}

	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	attackerKid := thumbprint(attacker.Public().(ed25519.PublicKey))
	attackerJWK := fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":%q}`, base64.RawURLEncoding.EncodeToString(attacker.Public().(ed25519.PublicKey)))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKeys := map[string]*ecdsa.PrivateKey{}
	for name, c := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		if ecKeys[name], err = ecdsa.GenerateKey(c, rand.Reader); err != nil {
			t.Fatal(err)
		}
	}

	withAlg := func(p profile, alg string) string {
		return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q}`, alg, a.kid, p.kind.Type())
	}
	// unsecured is an alg "none" JWS: no signature at all.
	unsecured := func(alg string) func(p profile) []string {
		return func(p profile) []string { return bearer(b64u(withAlg(p, alg)) + "." + b64u(a.claims(p)) + ".") }
	}
	// noneSigned carries a real Ed25519 signature under alg none: a
	// verifier that skips the check for none would accept it.
	noneSigned := func(alg string) func(p profile) []string {
		return func(p profile) []string { return bearer(edSign(withAlg(p, alg), a.claims(p), a.priv)) }
	}
	// hmac is the algorithm confusion attack: an HMAC keyed with what the
	// service publishes.
	hmac := func(m jwt.SigningMethod, secret []byte) func(p profile) []string {
		return func(p profile) []string { return bearer(jwsSign(t, m, withAlg(p, m.Alg()), a.claims(p), secret)) }
	}
	other := func(m jwt.SigningMethod, key any) func(p profile) []string {
		return func(p profile) []string { return bearer(jwsSign(t, m, withAlg(p, m.Alg()), a.claims(p), key)) }
	}
	edAlg := func(alg string) func(p profile) []string {
		return func(p profile) []string {
			return bearer(a.withHeader(p, `{"alg":%q,"kid":%q,"typ":%q}`, alg, a.kid, p.kind.Type()))
		}
	}
	claimsAt := func(iatOff, expOff int64) func(p profile) []string {
		return func(p profile) []string {
			now := a.now().Unix()
			return bearer(a.withClaims(p, "%s", claimsJSON(p.sub, p.kind.Audience(), now+iatOff, now+expOff)))
		}
	}
	hdr := func(format string) func(p profile) []string {
		// format gets kid and typ, in that order.
		return func(p profile) []string { return bearer(a.withHeader(p, format, a.kid, p.kind.Type())) }
	}
	cl := func(format string) func(p profile) []string {
		// format gets sub, aud, exp, iat, in that order.
		return func(p profile) []string {
			now := a.now().Unix()
			return bearer(a.withClaims(p, format, p.sub, p.kind.Audience(), now+900, now))
		}
	}
	segments := func(f func(h, c, s string) string) func(p profile) []string {
		return func(p profile) []string {
			parts := strings.Split(a.good(p), ".")
			return bearer(f(parts[0], parts[1], parts[2]))
		}
	}
	kidHeader := func(kid string) func(p profile) []string {
		return func(p profile) []string {
			return bearer(a.withHeader(p, `{"alg":"EdDSA","kid":%q,"typ":%q}`, kid, p.kind.Type()))
		}
	}
	typHeader := func(typ string) func(p profile) []string {
		return func(p profile) []string {
			return bearer(a.withHeader(p, `{"alg":"EdDSA","kid":%q,"typ":%q}`, a.kid, typ))
		}
	}
	auth := func(values ...func(p profile) string) func(p profile) []string {
		return func(p profile) []string {
			out := make([]string, len(values))
			for i, v := range values {
				out[i] = v(p)
			}
			return out
		}
	}
	goodBearer := func(p profile) string { return "Bearer " + a.good(p) }
	lit := func(s string) func(profile) string { return func(profile) string { return s } }

	return []attack{
		// alg "none", in every case, with and without a signature.
		{"alg none, empty signature", unsecured("none")},
		{"alg None, empty signature", unsecured("None")},
		{"alg NONE, empty signature", unsecured("NONE")},
		{"alg nOnE, empty signature", unsecured("nOnE")},
		{"alg none with a real signature", noneSigned("none")},
		{"alg None with a real signature", noneSigned("None")},
		{"alg NONE with a real signature", noneSigned("NONE")},
		{"alg nOnE with a real signature", noneSigned("nOnE")},

		// HMAC keyed with the published public key, in each form.
		{"HS256 keyed with the raw public key", hmac(jwt.SigningMethodHS256, pub)},
		{"HS384 keyed with the raw public key", hmac(jwt.SigningMethodHS384, pub)},
		{"HS512 keyed with the raw public key", hmac(jwt.SigningMethodHS512, pub)},
		{"HS256 keyed with the public key PEM", hmac(jwt.SigningMethodHS256, pubPEM)},
		{"HS384 keyed with the public key PEM", hmac(jwt.SigningMethodHS384, pubPEM)},
		{"HS512 keyed with the public key PEM", hmac(jwt.SigningMethodHS512, pubPEM)},
		{"HS256 keyed with the public key DER", hmac(jwt.SigningMethodHS256, spki)},
		{"HS256 keyed with the published JWK", hmac(jwt.SigningMethodHS256, pubJWK)},
		{"HS384 keyed with the published JWK", hmac(jwt.SigningMethodHS384, pubJWK)},
		{"HS512 keyed with the published JWK", hmac(jwt.SigningMethodHS512, pubJWK)},
		{"HS256 keyed with the JWK x member", hmac(jwt.SigningMethodHS256, []byte(base64.RawURLEncoding.EncodeToString(pub)))},
		{"HS256 keyed with the whole JWKS document", hmac(jwt.SigningMethodHS256, jwksDoc)},

		// Other algorithms, really signed by a key of their kind.
		{"RS256", other(jwt.SigningMethodRS256, rsaKey)},
		{"RS512", other(jwt.SigningMethodRS512, rsaKey)},
		{"PS256", other(jwt.SigningMethodPS256, rsaKey)},
		{"ES256", other(jwt.SigningMethodES256, ecKeys["ES256"])},
		{"ES384", other(jwt.SigningMethodES384, ecKeys["ES384"])},
		{"ES512", other(jwt.SigningMethodES512, ecKeys["ES512"])},
		// Other names for our own algorithm, with a real Ed25519 signature:
		// only the exact registered name is ours.
		{"alg Ed25519 (RFC 9864 name), real signature", edAlg("Ed25519")},
		{"alg eddsa, real signature", edAlg("eddsa")},
		{"alg EDDSA, real signature", edAlg("EDDSA")},
		{"alg EdDSA with a trailing space, real signature", edAlg("EdDSA ")},
		{"alg missing", hdr(`{"kid":%q,"typ":%q}`)},
		{"alg null", hdr(`{"alg":null,"kid":%q,"typ":%q}`)},
		{"alg an array", hdr(`{"alg":["EdDSA"],"kid":%q,"typ":%q}`)},

		// Time claims.
		{"exp missing", cl(`{"iss":"reportit","sub":%q,"aud":%q,"iat":%[4]d,"jti":"j"}`)},
		{"exp expired an hour ago", claimsAt(-7200, -3600)},
		{"exp just past the 30 s leeway", claimsAt(-900, -31)},
		{"exp a string", cl(`{"iss":"reportit","sub":%q,"aud":%q,"exp":"%d","iat":%d,"jti":"j"}`)},
		{"exp fractional", cl(`{"iss":"reportit","sub":%q,"aud":%q,"exp":%d.5,"iat":%d,"jti":"j"}`)},
		{"exp far future, lifetime over 24h", claimsAt(0, 25*3600)},
		{"nbf far in the future (13 digits)", cl(`{"iss":"reportit","sub":%q,"aud":%q,"exp":%d,"nbf":%[4]d000,"iat":%[4]d,"jti":"j"}`)},
		{"nbf two minutes ahead", func(p profile) []string {
			now := a.now().Unix()
			return bearer(a.withClaims(p, `{"iss":"reportit","sub":%q,"aud":%q,"exp":%d,"nbf":%d,"iat":%d,"jti":"j"}`, p.sub, p.kind.Audience(), now+900, now+120, now))
		}},
		{"iat two minutes ahead", claimsAt(120, 900)},
		{"iat missing", cl(`{"iss":"reportit","sub":%q,"aud":%q,"exp":%[3]d,"jti":"j"}`)},

		// Audience, issuer, subject.
		{"aud missing", cl(`{"iss":"reportit","sub":%q,"exp":%[3]d,"iat":%[4]d,"jti":"j"}`)},
		{"aud wrong", cl(`{"iss":"reportit","sub":%q,"aud":"reportit%.0s","exp":%d,"iat":%d,"jti":"j"}`)},
		{"aud of the other API", func(p profile) []string {
			now := a.now().Unix()
			return bearer(a.withClaims(p, "%s", claimsJSON(p.sub, p.other.Audience(), now, now+900)))
		}},
		{"aud lists both APIs", func(p profile) []string {
			now := a.now().Unix()
			return bearer(a.withClaims(p, `{"iss":"reportit","sub":%q,"aud":[%q,%q],"exp":%d,"iat":%d,"jti":"j"}`, p.sub, p.kind.Audience(), p.other.Audience(), now+900, now))
		}},
		{"iss missing", cl(`{"sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j"}`)},
		{"iss wrong", cl(`{"iss":"reportit.evil","sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j"}`)},
		{"iss differs in case", cl(`{"iss":"Reportit","sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j"}`)},
		{"sub missing", cl(`{"iss":"reportit"%.0s,"aud":%q,"exp":%d,"iat":%d,"jti":"j"}`)},
		{"sub empty", cl(`{"iss":"reportit","sub":"%.0s","aud":%q,"exp":%d,"iat":%d,"jti":"j"}`)},
		{"extra claim", cl(`{"iss":"reportit","sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j","scope":"admin"}`)},

		// typ (RFC 8725 §3.11): each kind has its own.
		{"typ missing", hdr(`{"alg":"EdDSA","kid":%q%.0s}`)},
		{"typ JWT", typHeader("JWT")},
		{"typ at+jwt (RFC 9068)", typHeader("at+jwt")},
		{"typ application/at+jwt", typHeader("application/at+jwt")},
		{"typ of the other kind, own audience", func(p profile) []string { return typHeader(p.other.Type())(p) }},
		{"typ in upper case", func(p profile) []string { return typHeader(strings.ToUpper(p.kind.Type()))(p) }},

		// One kind of token used as the other.
		{"token issued for the other API", func(p profile) []string { return bearer(issued[p.other]) }},
		{"forged token of the other kind, real key", func(p profile) []string {
			now := a.now().Unix()
			return bearer(edSign(fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":%q}`, a.kid, p.other.Type()), claimsJSON(p.sub, p.other.Audience(), now, now+900), a.priv))
		}},

		// kid.
		{"kid unknown, signed by its own key", func(p profile) []string {
			return bearer(edSign(fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":%q}`, attackerKid, p.kind.Type()), a.claims(p), attacker))
		}},
		{"kid ours, signed by another key", func(p profile) []string { return bearer(edSign(a.header(p), a.claims(p), attacker)) }},
		{"kid ../../etc/passwd", kidHeader("../../etc/passwd")},
		{"kid path at the length of a real kid", kidHeader("../../../../../../../../../../../etc/passwd")},
		{"kid absolute path", kidHeader("/dev/zero")},
		{"kid with an escaped NUL", func(p profile) []string {
			return bearer(a.withHeader(p, `{"alg":"EdDSA","kid":"%s\u0000","typ":%q}`, a.kid[:42], p.kind.Type()))
		}},
		{"kid 10 KB", kidHeader(strings.Repeat("k", 10<<10))},
		{"kid empty", kidHeader("")},
		{"kid missing", hdr(`{"alg":"EdDSA"%.0s,"typ":%q}`)},
		{"kid a number", hdr(`{"alg":"EdDSA","kid":1%.0s,"typ":%q}`)},

		// Header parameters that name another key, or change processing:
		// refused even with a real signature.
		{"jku, real signature", hdr(`{"alg":"EdDSA","jku":"https://evil.example/jwks.json","kid":%q,"typ":%q}`)},
		{"x5u, real signature", hdr(`{"alg":"EdDSA","kid":%q,"typ":%q,"x5u":"https://evil.example/cert.pem"}`)},
		{"jwk of our key, real signature", func(p profile) []string {
			return bearer(a.withHeader(p, `{"alg":"EdDSA","jwk":%s,"kid":%q,"typ":%q}`, pubJWK, a.kid, p.kind.Type()))
		}},
		{"jwk embedded, signed by it", func(p profile) []string {
			return bearer(edSign(fmt.Sprintf(`{"alg":"EdDSA","jwk":%s,"kid":%q,"typ":%q}`, attackerJWK, attackerKid, p.kind.Type()), a.claims(p), attacker))
		}},
		{"x5c, real signature", hdr(`{"alg":"EdDSA","kid":%q,"typ":%q,"x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}`)},
		{"x5t#S256, real signature", hdr(`{"alg":"EdDSA","kid":%q,"typ":%q,"x5t#S256":"AAAA"}`)},
		{"crit unknown extension, real signature", hdr(`{"alg":"EdDSA","crit":["urn:example:unknown"],"kid":%q,"typ":%q,"urn:example:unknown":true}`)},
		{"crit naming exp, real signature", hdr(`{"alg":"EdDSA","crit":["exp"],"kid":%q,"typ":%q}`)},
		{"b64 false (RFC 7797), real signature", hdr(`{"alg":"EdDSA","b64":false,"crit":["b64"],"kid":%q,"typ":%q}`)},
		{"cty JWT (nested), real signature", hdr(`{"alg":"EdDSA","cty":"JWT","kid":%q,"typ":%q}`)},
		{"zip DEF, real signature", hdr(`{"alg":"EdDSA","kid":%q,"typ":%q,"zip":"DEF"}`)},

		// Duplicate and look-alike names, which encoding/json would resolve
		// (last wins, case-insensitive, escapes decoded).
		{"two alg, none then EdDSA", hdr(`{"alg":"none","alg":"EdDSA","kid":%q,"typ":%q}`)},
		{"two alg, both EdDSA", hdr(`{"alg":"EdDSA","alg":"EdDSA","kid":%q,"typ":%q}`)},
		{"two alg, EdDSA then HS256", hdr(`{"alg":"EdDSA","kid":%q,"typ":%q,"alg":"HS256"}`)},
		{"two kid", func(p profile) []string {
			return bearer(a.withHeader(p, `{"alg":"EdDSA","kid":%q,"kid":%q,"typ":%q}`, attackerKid, a.kid, p.kind.Type()))
		}},
		{"two typ", func(p profile) []string {
			return bearer(a.withHeader(p, `{"alg":"EdDSA","kid":%q,"typ":%q,"typ":%q}`, a.kid, p.other.Type(), p.kind.Type()))
		}},
		{"ALG next to alg", hdr(`{"ALG":"none","alg":"EdDSA","kid":%q,"typ":%q}`)},
		{"alg name escaped", hdr(`{"\u0061lg":"EdDSA","kid":%q,"typ":%q}`)},
		{"two exp, far future first", cl(`{"iss":"reportit","sub":%q,"aud":%q,"exp":99999999999,"exp":%d,"iat":%d,"jti":"j"}`)},
		{"two exp, far future last", cl(`{"iss":"reportit","sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j","exp":99999999999}`)},
		{"two sub", cl(`{"iss":"reportit","sub":"victim","sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j"}`)},
		{"two aud", func(p profile) []string {
			now := a.now().Unix()
			return bearer(a.withClaims(p, `{"iss":"reportit","sub":%q,"aud":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j"}`, p.sub, p.other.Audience(), p.kind.Audience(), now+900, now))
		}},
		{"two iss", cl(`{"iss":"evil","iss":"reportit","sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"j"}`)},

		// base64url: only the canonical, unpadded, URL-safe form.
		{"padded header", segments(func(h, c, s string) string { return h + "=." + c + "." + s })},
		{"every segment padded", func(p profile) []string {
			pad := func(s string) string { return s + strings.Repeat("=", (4-len(s)%4)%4) }
			parts := strings.Split(a.good(p), ".")
			return bearer(pad(parts[0]) + "." + pad(parts[1]) + "." + pad(parts[2]))
		}},
		{"standard alphabet, signed as sent", func(p profile) []string { return bearer(stdAlphabetToken(t, a, p)) }},
		{"standard alphabet character in the signature", segments(func(h, c, s string) string { return h + "." + c + ".+" + s[1:] })},
		{"space inside the payload", segments(func(h, c, s string) string { return h + "." + c[:10] + " " + c[10:] + "." + s })},
		{"newline inside the payload", segments(func(h, c, s string) string { return h + "." + c[:10] + "\n" + c[10:] + "." + s })},
		{"tab inside the header", segments(func(h, c, s string) string { return h[:5] + "\t" + h[5:] + "." + c + "." + s })},
		{"non-canonical last character", segments(func(h, c, s string) string { return h + "." + c + "." + flipSpareBits(t, s) })},
		{"invalid character", segments(func(h, c, s string) string { return h + "." + c + "!." + s })},
		{"header not base64 at all", segments(func(h, c, s string) string { return "%7B%7D." + c + "." + s })},

		// Segments.
		{"two segments", segments(func(h, c, s string) string { return h + "." + c })},
		{"four segments", segments(func(h, c, s string) string { return h + "." + c + "." + s + "." + s })},
		{"five segments (JWE shape)", segments(func(h, c, s string) string { return h + ".." + c + "." + s + "." + s })},
		{"empty header segment", segments(func(h, c, s string) string { return "." + c + "." + s })},
		{"empty payload segment", segments(func(h, c, s string) string { return h + ".." + s })},
		{"empty signature segment", segments(func(h, c, s string) string { return h + "." + c + "." })},
		{"only dots", func(profile) []string { return bearer("..") }},
		{"one segment", segments(func(h, c, s string) string { return h })},

		// Signatures.
		{"payload changed after signing", segments(func(h, c, s string) string {
			pb, _ := base64.RawURLEncoding.DecodeString(c)
			return h + "." + b64u(strings.Replace(string(pb), `"jti":"j`, `"jti":"k`, 1)) + "." + s
		})},
		{"signature truncated", segments(func(h, c, s string) string { return h + "." + c + "." + s[:len(s)-2] })},
		{"signature of another token", func(p profile) []string {
			parts := strings.Split(a.good(p), ".")
			return bearer(parts[0] + "." + parts[1] + "." + strings.Split(a.good(p), ".")[2])
		}},

		// Size: refused before anything is parsed (see
		// TestHugeBearerRefusedBeforeParsing for the cost).
		{"1 MiB bearer", func(profile) []string { return bearer(strings.Repeat("A", 1<<20)) }},
		{"valid token padded past MaxTokenLen", func(p profile) []string {
			return bearer(a.good(p) + strings.Repeat("A", token.MaxTokenLen))
		}},

		// The Authorization header itself.
		{"no Authorization header", func(profile) []string { return nil }},
		{"empty Authorization header", auth(lit(""))},
		{"missing scheme", func(p profile) []string { return []string{a.good(p)} }},
		{"scheme only", auth(lit("Bearer"))},
		{"scheme and spaces only", auth(lit("Bearer    "))},
		{"Basic credentials", auth(lit("Basic " + base64.StdEncoding.EncodeToString([]byte("hc_x:hcs_y"))))},
		{"Basic scheme with a valid token", func(p profile) []string { return []string{"Basic " + a.good(p)} }},
		{"Token scheme with a valid token", func(p profile) []string { return []string{"Token " + a.good(p)} }},
		{"DPoP scheme with a valid token", func(p profile) []string { return []string{"DPoP " + a.good(p)} }},
		{"tab after Bearer", func(p profile) []string { return []string{"Bearer\t" + a.good(p)} }},
		{"Bearer= with a valid token", func(p profile) []string { return []string{"Bearer=" + a.good(p)} }},
		{"lower-case bearer with a forged token", func(p profile) []string {
			return []string{"bearer " + edSign(a.header(p), a.claims(p), attacker)}
		}},
		{"lower-case bearer with an expired token", func(p profile) []string {
			now := a.now().Unix()
			return []string{"bearer " + a.withClaims(p, "%s", claimsJSON(p.sub, p.kind.Audience(), now-7200, now-3600))}
		}},
		{"two tokens in one header", func(p profile) []string { return []string{"Bearer " + a.good(p) + ", Bearer " + a.good(p)} }},
		{"two Authorization headers, valid first", auth(goodBearer, lit("Bearer not-a-token"))},
		{"two Authorization headers, valid last", auth(lit("Bearer not-a-token"), goodBearer)},
		{"two Authorization headers, both valid", auth(goodBearer, goodBearer)},
		{"two Authorization headers, Basic and valid Bearer", auth(lit("Basic dXNlcjpwYXNz"), goodBearer)},
	}
}

// stdAlphabetToken is a token whose segments use the standard base64
// alphabet, signed over exactly what is sent: a lax decoder would accept it
// with a valid signature.
func stdAlphabetToken(t *testing.T, a *attackEnv, p profile) string {
	enc := base64.RawStdEncoding
	for range 1000 {
		h, c := a.header(p), a.claims(p) // a new jti each time
		in := enc.EncodeToString([]byte(h)) + "." + enc.EncodeToString([]byte(c))
		tok := in + "." + enc.EncodeToString(ed25519.Sign(a.priv, []byte(in)))
		if strings.ContainsAny(tok, "+/") {
			return tok
		}
	}
	t.Fatal("no token with a + or / found")
	return ""
}

// flipSpareBits changes only the unused low bits of the last character:
// the same bytes to a lax decoder.
func flipSpareBits(t *testing.T, seg string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := seg[:len(seg)-1] + string(alphabet[strings.IndexByte(alphabet, seg[len(seg)-1])^1])
	x, err1 := base64.RawURLEncoding.DecodeString(seg)
	y, err2 := base64.RawURLEncoding.DecodeString(out)
	if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
		t.Fatalf("flipSpareBits changed the bytes of %q", seg)
	}
	return out
}

// refusals collects 401 answers and checks they are all one body.
type refusals struct {
	body  []byte
	first string
	n     int
}

// verdict says what is wrong with r as a refusal, or nil.
func (rs *refusals) verdict(name string, r resp) error {
	if r.code != http.StatusUnauthorized {
		return fmt.Errorf("status %d, want 401; body %s", r.code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("content type %q", ct)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(r.body, &p); err != nil || p.Type != httpapi.ProblemTypePrefix+"unauthorized" || p.Status != 401 || p.Title == "" {
		return fmt.Errorf("not the unauthorized problem: %s", r.body)
	}
	if wa := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, `Bearer realm="reportit"`) {
		return fmt.Errorf("WWW-Authenticate %q", wa)
	}
	if cc := r.header.Get("Cache-Control"); cc != "" {
		return fmt.Errorf("refusal with Cache-Control %q", cc)
	}
	rs.n++
	if rs.body == nil {
		rs.body, rs.first = r.body, name
		return nil
	}
	if !bytes.Equal(r.body, rs.body) {
		return fmt.Errorf("401 body differs from that of %q:\n%s\n%s", rs.first, r.body, rs.body)
	}
	return nil
}

func (rs *refusals) check(t *testing.T, name string, r resp) {
	t.Helper()
	if err := rs.verdict(name, r); err != nil {
		t.Error(err)
	}
}

func (a *attackEnv) wantAccepted(t *testing.T, p profile, what string, auth []string) {
	t.Helper()
	if r := a.send(p, auth); r.code != p.ok {
		t.Fatalf("control %s on %s: %d %s", what, p.name, r.code, r.body)
	}
}

func TestTokenAttacks(t *testing.T) {
	a := newAttackEnv(t)
	issued := map[token.Kind]string{token.Installation: a.installation(), token.Hotline: a.pull.token()}
	cases := a.attacks(t, issued)
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}

	controls := func() {
		t.Helper()
		for _, p := range a.profiles() {
			a.wantAccepted(t, p, "builder's token", bearer(a.good(p)))
			a.wantAccepted(t, p, "issued token", bearer(issued[p.kind]))
			// RFC 9110 §11.1: the scheme is case-insensitive.
			a.wantAccepted(t, p, "lower-case scheme", []string{"bearer " + a.good(p)})
			a.wantAccepted(t, p, "upper-case scheme", []string{"BEARER " + a.good(p)})
		}
	}
	controls()

	var rs refusals
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case %q", c.name)
		}
		seen[c.name] = true
		for _, p := range a.profiles() {
			t.Run(c.name+"/"+p.name, func(t *testing.T) {
				rs.check(t, c.name+"/"+p.name, a.send(p, c.auth(p)))
			})
		}
	}
	// Nothing the attacks did (cache, reloads for unknown kids) changed what
	// a good token gets.
	controls()

	// A key retired by rotation verifies during its grace period, and not
	// after, even for a token that is otherwise perfect: a leaked old key
	// is worthless once the grace is over.
	t.Run("retired key", func(t *testing.T) {
		if _, err := a.keys.Rotate(); err != nil {
			t.Fatal(err)
		}
		a.clock.Add(time.Hour)
		for _, p := range a.profiles() {
			a.wantAccepted(t, p, "old key within grace", bearer(a.good(p)))
		}
		a.clock.Add(token.RetiredGrace)
		for _, p := range a.profiles() {
			t.Run(p.name, func(t *testing.T) {
				rs.check(t, "retired key past grace/"+p.name, a.send(p, bearer(a.good(p))))
			})
		}
		// The new key's tokens work.
		a.wantAccepted(t, a.profiles()[0], "new key", bearer(a.installation()))
		a.wantAccepted(t, a.profiles()[1], "new key", bearer(a.pull.token()))
	})
	t.Logf("%d cases, %d refusals on 2 APIs, one body: %s", len(cases)+1, rs.n, rs.body)
}

// TestRefusalCheckCanFail makes sure the suite can fail: the check every
// case goes through complains about an accepted request, and about a 401
// whose body differs from the others.
func TestRefusalCheckCanFail(t *testing.T) {
	a := newAttackEnv(t)
	p := a.profiles()[0]
	r := a.send(p, bearer(a.good(p)))
	if r.code != p.ok {
		t.Fatalf("builder's token refused: %d %s", r.code, r.body)
	}
	var rs refusals
	if err := rs.verdict("control", r); err == nil {
		t.Fatal("the refusal check passed an accepted request")
	}
	refused := a.send(p, bearer("x"))
	if err := rs.verdict("x", refused); err != nil {
		t.Fatal(err)
	}
	refused.body = bytes.Replace(refused.body, []byte("token"), []byte("TOKEN"), 1)
	if err := rs.verdict("changed", refused); err == nil {
		t.Fatal("the refusal check passed a different 401 body")
	}
}

// discardWriter is a ResponseWriter that keeps only the status, so that
// measuring a request measures the router, not a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) reset()                      { clear(w.h); w.code = 0 }

// TestHugeBearerRefusedBeforeParsing: a 1 MiB bearer value costs the
// router no more than a one-byte one. The token package refuses anything
// over MaxTokenLen before decoding it, and nothing on the way there copies
// the value.
func TestHugeBearerRefusedBeforeParsing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation measurement")
	}
	a := newAttackEnv(t)
	huge := strings.Repeat("A", 1<<20)
	hugeDots := strings.Repeat("eyJhbGciOiJFZERTQSJ9.", (1<<20)/21)

	// The verifier itself: refused for its length, without an allocation.
	ver, err := token.NewVerifier(a.keys, "reportit", a.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{huge, hugeDots} {
		_, err := ver.Verify(token.Installation, raw)
		var te *token.Error
		if !errors.As(err, &te) || te.Reason != "longer than MaxTokenLen" {
			t.Fatalf("1 MiB token refused with %v, want the length check", err)
		}
		if n := testing.AllocsPerRun(100, func() { ver.Verify(token.Installation, raw) }); n != 0 {
			t.Errorf("Verify of a 1 MiB token: %v allocations, want 0", n)
		}
	}

	// Through the router and the middleware.
	measure := func(auth string) (allocs float64, bytesPerOp uint64) {
		r := httptest.NewRequest("POST", "/v1/reports", http.NoBody)
		r.RemoteAddr = "192.0.2.10:4321"
		r.Header.Set("Authorization", auth)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", "k")
		w := &discardWriter{h: http.Header{}}
		run := func() {
			w.reset()
			a.handler.ServeHTTP(w, r)
			if w.code != http.StatusUnauthorized {
				t.Fatalf("status %d", w.code)
			}
		}
		run() // warm pools
		allocs = testing.AllocsPerRun(200, run)
		const n = 200
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			run()
		}
		runtime.ReadMemStats(&after)
		return allocs, (after.TotalAlloc - before.TotalAlloc) / n
	}
	baseAllocs, baseBytes := measure("Bearer x")
	for name, auth := range map[string]string{"1 MiB of A": "Bearer " + huge, "1 MiB of dotted base64url": "Bearer " + hugeDots} {
		allocs, b := measure(auth)
		t.Logf("%s: %.0f allocs, %d B per request (one-byte bearer: %.0f allocs, %d B)", name, allocs, b, baseAllocs, baseBytes)
		// A small constant: whatever the router spends on any refusal,
		// and nothing that grows with the value.
		if allocs > baseAllocs+2 || allocs > 40 {
			t.Errorf("%s: %.0f allocations per request, one-byte bearer %.0f", name, allocs, baseAllocs)
		}
		if b > baseBytes+4<<10 {
			t.Errorf("%s: %d bytes allocated per request, one-byte bearer %d: the value is copied or decoded", name, b, baseBytes)
		}
	}
}

// BenchmarkHugeBearer: go test -run '^$' -bench HugeBearer -benchmem ./internal/httpapi
func BenchmarkHugeBearer(b *testing.B) {
	a := newAttackEnv(b)
	for _, tc := range []struct{ name, auth string }{
		{"1B", "Bearer x"},
		{"1MiB", "Bearer " + strings.Repeat("A", 1<<20)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("POST", "/v1/reports", http.NoBody)
			r.RemoteAddr = "192.0.2.10:4321"
			r.Header.Set("Authorization", tc.auth)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				a.handler.ServeHTTP(w, r)
			}
			if w.code != http.StatusUnauthorized {
				b.Fatalf("status %d", w.code)
			}
		})
	}
}
