package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Test vectors from the Standard Webhooks reference libraries
// (libraries/go/webhook_test.go TestWebhookSign and
// libraries/go/webhook_asymmetric_test.go TestAsymmetricWebhookSign; the
// JavaScript tests carry the same HMAC vector).
const (
	vecSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID      = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS      = 1614265330
	vecPayload = `{"test": 2432232314}`
	vecSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

	vecEdKey = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
	vecEdSig = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)

var vecTime = time.Unix(vecTS, 0)

func mustSigner(t testing.TB, secret string, more ...string) *Signer {
	t.Helper()
	s, err := NewSigner(secret, more...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustVerifier(t testing.TB, secrets ...string) *Verifier {
	t.Helper()
	v, err := NewVerifier(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustPublic(t testing.TB, signingKey string) string {
	t.Helper()
	pub, err := PublicKey(signingKey)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set(HeaderID, id)
	}
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return h
}

func TestSignVectors(t *testing.T) {
	tests := []struct {
		name, secret, want string
	}{
		{"hmac whsec", vecSecret, vecSig},
		{"hmac bare base64", strings.TrimPrefix(vecSecret, PrefixSecret), vecSig},
		{"ed25519 whsk", vecEdKey, vecEdSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustSigner(t, tt.secret).Sign(vecID, vecTime, []byte(vecPayload))
			if got != tt.want {
				t.Fatalf("Sign = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSignRotationJoinsEntries(t *testing.T) {
	got := mustSigner(t, vecSecret, vecEdKey).Sign(vecID, vecTime, []byte(vecPayload))
	if want := vecSig + " " + vecEdSig; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestSetHeaders(t *testing.T) {
	h := http.Header{}
	mustSigner(t, vecSecret).SetHeaders(h, vecID, vecTime.Add(900*time.Millisecond), []byte(vecPayload))
	if h.Get("Webhook-Id") != vecID || h.Get("Webhook-Timestamp") != strconv.Itoa(vecTS) || h.Get("Webhook-Signature") != vecSig {
		t.Fatalf("headers = %v", h)
	}
}

// TestVerifyVectors checks our verifier against the published vectors, and
// that each kind of tampering is refused with the right error.
func TestVerifyVectors(t *testing.T) {
	ts := strconv.Itoa(vecTS)
	body := []byte(vecPayload)
	hmacOnly := mustVerifier(t, vecSecret)
	edOnly := mustVerifier(t, mustPublic(t, vecEdKey))
	both := mustVerifier(t, vecSecret, mustPublic(t, vecEdKey))

	// flip changes one character of s at i to another valid base64 digit.
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}

	tests := []struct {
		name string
		v    *Verifier
		h    http.Header
		body []byte
		now  time.Time
		want error
	}{
		{"hmac vector", hmacOnly, headers(vecID, ts, vecSig), body, vecTime, nil},
		{"ed25519 vector", edOnly, headers(vecID, ts, vecEdSig), body, vecTime, nil},
		{"whsk accepted as verifier key", mustVerifier(t, vecEdKey), headers(vecID, ts, vecEdSig), body, vecTime, nil},
		{"both keys, ed25519 sig", both, headers(vecID, ts, vecEdSig), body, vecTime, nil},
		{"rotation: junk and other versions before the valid one", hmacOnly,
			headers(vecID, ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= nocomma v1, "+vecSig),
			body, vecTime, nil},

		{"tampered id", both, headers(vecID+"x", ts, vecSig+" "+vecEdSig), body, vecTime, ErrNoMatch},
		{"tampered timestamp", both, headers(vecID, strconv.Itoa(vecTS+1), vecSig+" "+vecEdSig), body, vecTime, ErrNoMatch},
		{"tampered body", both, headers(vecID, ts, vecSig+" "+vecEdSig), []byte(`{"test": 2432232315}`), vecTime, ErrNoMatch},
		{"body with trailing newline", both, headers(vecID, ts, vecSig+" "+vecEdSig), []byte(vecPayload + "\n"), vecTime, ErrNoMatch},
		{"empty body", both, headers(vecID, ts, vecSig+" "+vecEdSig), nil, vecTime, ErrNoMatch},
		{"tampered hmac signature", hmacOnly, headers(vecID, ts, flip(vecSig, 10)), body, vecTime, ErrNoMatch},
		{"tampered ed25519 signature", edOnly, headers(vecID, ts, flip(vecEdSig, 10)), body, vecTime, ErrNoMatch},
		// 'E' and 'F' differ only in the padding bits: a lax decoder reads
		// the same bytes, a strict one refuses the changed text.
		{"non-canonical base64", hmacOnly, headers(vecID, ts, strings.Replace(vecSig, "1OE=", "1OF=", 1)), body, vecTime, ErrNoMatch},
		{"unpadded signature", hmacOnly, headers(vecID, ts, strings.TrimSuffix(vecSig, "=")), body, vecTime, ErrNoMatch},
		{"hmac sig under v1a", both, headers(vecID, ts, "v1a,"+strings.TrimPrefix(vecSig, "v1,")), body, vecTime, ErrNoMatch},
		{"ed25519 sig under v1", both, headers(vecID, ts, "v1,"+strings.TrimPrefix(vecEdSig, "v1a,")), body, vecTime, ErrNoMatch},
		{"hmac sig, ed25519-only verifier", edOnly, headers(vecID, ts, vecSig), body, vecTime, ErrNoMatch},
		{"ed25519 sig, hmac-only verifier", hmacOnly, headers(vecID, ts, vecEdSig), body, vecTime, ErrNoMatch},
		{"wrong secret", mustVerifier(t, NewSecret()), headers(vecID, ts, vecSig), body, vecTime, ErrNoMatch},
		{"empty signature entry", hmacOnly, headers(vecID, ts, "v1,"), body, vecTime, ErrNoMatch},
		{"blank signature header", hmacOnly, headers(vecID, ts, " "), body, vecTime, ErrNoMatch},

		{"missing id", hmacOnly, headers("", ts, vecSig), body, vecTime, ErrMissingHeaders},
		{"missing timestamp", hmacOnly, headers(vecID, "", vecSig), body, vecTime, ErrMissingHeaders},
		{"missing signature", hmacOnly, headers(vecID, ts, ""), body, vecTime, ErrMissingHeaders},

		{"id with dot", hmacOnly, headers("msg.1", ts, vecSig), body, vecTime, ErrBadID},
		{"id with space", hmacOnly, headers("msg 1", ts, vecSig), body, vecTime, ErrBadID},
		{"id too long", hmacOnly, headers(strings.Repeat("a", MaxIDLen+1), ts, vecSig), body, vecTime, ErrBadID},

		{"timestamp not a number", hmacOnly, headers(vecID, "hello", vecSig), body, vecTime, ErrBadTimestamp},
		{"timestamp with sign", hmacOnly, headers(vecID, "+"+ts, vecSig), body, vecTime, ErrBadTimestamp},
		{"negative timestamp", hmacOnly, headers(vecID, "-1", vecSig), body, vecTime, ErrBadTimestamp},
		{"timestamp with leading zero", hmacOnly, headers(vecID, "0"+ts, vecSig), body, vecTime, ErrBadTimestamp},
		{"fractional timestamp", hmacOnly, headers(vecID, ts+".5", vecSig), body, vecTime, ErrBadTimestamp},
		{"timestamp in milliseconds", hmacOnly, headers(vecID, ts+"000", vecSig), body, vecTime, ErrBadTimestamp},
		{"timestamp far in the future", hmacOnly, headers(vecID, ts+"00", vecSig), body, vecTime, ErrTooNew},
		{"timestamp too long", hmacOnly, headers(vecID, "1234567890123", vecSig), body, vecTime, ErrBadTimestamp},

		{"at the old edge", hmacOnly, headers(vecID, ts, vecSig), body, vecTime.Add(DefaultTolerance), nil},
		{"just too old", hmacOnly, headers(vecID, ts, vecSig), body, vecTime.Add(DefaultTolerance + time.Second), ErrTooOld},
		{"at the future edge", hmacOnly, headers(vecID, ts, vecSig), body, vecTime.Add(-DefaultTolerance), nil},
		{"just too new", hmacOnly, headers(vecID, ts, vecSig), body, vecTime.Add(-DefaultTolerance - time.Second), ErrTooNew},
		{"stale even with a valid signature", hmacOnly, headers(vecID, ts, vecSig), body, time.Now(), ErrTooOld},
		{"wider tolerance", hmacOnly.WithTolerance(time.Hour), headers(vecID, ts, vecSig), body, vecTime.Add(59 * time.Minute), nil},
		{"zero tolerance keeps the default", hmacOnly.WithTolerance(0), headers(vecID, ts, vecSig), body, vecTime.Add(DefaultTolerance + time.Second), ErrTooOld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Verify(tt.h, tt.body, tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifySignatureOnSeveralHeaderLines(t *testing.T) {
	h := headers(vecID, strconv.Itoa(vecTS), "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
	h.Add(HeaderSignature, vecSig)
	if err := mustVerifier(t, vecSecret).Verify(h, []byte(vecPayload), vecTime); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyExaminesAtMost16Entries(t *testing.T) {
	junk := strings.Repeat("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ", maxSignatures-1)
	v := mustVerifier(t, vecSecret)
	ts := strconv.Itoa(vecTS)
	if err := v.Verify(headers(vecID, ts, junk+vecSig), []byte(vecPayload), vecTime); err != nil {
		t.Fatalf("valid 16th entry: %v", err)
	}
	if err := v.Verify(headers(vecID, ts, junk+"x "+vecSig), []byte(vecPayload), vecTime); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("valid 17th entry: %v, want ErrNoMatch", err)
	}
}

// TestRotation: a receiver that trusts old and new secrets accepts either;
// a sender signing with both is accepted by a receiver with either.
func TestRotation(t *testing.T) {
	oldSec, newSec := NewSecret(), NewSecret()
	body := []byte(`{"id":"r1","url":"https://example.com/"}`)
	now := time.Now()
	for _, tt := range []struct {
		name     string
		sign     []string
		verify   []string
		accepted bool
	}{
		{"old signer, both trusted", []string{oldSec}, []string{newSec, oldSec}, true},
		{"new signer, both trusted", []string{newSec}, []string{newSec, oldSec}, true},
		{"both signers, new trusted", []string{newSec, oldSec}, []string{newSec}, true},
		{"both signers, old trusted", []string{newSec, oldSec}, []string{oldSec}, true},
		{"old signer, new trusted", []string{oldSec}, []string{newSec}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			mustSigner(t, tt.sign[0], tt.sign[1:]...).SetHeaders(h, "r1", now, body)
			err := mustVerifier(t, tt.verify...).Verify(h, body, now)
			if (err == nil) != tt.accepted {
				t.Fatalf("Verify = %v, accepted want %v", err, tt.accepted)
			}
		})
	}
}

func TestGeneratedKeysRoundTrip(t *testing.T) {
	sk, pk := NewKeyPair()
	if !strings.HasPrefix(sk, PrefixSigningKey) || !strings.HasPrefix(pk, PrefixPublicKey) {
		t.Fatalf("NewKeyPair = %q, %q", sk, pk)
	}
	if got := mustPublic(t, sk); got != pk {
		t.Fatalf("PublicKey = %q, want %q", got, pk)
	}
	sec := NewSecret()
	if a, b := sec, NewSecret(); a == b || !strings.HasPrefix(a, PrefixSecret) {
		t.Fatalf("NewSecret = %q, %q", a, b)
	}
	now := time.Now()
	body := []byte(`{}`)
	h := http.Header{}
	mustSigner(t, sk, sec).SetHeaders(h, "id-1", now, body)
	for _, key := range []string{pk, sec} {
		if err := mustVerifier(t, key).Verify(h, body, now); err != nil {
			t.Fatalf("verify with %s…: %v", key[:5], err)
		}
	}
}

func TestBadSecrets(t *testing.T) {
	short := PrefixSecret + b64.EncodeToString(make([]byte, minHMACKey-1))
	long := PrefixSecret + b64.EncodeToString(make([]byte, maxHMACKey+1))
	tests := []struct {
		name    string
		secrets []string
		signer  bool
		want    error
	}{
		{"empty", []string{""}, true, ErrNoSecret},
		{"blank", []string{"  "}, true, ErrNoSecret},
		{"not base64", []string{"whsec_!!!"}, true, ErrBadSecret},
		{"hmac too short", []string{short}, true, ErrBadSecret},
		{"hmac too long", []string{long}, true, ErrBadSecret},
		{"signing key wrong size", []string{"whsk_" + b64.EncodeToString(make([]byte, 31))}, true, ErrBadSecret},
		{"public key cannot sign", []string{mustPublic(t, vecEdKey)}, true, ErrBadSecret},
		{"second secret bad", []string{vecSecret, "whsec_x"}, true, ErrBadSecret},
		{"verifier without secrets", nil, false, ErrNoSecret},
		{"verifier public key wrong size", []string{"whpk_" + b64.EncodeToString(make([]byte, 33))}, false, ErrBadSecret},
		{"verifier not base64", []string{"whpk_%%"}, false, ErrBadSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.signer {
				_, err = NewSigner(tt.secrets[0], tt.secrets[1:]...)
			} else {
				_, err = NewVerifier(tt.secrets...)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && len(tt.secrets) > 0 && len(tt.secrets[0]) > 8 && strings.Contains(err.Error(), tt.secrets[0][6:]) {
				t.Fatalf("error %q quotes the secret", err)
			}
		})
	}
}

func TestUnpaddedSecretAccepted(t *testing.T) {
	// A 32-byte key encodes with one '='; some tools drop it.
	key := make([]byte, 32)
	key[0] = 7
	padded := PrefixSecret + b64.EncodeToString(key)
	unpadded := strings.TrimRight(padded, "=")
	if padded == unpadded {
		t.Fatal("test key has no padding")
	}
	a := mustSigner(t, padded).Sign("x", vecTime, nil)
	b := mustSigner(t, unpadded).Sign("x", vecTime, nil)
	if a != b {
		t.Fatalf("padded %q != unpadded %q", a, b)
	}
}

// TestSignConcurrent exercises the pooled hash states under -race.
func TestSignConcurrent(t *testing.T) {
	s := mustSigner(t, vecSecret)
	done := make(chan string)
	for range 8 {
		go func() {
			var got string
			for range 200 {
				got = s.Sign(vecID, vecTime, []byte(vecPayload))
				if got != vecSig {
					break
				}
			}
			done <- got
		}()
	}
	for range 8 {
		if got := <-done; got != vecSig {
			t.Fatalf("concurrent Sign = %q", got)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	for _, bc := range []struct{ name, secret string }{
		{"hmac-1KiB", vecSecret},
		{"ed25519-1KiB", vecEdKey},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := mustSigner(b, bc.secret)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				s.Sign(vecID, vecTime, body)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	for _, bc := range []struct{ name, secret, verify string }{
		{"hmac-1KiB", vecSecret, vecSecret},
		{"ed25519-1KiB", vecEdKey, mustPublic(b, vecEdKey)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := http.Header{}
			mustSigner(b, bc.secret).SetHeaders(h, vecID, vecTime, body)
			v := mustVerifier(b, bc.verify)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(h, body, vecTime); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
