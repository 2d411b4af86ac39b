package intake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/reportit/reportit/internal/report"
)

func TestReferenceFormat(t *testing.T) {
	re := regexp.MustCompile(`^RIT-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		r := newReference()
		if !re.MatchString(r) {
			t.Fatalf("reference %q does not match the format", r)
		}
		if seen[r] {
			t.Fatalf("reference %q repeated within 10,000", r)
		}
		seen[r] = true
	}
}

func TestFingerprintSeparatesFields(t *testing.T) {
	base := report.Submission{URL: "https://a.example/", Comment: "x", Client: report.Client{Name: "n"}}
	shifted := base
	shifted.URL, shifted.PageURL = "https://a.example", "/"
	moved := base
	moved.Comment, moved.Contact = "", "x"
	same := base
	for name, tt := range map[string]struct {
		a, b  report.Submission
		equal bool
	}{
		"same content":               {base, same, true},
		"text moved between fields":  {base, shifted, false},
		"comment moved into contact": {base, moved, false},
	} {
		if got := fingerprint(&tt.a) == fingerprint(&tt.b); got != tt.equal {
			t.Errorf("%s: equal = %v, want %v", name, got, tt.equal)
		}
	}
}

func TestReceiptsAreKeyedAndDistinct(t *testing.T) {
	a := &Service{secret: make([]byte, 32)}
	b := &Service{secret: append(make([]byte, 31), 1)}
	if a.receipt("id-1") == a.receipt("id-2") {
		t.Fatal("two reports share a receipt")
	}
	if a.receipt("id-1") == b.receipt("id-1") {
		t.Fatal("receipt does not depend on the secret")
	}
	if a.mac("idempotency", "inst", "key") == a.mac("idempotency", "ins", "tkey") {
		t.Fatal("idempotency key parts are not separated")
	}
	if a.mac("idempotency", "inst", "key") == a.mac("receipt", "inst", "key") {
		t.Fatal("purposes share a key space")
	}
}

// TestMACMatchesFreshHMAC pins the pooled hasher to a plain HMAC over the
// same length-prefixed input: receipts already issued and idempotency keys
// already stored must keep verifying, however often a hasher is reused.
func TestMACMatchesFreshHMAC(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	svc := &Service{secret: secret}
	want := func(parts ...string) string {
		m := hmac.New(sha256.New, secret)
		for _, p := range parts {
			var n [4]byte
			binary.BigEndian.PutUint32(n[:], uint32(len(p)))
			m.Write(n[:])
			m.Write([]byte(p))
		}
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
	}
	long := strings.Repeat("k", 2*maxPooledInput) // a hasher not put back
	for i := 0; i < 3; i++ {
		for _, parts := range [][]string{
			{"receipt", "0190a4f6-0000-7000-8000-000000000001"},
			{"idempotency", "inst", "key"},
			{"idempotency", "", ""},
			{"idempotency", "inst", long},
		} {
			if got := svc.mac(parts[0], parts[1:]...); got != want(parts...) {
				t.Fatalf("round %d: mac%q = %s, want %s", i, parts, got, want(parts...))
			}
		}
	}
}

// TestFingerprintMatchesSHA256 pins fingerprint to SHA-256 over the
// length-prefixed fields, for a short submission and one too long for the
// stack buffer.
func TestFingerprintMatchesSHA256(t *testing.T) {
	for _, s := range []report.Submission{
		{URL: "https://a.example/", Category: "csam", Client: report.Client{Name: "n", Version: "1"}},
		{URL: "https://a.example/", Comment: strings.Repeat("é", 2000), Contact: "x@example.org"},
	} {
		h := sha256.New()
		for _, p := range []string{s.URL, s.PageURL, string(s.ContentType), string(s.Category), s.Country, s.Hotline,
			s.Comment, s.Contact, s.Client.Name, s.Client.Version} {
			var n [4]byte
			binary.BigEndian.PutUint32(n[:], uint32(len(p)))
			h.Write(n[:])
			h.Write([]byte(p))
		}
		if got, want := fingerprint(&s), hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("fingerprint = %s, want %s", got, want)
		}
	}
}

func BenchmarkMAC(b *testing.B) {
	svc := &Service{secret: make([]byte, 32)}
	b.ReportAllocs()
	for b.Loop() {
		svc.mac("idempotency", "0190a4f6-0000-7000-8000-000000000001", "5f0c6c36-8f1e-4c2b-9d55-0b7f4b1c2d3e")
	}
}

func BenchmarkFingerprint(b *testing.B) {
	s := report.Submission{URL: "https://a.example/some/path?q=1", PageURL: "https://a.example/", ContentType: "image",
		Category: "csam", Country: "DE", Comment: strings.Repeat("c", 200), Client: report.Client{Name: "ext", Version: "1.2.3"}}
	b.ReportAllocs()
	for b.Loop() {
		fingerprint(&s)
	}
}
