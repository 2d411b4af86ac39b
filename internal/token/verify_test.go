package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestBuilderMakesValidTokens guards the table below: a hand-built token
// with the good header and claims is accepted, so each bad case fails
// because of what it changes.
func TestBuilderMakesValidTokens(t *testing.T) {
	e := newEnv(t)
	k := e.active()
	for _, tok := range []string{
		signed(header(k.kid, Installation), claims(t0), k.priv),
		// aud as a one-element array, nbf, and JSON whitespace are fine.
		signed(header(k.kid, Installation), fmt.Sprintf(`{"iss":%q,"sub":"s","aud":["reportit-api"],"exp":%d,"nbf":%d,"iat":%d,"jti":"j"}`, testIssuer, t0.Unix()+60, t0.Unix(), t0.Unix()), k.priv),
		signed(" {\n\"alg\" : \"EdDSA\",\t\"kid\":\""+k.kid+"\",\"typ\":\"reportit-installation+jwt\"}\r\n", claims(t0), k.priv),
		// iat and nbf in the future within the leeway.
		signed(header(k.kid, Installation), fmt.Sprintf(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":%d,"nbf":%d,"iat":%d,"jti":"j"}`, testIssuer, t0.Unix()+3600, t0.Unix()+20, t0.Unix()+20), k.priv),
	} {
		if _, err := e.cold.Verify(Installation, tok); err != nil {
			t.Errorf("%s: %v", tok, err)
		}
	}
}

type badCase struct {
	name string
	kind Kind // Installation if zero
	tok  string
	want *Error
}

func badTokens(t *testing.T, e *env) []badCase {
	k := e.active()
	kid := k.kid
	good := signed(header(kid, Installation), claims(t0), k.priv)
	hGood, pGood, sGood := splitTok(good)
	now := t0.Unix()
	hdr := func(h string) string { return signed(h, claims(t0), k.priv) }
	pay := func(p string) string { return signed(header(kid, Installation), p, k.priv) }
	cl := func(format string, args ...any) string { return pay(fmt.Sprintf(format, args...)) }
	randomSig := make([]byte, 64)
	rand.Read(randomSig)
	unsigned := func(h string) string {
		return b64(h) + "." + pGood + "." + base64.RawURLEncoding.EncodeToString(randomSig)
	}

	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	attackerKid := thumbprint(attacker.Public().(ed25519.PublicKey))
	attackerJWK := fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":%q}`, base64.RawURLEncoding.EncodeToString(attacker.Public().(ed25519.PublicKey)))

	// HS256 keyed with the public key, the classic algorithm confusion.
	hs256 := func(secret []byte) string {
		in := b64(`{"alg":"HS256","kid":"`+kid+`","typ":"reportit-installation+jwt"}`) + "." + pGood
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(k.pub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es256 := func() string {
		in := b64(`{"alg":"ES256","kid":"`+kid+`","typ":"reportit-installation+jwt"}`) + "." + pGood
		h := sha256.Sum256([]byte(in))
		r, s, _ := ecdsa.Sign(rand.Reader, ecKey, h[:])
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}()

	// A signature whose S is replaced by S+L: the same signature to a lax
	// verifier, a different token string.
	malleable := func() string {
		sig, _ := base64.RawURLEncoding.DecodeString(sGood)
		le := func(b []byte) *big.Int {
			r := make([]byte, len(b))
			for i := range b {
				r[len(b)-1-i] = b[i]
			}
			return new(big.Int).SetBytes(r)
		}
		l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
		s := new(big.Int).Add(le(sig[32:]), l)
		be := s.FillBytes(make([]byte, 32))
		for i := range 32 {
			sig[32+i] = be[31-i]
		}
		return hGood + "." + pGood + "." + base64.RawURLEncoding.EncodeToString(sig)
	}()

	hotlineTok := e.issue(t, Hotline, "hotline-1")

	cases := []badCase{
		// Size and shape.
		{name: "empty", tok: "", want: errEmpty},
		{name: "one byte over MaxTokenLen", tok: strings.Repeat("a", MaxTokenLen+1), want: errTooLong},
		{name: "1 MiB", tok: strings.Repeat("a", 1<<20), want: errTooLong},
		{name: "valid token padded over MaxTokenLen", tok: good + "." + strings.Repeat("A", MaxTokenLen), want: errTooLong},
		{name: "two segments", tok: hGood + "." + pGood, want: errSegments},
		{name: "four segments", tok: good + ".AAAA", want: errSegments},
		{name: "empty payload segment", tok: hGood + ".." + sGood, want: errSegments},
		{name: "empty header segment", tok: "." + pGood + "." + sGood, want: errSegments},
		{name: "empty signature", tok: hGood + "." + pGood + ".", want: errSignature},
		{name: "truncated signature", tok: good[:len(good)-1], want: errSignature},
		{name: "signature with a newline", tok: good + "\n", want: errSignature},
		{name: "Bearer prefix kept", tok: "Bearer " + good, want: errBase64},
		{name: "leading space", tok: " " + good, want: errBase64},
		{name: "standard base64 alphabet in header", tok: "+" + good[1:], want: errBase64},
		{name: "padded header", tok: hGood + "=." + pGood + "." + sGood, want: errBase64},
		{name: "non-canonical header base64", tok: nonCanonical(t, hGood) + "." + pGood + "." + sGood, want: errBase64},
		{name: "non-canonical payload base64", tok: hGood + "." + nonCanonical(t, pGood) + "." + sGood, want: errBase64},
		{name: "non-canonical signature base64", tok: hGood + "." + pGood + "." + nonCanonical(t, sGood), want: errBase64},

		// Header JSON.
		{name: "header not JSON", tok: hdr(`hello`), want: errJSON},
		{name: "header is an array", tok: hdr(`["EdDSA"]`), want: errJSON},
		{name: "header empty object", tok: hdr(`{}`), want: errMissing},
		{name: "header trailing garbage", tok: hdr(header(kid, Installation) + `x`), want: errJSON},
		{name: "header trailing comma", tok: hdr(`{"alg":"EdDSA","kid":"` + kid + `","typ":"reportit-installation+jwt",}`), want: errJSON},
		{name: "header single quotes", tok: hdr(`{'alg':'EdDSA'}`), want: errJSON},

		// alg.
		{name: "alg none, no signature", tok: b64(`{"alg":"none","kid":"`+kid+`","typ":"reportit-installation+jwt"}`) + "." + pGood + ".", want: errAlg},
		{name: "alg NONE", tok: unsigned(`{"alg":"NONE","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errAlg},
		{name: "alg None", tok: unsigned(`{"alg":"None","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errAlg},
		{name: "alg HS256 keyed with raw public key", tok: hs256(k.pub), want: errAlg},
		{name: "alg HS256 keyed with public key PEM", tok: hs256(pubPEM), want: errAlg},
		{name: "alg HS256 keyed with public key base64url", tok: hs256([]byte(base64.RawURLEncoding.EncodeToString(k.pub))), want: errAlg},
		{name: "alg RS256", tok: unsigned(`{"alg":"RS256","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errAlg},
		{name: "alg ES256 really signed", tok: es256, want: errAlg},
		{name: "alg Ed25519", tok: hdr(`{"alg":"Ed25519","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errAlg},
		{name: "alg eddsa lower case", tok: hdr(`{"alg":"eddsa","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errAlg},
		{name: "alg with trailing space", tok: hdr(`{"alg":"EdDSA ","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errAlg},
		{name: "alg missing", tok: hdr(`{"kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errMissing},
		{name: "alg a number", tok: hdr(`{"alg":1,"kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errValueType},
		{name: "alg null", tok: hdr(`{"alg":null,"kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errValueType},
		{name: "alg an array", tok: hdr(`{"alg":["EdDSA"],"kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errValueType},

		// typ and kind.
		{name: "typ missing", tok: hdr(`{"alg":"EdDSA","kid":"` + kid + `"}`), want: errMissing},
		{name: "typ JWT", tok: hdr(`{"alg":"EdDSA","kid":"` + kid + `","typ":"JWT"}`), want: errTyp},
		{name: "typ of the other kind, own audience", tok: hdr(header(kid, Hotline)), want: errTyp},
		{name: "issued hotline token used as installation", tok: hotlineTok, want: errTyp},
		{name: "issued installation token used as hotline", kind: Hotline, tok: e.issue(t, Installation, "inst-2"), want: errTyp},
		{name: "hotline typ with installation audience, as hotline", kind: Hotline, tok: hdr(header(kid, Hotline)), want: errAudience},
		{name: "unknown kind", kind: Kind(9), tok: good, want: errKind},

		// kid.
		{name: "kid missing", tok: hdr(`{"alg":"EdDSA","typ":"reportit-installation+jwt"}`), want: errMissing},
		{name: "kid empty", tok: hdr(header("", Installation)), want: errKid},
		{name: "kid path traversal", tok: hdr(header("../../../../../etc/passwd", Installation)), want: errKid},
		{name: "kid path chars at the right length", tok: hdr(header("../"+kid[3:], Installation)), want: errKid},
		{name: "kid huge", tok: hdr(header(strings.Repeat("A", 600), Installation)), want: errKid},
		{name: "kid a number", tok: hdr(`{"alg":"EdDSA","kid":7,"typ":"reportit-installation+jwt"}`), want: errValueType},
		{name: "kid unknown, signed by its key", tok: signed(header(attackerKid, Installation), claims(t0), attacker), want: errUnknownKid},

		// Header parameters that point elsewhere for the key, or change
		// processing.
		{name: "jku header", tok: hdr(`{"alg":"EdDSA","jku":"https://evil.example/jwks","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errUnknownMember},
		{name: "x5u header", tok: hdr(`{"alg":"EdDSA","kid":"` + kid + `","typ":"reportit-installation+jwt","x5u":"https://evil.example/cert"}`), want: errUnknownMember},
		{name: "embedded jwk, signed by it", tok: signed(`{"alg":"EdDSA","jwk":`+attackerJWK+`,"kid":"`+attackerKid+`","typ":"reportit-installation+jwt"}`, claims(t0), attacker), want: errUnknownMember},
		{name: "embedded jwk with our kid", tok: hdr(`{"alg":"EdDSA","kid":"` + kid + `","jwk":` + attackerJWK + `,"typ":"reportit-installation+jwt"}`), want: errUnknownMember},
		{name: "x5c header", tok: hdr(`{"alg":"EdDSA","kid":"` + kid + `","typ":"reportit-installation+jwt","x5c":["MIIB"]}`), want: errUnknownMember},
		{name: "crit header", tok: hdr(`{"alg":"EdDSA","crit":["exp"],"kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errUnknownMember},
		{name: "b64 false", tok: hdr(`{"alg":"EdDSA","b64":false,"kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errUnknownMember},
		{name: "cty header", tok: hdr(`{"alg":"EdDSA","cty":"JWT","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errUnknownMember},

		// Duplicates and name tricks encoding/json would let through.
		{name: "duplicate alg, last one EdDSA", tok: hdr(`{"alg":"none","alg":"EdDSA","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errDuplicate},
		{name: "duplicate alg, same value", tok: hdr(`{"alg":"EdDSA","alg":"EdDSA","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errDuplicate},
		{name: "duplicate typ", tok: hdr(`{"alg":"EdDSA","kid":"` + kid + `","typ":"reportit-hotline+jwt","typ":"reportit-installation+jwt"}`), want: errDuplicate},
		{name: "duplicate kid", tok: hdr(`{"alg":"EdDSA","kid":"` + attackerKid + `","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errDuplicate},
		{name: "ALG in upper case", tok: hdr(`{"ALG":"none","alg":"EdDSA","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errUnknownMember},
		{name: "escaped name", tok: hdr(`{"\u0061lg":"EdDSA","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errEscape},
		{name: "escaped value", tok: hdr(`{"alg":"EdDS\u0041","kid":"` + kid + `","typ":"reportit-installation+jwt"}`), want: errEscape},
		{name: "duplicate sub", tok: cl(`{"iss":%q,"sub":"victim","sub":"inst-1","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errDuplicate},
		{name: "duplicate exp", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":99999999999,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errDuplicate},
		{name: "duplicate aud", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-hotline-api","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errDuplicate},
		{name: "SUB in upper case", tok: cl(`{"iss":%q,"SUB":"victim","sub":"s","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errUnknownMember},

		// Claims: presence and types.
		{name: "claims null", tok: pay(`null`), want: errJSON},
		{name: "claims trailing garbage", tok: pay(claims(t0) + `{}`), want: errJSON},
		{name: "exp missing", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","iat":%d,"jti":"j"}`, testIssuer, now), want: errMissing},
		{name: "iat missing", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":%d,"jti":"j"}`, testIssuer, now+60), want: errMissing},
		{name: "iss missing", tok: cl(`{"sub":"s","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, now+60, now), want: errMissing},
		{name: "sub missing", tok: cl(`{"iss":%q,"aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errMissing},
		{name: "aud missing", tok: cl(`{"iss":%q,"sub":"s","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errMissing},
		{name: "jti missing", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":%d,"iat":%d}`, testIssuer, now+60, now), want: errMissing},
		{name: "extra claim", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j","admin":true}`, testIssuer, now+60, now), want: errUnknownMember},
		{name: "sub empty", tok: cl(`{"iss":%q,"sub":"","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errValueType},
		{name: "sub an object", tok: cl(`{"iss":%q,"sub":{},"aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errValueType},
		{name: "sub not ASCII", tok: cl(`{"iss":%q,"sub":"é","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errNonASCII},
		{name: "sub invalid UTF-8", tok: cl(`{"iss":%q,"sub":"a`+"\xff"+`","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errNonASCII},
		{name: "sub control byte", tok: cl(`{"iss":%q,"sub":"a`+"\x01"+`","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errNonASCII},
		{name: "iss empty", tok: cl(`{"iss":"","sub":"s","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, now+60, now), want: errValueType},
		{name: "exp a string", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":"%d","iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errValueType},
		{name: "exp fractional", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":%d.5,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errNumber},
		{name: "exp with exponent", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":1e30,"iat":%d,"jti":"j"}`, testIssuer, now), want: errNumber},
		{name: "exp negative", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":-1,"iat":%d,"jti":"j"}`, testIssuer, now), want: errNumber},
		{name: "exp leading zero", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":0%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errNumber},
		{name: "exp overflowing int64", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":99999999999999999999,"iat":%d,"jti":"j"}`, testIssuer, now), want: errNumber},
		{name: "iat a bool", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":%d,"iat":true,"jti":"j"}`, testIssuer, now+60), want: errValueType},

		// Claims: audience shape and value.
		{name: "aud both kinds", tok: cl(`{"iss":%q,"sub":"s","aud":["reportit-api","reportit-hotline-api"],"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errAudShape},
		{name: "aud empty array", tok: cl(`{"iss":%q,"sub":"s","aud":[],"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errAudShape},
		{name: "aud nested array", tok: cl(`{"iss":%q,"sub":"s","aud":[["reportit-api"]],"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errValueType},
		{name: "aud a number", tok: cl(`{"iss":%q,"sub":"s","aud":1,"exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errValueType},
		{name: "aud of the other kind", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-hotline-api","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errAudience},
		{name: "aud a prefix", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit","exp":%d,"iat":%d,"jti":"j"}`, testIssuer, now+60, now), want: errAudience},

		// Claims: issuer and time.
		{name: "iss wrong", tok: cl(`{"iss":"evil","sub":"s","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, now+60, now), want: errIssuer},
		{name: "iss differs in case", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":%d,"iat":%d,"jti":"j"}`, strings.ToUpper(testIssuer), now+60, now), want: errIssuer},
		{name: "expired past leeway", tok: pay(claimsAt(now-3600, now-int64(Leeway/time.Second)-1)), want: errExpired},
		{name: "iat in the future past leeway", tok: pay(claimsAt(now+31, now+3600)), want: errIssuedInFuture},
		{name: "nbf in the future past leeway", tok: cl(`{"iss":%q,"sub":"s","aud":"reportit-api","exp":%d,"nbf":%d,"iat":%d,"jti":"j"}`, testIssuer, now+3600, now+31, now), want: errNotYetValid},
		{name: "lifetime over MaxTTL", tok: pay(claimsAt(now, now+int64(MaxTTL/time.Second)+1)), want: errLifetime},
		{name: "exp equal to iat", tok: pay(claimsAt(now, now)), want: errLifetime},
		{name: "exp before iat", tok: pay(claimsAt(now, now-1)), want: errLifetime},

		// Signatures.
		{name: "signed by another key under our kid", tok: signed(header(kid, Installation), claims(t0), attacker), want: errSignature},
		{name: "random signature", tok: unsigned(header(kid, Installation)), want: errSignature},
		{name: "signature bit flipped", tok: hGood + "." + pGood + "." + flipBit(t, sGood), want: errSignature},
		{name: "payload changed after signing", tok: hGood + "." + b64(strings.Replace(claims(t0), "inst-1", "inst-2", 1)) + "." + sGood, want: errSignature},
		{name: "header changed after signing", tok: b64(header(kid, Installation)+" ") + "." + pGood + "." + sGood, want: errSignature},
		{name: "signature S+L (malleability)", tok: malleable, want: errSignature},
		{name: "signature of another token", tok: hGood + "." + pGood + "." + lastSegment(e.issue(t, Installation, "inst-1")), want: errSignature},
	}
	return cases
}

func splitTok(tok string) (h, p, s string) {
	parts := strings.Split(tok, ".")
	return parts[0], parts[1], parts[2]
}

func lastSegment(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

// nonCanonical changes only the unused low bits of the last character of
// a base64url segment: the same bytes to a lax decoder.
func nonCanonical(t *testing.T, seg string) string {
	t.Helper()
	if len(seg)%4 == 0 {
		t.Fatalf("segment of length %d has no spare bits", len(seg))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	out := seg[:len(seg)-1] + string(alphabet[i^1])
	a, err1 := base64.RawURLEncoding.DecodeString(seg)
	b, err2 := base64.RawURLEncoding.DecodeString(out)
	if err1 != nil || err2 != nil || string(a) != string(b) {
		t.Fatalf("nonCanonical changed the decoded bytes")
	}
	return out
}

func flipBit(t *testing.T, seg string) string {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[10] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	e := newEnv(t)
	cases := badTokens(t, e)
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			kind := tc.kind
			if kind == 0 {
				kind = Installation
			}
			for _, v := range []*Verifier{e.cold, e.ver, e.ver} { // the cached one twice
				c, err := v.Verify(kind, tc.tok)
				if err == nil {
					t.Fatalf("accepted: %+v", c)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not match ErrInvalid", err)
				}
				if !errors.Is(err, tc.want) {
					t.Errorf("error %q, want %q", err, tc.want)
				}
				if errors.Is(err, ErrExpired) != (tc.want == errExpired) {
					t.Errorf("errors.Is(%v, ErrExpired) wrong", err)
				}
				if c != (Claims{}) {
					t.Errorf("claims returned with an error: %+v", c)
				}
			}
		})
	}
	if n := e.ver.cache.len(); n != 0 {
		t.Errorf("%d refused tokens in the cache", n)
	}
}

func TestIssueAndVerify(t *testing.T) {
	e := newEnv(t)
	for _, kind := range []Kind{Installation, Hotline} {
		t.Run(kind.String(), func(t *testing.T) {
			sub := NewInstallationID()
			tok, exp, err := e.iss.Issue(kind, sub)
			if err != nil {
				t.Fatal(err)
			}
			if want := t0.Add(time.Hour); !exp.Equal(want) {
				t.Errorf("expires %v, want %v", exp, want)
			}
			h, p, _ := splitTok(tok)
			hj, _ := base64.RawURLEncoding.DecodeString(h)
			if want := header(e.kr.ActiveKID(), kind); string(hj) != want {
				t.Errorf("header %s, want %s", hj, want)
			}
			var pj map[string]any
			pb, _ := base64.RawURLEncoding.DecodeString(p)
			if err := json.Unmarshal(pb, &pj); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"iss": testIssuer, "sub": sub, "aud": kind.Audience(), "exp": float64(exp.Unix()), "iat": float64(t0.Unix())}
			for name, v := range want {
				if pj[name] != v {
					t.Errorf("claim %s = %v, want %v", name, pj[name], v)
				}
			}
			if jti, _ := pj["jti"].(string); len(jti) != 22 || len(pj) != 6 {
				t.Errorf("claims %s", pb)
			}

			for _, v := range []*Verifier{e.cold, e.ver, e.ver} {
				c, err := v.Verify(kind, tok)
				if err != nil {
					t.Fatal(err)
				}
				if c.Subject != sub || c.ID != pj["jti"] || !c.IssuedAt.Equal(t0) || !c.ExpiresAt.Equal(exp) {
					t.Errorf("claims %+v", c)
				}
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	e := newEnv(t)
	for _, sub := range []string{"", strings.Repeat("a", 257), `a"b`, `a\b`, "a<b", "é", "a\nb"} {
		if _, _, err := e.iss.Issue(Installation, sub); err == nil {
			t.Errorf("subject %q accepted", sub)
		}
	}
	if _, _, err := e.iss.Issue(Kind(0), "s"); err == nil {
		t.Error("kind 0 accepted")
	}
	for _, ttl := range []time.Duration{0, -time.Second, time.Millisecond, MaxTTL + time.Second} {
		if _, err := NewIssuer(e.kr, testIssuer, ttl, nil); err == nil {
			t.Errorf("ttl %v accepted", ttl)
		}
	}
	for _, iss := range []string{"", "a&b", strings.Repeat("x", 257)} {
		if _, err := NewIssuer(e.kr, iss, time.Hour, nil); err == nil {
			t.Errorf("issuer %q accepted by NewIssuer", iss)
		}
		if _, err := NewVerifier(e.kr, iss, nil); err == nil {
			t.Errorf("issuer %q accepted by NewVerifier", iss)
		}
	}
}

// TestExpiryBoundaries checks the cold path against the clock: valid to
// exp plus Leeway, ErrExpired after.
func TestExpiryBoundaries(t *testing.T) {
	e := newEnv(t)
	tok, exp, _ := e.iss.Issue(Installation, "s")
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{exp.Add(-time.Second), true},
		{exp.Add(Leeway - time.Second), true},
		{exp.Add(Leeway), false},
		{exp.Add(time.Hour), false},
	} {
		e.clock.Set(tc.at)
		_, err := e.cold.Verify(Installation, tok)
		if (err == nil) != tc.ok {
			t.Errorf("at exp%+v: %v", tc.at.Sub(exp), err)
		}
		if err != nil && !errors.Is(err, ErrExpired) {
			t.Errorf("at exp%+v: %v, want ErrExpired", tc.at.Sub(exp), err)
		}
	}
}

func TestNewInstallationID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewInstallationID()
		if len(id) != 22 || !validClaimString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestInstallations(t *testing.T) {
	e := newEnv(t)
	s := NewInstallations(e.iss, e.ver)
	tok, _, err := s.NewInstallation()
	if err != nil {
		t.Fatal(err)
	}
	inst, err := s.Check(tok)
	if err != nil || len(inst) != 22 {
		t.Fatalf("Check: %q, %v", inst, err)
	}
	e.clock.Advance(time.Minute)
	tok2, exp2, err := s.Renew(tok)
	if err != nil || tok2 == tok || !exp2.Equal(t0.Add(time.Minute+time.Hour)) {
		t.Fatalf("Renew: %v, %v", exp2, err)
	}
	if inst2, _ := s.Check(tok2); inst2 != inst {
		t.Errorf("renewed for %q, want %q", inst2, inst)
	}
	hot := e.issue(t, Hotline, "h")
	if _, err := s.Check(hot); !errors.Is(err, ErrInvalid) {
		t.Errorf("hotline token checked as installation: %v", err)
	}
	if _, _, err := s.Renew(hot); !errors.Is(err, ErrInvalid) {
		t.Errorf("hotline token renewed: %v", err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, _, err := s.Renew(tok2); !errors.Is(err, ErrExpired) {
		t.Errorf("expired token renewed: %v", err)
	}
	if !strings.Contains(string(s.JWKS()), e.kr.ActiveKID()) {
		t.Error("JWKS lacks the active key")
	}
}
