package clientip

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrusted(t *testing.T) {
	tests := []struct {
		in      string
		want    string // prefixes joined by " "
		wantErr string // substring of the error
	}{
		{in: "", want: ""},
		{in: "   ", want: ""},
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: " 10.0.0.0/8 , 192.0.2.7,2001:db8::/32 ", want: "10.0.0.0/8 192.0.2.7/32 2001:db8::/32"},
		{in: "10.0.0.0/8,", want: "10.0.0.0/8"},
		{in: "2001:db8::1", want: "2001:db8::1/128"},
		{in: "::ffff:192.0.2.7", want: "192.0.2.7/32"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "10.0.0.1/8", wantErr: "did you mean 10.0.0.0/8?"},
		{in: "10.0.0.0/33", wantErr: `entry 1 "10.0.0.0/33": not a CIDR`},
		{in: "10.0.0.0/8,proxy.internal", wantErr: `entry 2 "proxy.internal": not an IP address or CIDR`},
		{in: "192.0.2.300", wantErr: "not an IP address or CIDR"},
		{in: "010.0.0.1", wantErr: "not an IP address or CIDR"},
		{in: "fe80::1%eth0", wantErr: "zone identifiers are not allowed"},
		{in: "0.0.0.0/0", wantErr: "anyone forge"},
		{in: "::/0", wantErr: "anyone forge"},
		{in: "::ffff:0:0/96", wantErr: "anyone forge"},
		{in: "::ffff:0:0/95", wantErr: "did you mean ::fffe:0:0/95?"},
		{in: "192.0.2.7:80", wantErr: "not an IP address or CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTrusted(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrTrustedProxy) {
					t.Fatalf("ParseTrusted(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTrusted(%q): %v", tt.in, err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != tt.want {
				t.Errorf("ParseTrusted(%q) = %q, want %q", tt.in, strings.Join(s, " "), tt.want)
			}
		})
	}
}

func mustTrusted(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrusted(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hdr builds a header with repeated lines, as a proxy chain can send them.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// TestClientSpoofing is the spoofing matrix: who may move the client
// address away from the TCP peer, and how far.
func TestClientSpoofing(t *testing.T) {
	const proxies = "10.0.0.0/8, 2001:db8:ffff::/48"
	tests := []struct {
		name    string
		trusted string
		remote  string
		h       http.Header
		want    string
	}{
		// No trusted proxies: headers are never believed.
		{"no proxies, plain", "", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"no proxies, forged XFF", "", "203.0.113.5:1234", hdr("X-Forwarded-For", "198.51.100.1"), "203.0.113.5"},
		{"no proxies, X-Real-IP", "", "203.0.113.5:1234", hdr("X-Real-IP", "198.51.100.1"), "203.0.113.5"},
		{"no proxies, Forwarded", "", "203.0.113.5:1234", hdr("Forwarded", "for=198.51.100.1"), "203.0.113.5"},
		// An untrusted peer sending forwarding headers while proxies are configured.
		{"untrusted peer, XFF", proxies, "203.0.113.5:1234", hdr("X-Forwarded-For", "10.1.1.1, 198.51.100.1"), "203.0.113.5"},
		{"untrusted peer, X-Real-IP", proxies, "203.0.113.5:1234", hdr("X-Real-IP", "198.51.100.1"), "203.0.113.5"},
		{"untrusted peer, Forwarded", proxies, "203.0.113.5:1234", hdr("Forwarded", "for=198.51.100.1"), "203.0.113.5"},
		{"untrusted peer, True-Client-IP", proxies, "203.0.113.5:1234", hdr("True-Client-IP", "198.51.100.1"), "203.0.113.5"},
		// A trusted proxy.
		{"trusted, no XFF", proxies, "10.0.0.1:1234", nil, "10.0.0.1"},
		{"trusted, one hop", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "198.51.100.1"), "198.51.100.1"},
		{"trusted, forged left-most", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4, 198.51.100.1"), "198.51.100.1"},
		{"trusted, forged trusted-looking left-most", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "10.9.9.9, 198.51.100.1"), "198.51.100.1"},
		{"trusted, X-Real-IP ignored", proxies, "10.0.0.1:1234", hdr("X-Real-IP", "1.2.3.4", "X-Forwarded-For", "198.51.100.1"), "198.51.100.1"},
		{"trusted, Forwarded ignored", proxies, "10.0.0.1:1234", hdr("Forwarded", "for=1.2.3.4"), "10.0.0.1"},
		{"trusted chain of three proxies", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4, 198.51.100.1, 10.2.2.2, 10.3.3.3"), "198.51.100.1"},
		{"chain entirely trusted", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "10.2.2.2, 10.3.3.3"), "10.2.2.2"},
		{"several XFF lines joined in order", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4, 198.51.100.1", "X-Forwarded-For", "10.2.2.2"), "198.51.100.1"},
		{"several XFF lines, client in last line", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4", "X-Forwarded-For", "198.51.100.1, 10.2.2.2"), "198.51.100.1"},
		{"empty elements skipped", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4,, 198.51.100.1 , ,"), "198.51.100.1"},
		{"empty XFF line", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", ""), "10.0.0.1"},
		// Garbage stops the walk at the last good hop, never past it.
		{"garbage right-most", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4, unknown"), "10.0.0.1"},
		{"garbage after a trusted hop", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4, garbage, 10.2.2.2"), "10.2.2.2"},
		{"garbage left of the client", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4, <script>, 198.51.100.1"), "198.51.100.1"},
		{"hostname in XFF", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4, evil.example"), "10.0.0.1"},
		{"out-of-range octet", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "1.2.3.4, 198.51.100.300"), "10.0.0.1"},
		{"quoted value", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", `"198.51.100.1"`), "10.0.0.1"},
		{"CIDR value", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "198.51.100.0/24"), "10.0.0.1"},
		// Ports in XFF entries (some load balancers add them).
		{"hop with port", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "198.51.100.1:5555"), "198.51.100.1"},
		{"IPv6 hop with port", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "[2001:db8:1::5]:5555"), "2001:db8:1::5"},
		// Normalisation.
		{"IPv4-mapped peer", "", "[::ffff:203.0.113.5]:1234", nil, "203.0.113.5"},
		{"IPv4-mapped trusted peer", proxies, "[::ffff:10.0.0.1]:1234", hdr("X-Forwarded-For", "198.51.100.1"), "198.51.100.1"},
		{"IPv4-mapped hop", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "::ffff:198.51.100.1"), "198.51.100.1"},
		{"IPv4-mapped trusted hop skipped", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "198.51.100.1, ::ffff:10.2.2.2"), "198.51.100.1"},
		{"zone on peer", "", "[fe80::1%eth0]:1234", nil, "fe80::1"},
		{"zone in hop", proxies, "10.0.0.1:1234", hdr("X-Forwarded-For", "fe80::1%eth0"), "fe80::1"},
		{"IPv6 trusted proxy", proxies, "[2001:db8:ffff::1]:443", hdr("X-Forwarded-For", "2001:db8:1::5"), "2001:db8:1::5"},
		{"IPv6 untrusted peer", proxies, "[2001:db8:1::1]:443", hdr("X-Forwarded-For", "198.51.100.1"), "2001:db8:1::1"},
		{"peer without port", "", "203.0.113.5", nil, "203.0.113.5"},
		// Header name case does not matter once in an http.Header.
		{"lower-case header added", proxies, "10.0.0.1:1234", hdr("x-forwarded-for", "198.51.100.1"), "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(mustTrusted(t, tt.trusted))
			got, ok := r.Client(tt.remote, tt.h)
			if !ok || got.String() != tt.want {
				t.Errorf("Client(%q, %v) = %v, %v; want %s", tt.remote, tt.h, got, ok, tt.want)
			}
		})
	}
}

func TestClientBadPeer(t *testing.T) {
	r := New(mustTrusted(t, "10.0.0.0/8"))
	for _, remote := range []string{"", "@", "/run/reportit.sock", "localhost:80", "1.2.3.4:", "[::1]"} {
		if a, ok := r.Client(remote, hdr("X-Forwarded-For", "198.51.100.1")); ok || a.IsValid() {
			t.Errorf("Client(%q) = %v, %v; want invalid, false", remote, a, ok)
		}
	}
}

func TestNilAndZeroResolverTrustNobody(t *testing.T) {
	h := hdr("X-Forwarded-For", "198.51.100.1")
	for name, r := range map[string]*Resolver{"nil": nil, "zero": {}, "New(nil)": New(nil)} {
		if a, _ := r.Client("10.0.0.1:1", h); a.String() != "10.0.0.1" {
			t.Errorf("%s resolver: %v", name, a)
		}
	}
}

func TestNewNormalisesPrefixes(t *testing.T) {
	// Prefixes built by hand, not by ParseTrusted: unmasked and IPv4-mapped.
	r := New([]netip.Prefix{
		netip.MustParsePrefix("10.1.2.3/8"),
		netip.MustParsePrefix("::ffff:192.0.2.0/120"),
		{}, // invalid, ignored
	})
	for remote, want := range map[string]string{
		"10.200.0.1:1":  "198.51.100.1",
		"192.0.2.9:1":   "198.51.100.1",
		"203.0.113.1:1": "203.0.113.1",
	} {
		if a, _ := r.Client(remote, hdr("X-Forwarded-For", "198.51.100.1")); a.String() != want {
			t.Errorf("Client(%q) = %v, want %s", remote, a, want)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:eeee:dddd:cccc", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		if got := Key(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("Key(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if Key(netip.MustParseAddr("2001:db8:1:2::1")) == Key(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Error("neighbouring /64s share a key")
	}
	if Key(netip.MustParseAddr("192.0.2.1")) == Key(netip.MustParseAddr("192.0.2.2")) {
		t.Error("two IPv4 addresses share a key")
	}
	if got := Key(netip.Addr{}); got != "unknown" {
		t.Errorf("Key(invalid) = %q", got)
	}
}

func BenchmarkClient(b *testing.B) {
	r := New(mustTrusted(b, "10.0.0.0/8"))
	h := hdr("X-Forwarded-For", "1.2.3.4, 198.51.100.1, 10.2.2.2")
	b.ReportAllocs()
	for b.Loop() {
		if a, _ := r.Client("10.0.0.1:1234", h); a.String() != "198.51.100.1" {
			b.Fatal(a)
		}
	}
}
