package intake

import (
	"regexp"
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
