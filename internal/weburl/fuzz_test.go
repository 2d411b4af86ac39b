package weburl

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/reportit/reportit/internal/report"
)

// FuzzCanonicalize checks the contract on any input: no panic; an accepted
// URL is short enough, http or https, and canonical (a fixed point); a
// refusal is a domain error a reporter can read.
func FuzzCanonicalize(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzCanonicalize.
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := Canonicalize(raw)
		if err != nil {
			var e *report.Error
			if !errors.As(err, &e) {
				t.Fatalf("Canonicalize(%q) error %T is not *report.Error", raw, err)
			}
			if e.Code == "" || e.Message == "" || e.Field != "" {
				t.Fatalf("Canonicalize(%q) = %#v: want a Code, a Message and no Field", raw, e)
			}
			if got != "" {
				t.Fatalf("Canonicalize(%q) = %q with error %v", raw, got, err)
			}
			return
		}
		if len(got) > MaxLen {
			t.Fatalf("Canonicalize(%q) is %d bytes, over MaxLen", raw, len(got))
		}
		if !strings.HasPrefix(got, "http://") && !strings.HasPrefix(got, "https://") {
			t.Fatalf("Canonicalize(%q) = %q: not http or https", raw, got)
		}
		// The output is an RFC 3986 URI any library can read: check with
		// net/url, which refuses malformed escapes and characters. (Its
		// String escapes sub-delims such as "!" in the userinfo, which RFC
		// 3986 allows, so the round trip is only compared without one.)
		u, err := url.Parse(got)
		if err != nil || u.Host == "" || u.Opaque != "" || u.User == nil && u.String() != got {
			t.Fatalf("Canonicalize(%q) = %q, which net/url reads as %q, %v", raw, got, u, err)
		}
		again, err := Canonicalize(got)
		if err != nil {
			t.Fatalf("Canonicalize(%q) = %q, which is then refused: %v", raw, got, err)
		}
		if again != got {
			t.Fatalf("Canonicalize(%q) = %q, but Canonicalize(%q) = %q", raw, got, got, again)
		}
	})
}
