package token

import (
	"crypto/ed25519"
	"testing"
)

// BenchmarkVerify compares a full verification with a cache hit.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	tok := e.issue(b, Installation, NewInstallationID())
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.cold.Verify(Installation, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.ver.Verify(Installation, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyRefused measures what attackers can make us spend.
func BenchmarkVerifyRefused(b *testing.B) {
	e := newEnv(b)
	k := e.active()
	_, attacker, _ := ed25519.GenerateKey(nil)
	for _, tc := range []struct{ name, tok string }{
		{"oversize_1MiB", string(make([]byte, 1<<20))},
		{"garbage", "eyJhbGciOiJub25lIn0.eyJ.AAAA"},
		{"duplicate_alg", signed(`{"alg":"none","alg":"EdDSA","kid":"`+k.kid+`","typ":"reportit-installation+jwt"}`, claims(t0), k.priv)},
		{"unknown_kid", signed(header(thumbprint(attacker.Public().(ed25519.PublicKey)), Installation), claims(t0), attacker)},
		{"bad_signature", signed(header(k.kid, Installation), claims(t0), attacker)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.ver.Verify(Installation, tc.tok); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

func BenchmarkIssue(b *testing.B) {
	e := newEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.iss.Issue(Installation, "cHJpdmFjeS1maXJzdC1pZA"); err != nil {
			b.Fatal(err)
		}
	}
}
