package token

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzVerify from the deterministic fuzz keyring")

// fuzzEnv is a keyring with a fixed key and an issuer with a fixed jti
// source, so that the tokens it issues are the same every run and can sit
// in the seed corpus.
func fuzzEnv(t testing.TB) (e *env, issued map[Kind]string) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	seedKey(t, dir, 42, t0)
	e = newEnvIn(t, dir, newClock())
	e.iss.rand = &countingReader{}
	issued = map[Kind]string{
		Installation: e.issue(t, Installation, "cHJpdmFjeS1maXJzdC1pZA"),
		Hotline:      e.issue(t, Hotline, "hotline-de-eco"),
	}
	return e, issued
}

// fuzzSeeds are the corpus: the valid tokens, and bad tokens that reach
// each stage of the verifier.
func fuzzSeeds(t testing.TB, e *env, issued map[Kind]string) map[string]string {
	k := e.active()
	inst, hot := issued[Installation], issued[Hotline]
	h, p, s := splitTok(inst)
	return map[string]string{
		"valid-installation": inst,
		"valid-hotline":      hot,
		"alg-none":           b64(`{"alg":"none","kid":"`+k.kid+`","typ":"reportit-installation+jwt"}`) + "." + p + ".",
		"duplicate-alg":      signed(`{"alg":"none","alg":"EdDSA","kid":"`+k.kid+`","typ":"reportit-installation+jwt"}`, claims(t0), k.priv),
		"duplicate-sub":      signed(header(k.kid, Installation), `{"iss":"reportit-test","sub":"a","sub":"b","aud":"reportit-api","exp":1772370000,"iat":1772366400,"jti":"j"}`, k.priv),
		"aud-array":          signed(header(k.kid, Installation), `{"iss":"reportit-test","sub":"a","aud":["reportit-api","reportit-hotline-api"],"exp":1772370000,"iat":1772366400,"jti":"j"}`, k.priv),
		"expired":            signed(header(k.kid, Installation), claimsAt(t0.Unix()-7200, t0.Unix()-3600), k.priv),
		"swapped-signature":  h + "." + p + "." + lastSegment(hot),
		"header-of-hotline":  strings.SplitN(hot, ".", 2)[0] + "." + p + "." + s,
		"escaped-name":       signed(`{"\u0061lg":"EdDSA","kid":"`+k.kid+`","typ":"reportit-installation+jwt"}`, claims(t0), k.priv),
		"jwk-header":         signed(`{"alg":"EdDSA","jwk":{"kty":"OKP"},"kid":"`+k.kid+`","typ":"reportit-installation+jwt"}`, claims(t0), k.priv),
		"garbage":            "eyJ.eyJ.AAAA",
	}
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite the seed corpus")
	}
	e, issued := fuzzEnv(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range fuzzSeeds(t, e, issued) {
		if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\nstring(%q)\n", s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzCorpusIsCurrent keeps the checked-in corpus meaningful: its valid
// seeds must still be exactly what the deterministic issuer produces.
func TestFuzzCorpusIsCurrent(t *testing.T) {
	e, issued := fuzzEnv(t)
	for name, s := range fuzzSeeds(t, e, issued) {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", name))
		if err != nil {
			t.Fatalf("%v (run go test -run TestWriteFuzzCorpus -update-corpus)", err)
		}
		if want := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s); string(b) != want {
			t.Errorf("seed %s is stale (run go test -run TestWriteFuzzCorpus -update-corpus)", name)
		}
	}
	for kind, tok := range issued {
		if _, err := e.cold.Verify(kind, tok); err != nil {
			t.Errorf("%v seed does not verify: %v", kind, err)
		}
	}
}

// FuzzVerify: Verify never panics, refuses only with *Error, and accepts
// nothing but the exact strings the issuer produced, for their own kind.
func FuzzVerify(f *testing.F) {
	e, issued := fuzzEnv(f)
	for _, s := range fuzzSeeds(f, e, issued) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, kind := range []Kind{Installation, Hotline} {
			for _, v := range []*Verifier{e.cold, e.ver} {
				c, err := v.Verify(kind, raw)
				if err == nil {
					if raw != issued[kind] {
						t.Fatalf("accepted a token the issuer did not produce, as %v: %q", kind, raw)
					}
					if c.Subject == "" || c.ExpiresAt.IsZero() {
						t.Fatalf("accepted with empty claims %+v", c)
					}
					continue
				}
				var te *Error
				if !errors.As(err, &te) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("refused with %T %v", err, err)
				}
			}
		}
	})
}
