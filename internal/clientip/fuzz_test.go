package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// fuzzTrusted are the proxy configurations FuzzClient picks from; the first
// trusts nobody.
var fuzzTrusted = []string{"", "10.0.0.0/8", "10.0.0.0/8, 2001:db8::/32, 192.0.2.7", "0.0.0.0/1, 128.0.0.0/1"}

// FuzzClient checks, for any peer and any X-Forwarded-For lines: Client
// never panics; the answer is the peer or an address written in the header;
// it differs from the peer only when the peer is trusted; and with no
// trusted proxy it is always the peer.
func FuzzClient(f *testing.F) {
	f.Add(uint8(1), "10.0.0.1:1234", "1.2.3.4, 198.51.100.1", "")
	f.Add(uint8(2), "[2001:db8::1]:443", "garbage, 2001:db8::2", "198.51.100.9")
	f.Add(uint8(0), "203.0.113.5:1", "198.51.100.1", "")
	f.Fuzz(func(t *testing.T, which uint8, remote, xff1, xff2 string) {
		trusted := mustTrusted(t, fuzzTrusted[int(which)%len(fuzzTrusted)])
		r := New(trusted)
		h := http.Header{}
		h.Add("X-Forwarded-For", xff1)
		if xff2 != "" {
			h.Add("X-Forwarded-For", xff2)
		}
		h.Set("X-Real-IP", xff2)
		got, ok := r.Client(remote, h)

		peer, peerOK := parseHop(remote)
		if ok != peerOK {
			t.Fatalf("ok = %v for remote %q", ok, remote)
		}
		if !ok {
			if got.IsValid() {
				t.Fatalf("invalid peer %q gave %v", remote, got)
			}
			return
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("not normalised: %v", got)
		}
		if got == peer {
			return
		}
		if len(trusted) == 0 {
			t.Fatalf("no trusted proxies but %v instead of peer %v", got, peer)
		}
		if !r.isTrusted(peer) {
			t.Fatalf("untrusted peer %v moved to %v", peer, got)
		}
		if !inHeader(got, xff1, xff2) {
			t.Fatalf("%v is neither the peer %v nor in the header %q %q", got, peer, xff1, xff2)
		}
		_ = Key(got)
	})
}

// inHeader reports whether a is one of the addresses listed in the lines,
// parsed independently of Client's right-to-left walk.
func inHeader(a netip.Addr, lines ...string) bool {
	for _, l := range lines {
		for _, e := range strings.Split(l, ",") {
			if b, ok := parseHop(strings.TrimSpace(e)); ok && b == a {
				return true
			}
		}
	}
	return false
}
