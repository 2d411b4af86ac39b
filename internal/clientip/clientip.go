// Package clientip derives the address of the client behind a request,
// believing forwarding headers only when they come from a configured trusted
// proxy.
//
// Only X-Forwarded-For is read. X-Real-IP, True-Client-IP, CF-Connecting-IP
// and Forwarded (RFC 7239) are ignored whoever sends them: each extra header
// is one more that a proxy must remember to strip, and a header the proxy
// does not overwrite is the one an attacker picks. Every common reverse proxy
// (nginx, HAProxy, Caddy, Envoy, cloud load balancers) can append to
// X-Forwarded-For, so one header is enough.
//
// The result is meant for rate-limit keys (see Key), never for logs or
// storage.
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ErrTrustedProxy is the error ParseTrusted wraps for every bad entry.
var ErrTrustedProxy = errors.New("invalid trusted proxy")

// ParseTrusted parses a comma-separated list of CIDRs (10.0.0.0/8,
// fd00::/8) or bare addresses (192.0.2.7, which means /32 or /128), as given
// in REPORTIT_TRUSTED_PROXIES. Spaces around entries and empty entries are
// ignored; an empty list trusts no proxy. IPv4-mapped IPv6 forms are turned
// into their IPv4 equivalent, so that they match the normalised peer.
func ParseTrusted(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, raw := range strings.Split(list, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		p, err := parseEntry(s)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d %q: %s", ErrTrustedProxy, i+1, s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseEntry(s string) (netip.Prefix, error) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, errors.New("zone identifiers are not allowed")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, errors.New("not a CIDR such as 10.0.0.0/8 or fd00::/8")
		}
		if m := p.Masked(); m != p {
			// 10.0.0.1/8 is almost always a typo for a single address or
			// for 10.0.0.0/8; refuse rather than guess which.
			return netip.Prefix{}, fmt.Errorf("host bits are set: did you mean %s?", m)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		// Masked above, so Bits() >= 96 here: bits 80-95 of the
		// prefix are set. Peers are unmapped before matching.
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, errors.New("trusting every address would let anyone forge X-Forwarded-For")
	}
	return p, nil
}

// Resolver finds the client address of a request. The zero value and a
// nil *Resolver trust no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that believes X-Forwarded-For only from peers in
// trusted. The slice is copied and normalised like ParseTrusted's output.
func New(trusted []netip.Prefix) *Resolver {
	r := &Resolver{trusted: make([]netip.Prefix, 0, len(trusted))}
	for _, p := range trusted {
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client address of a request whose TCP peer is
// remoteAddr ("ip:port", as in http.Request.RemoteAddr) and whose headers
// are h. ok is false only when remoteAddr is not an IP address (a Unix
// socket, for instance); the headers are then not looked at, since there is
// no peer to trust.
//
// When the peer is a trusted proxy, X-Forwarded-For (all its lines, joined
// in order) is walked from right to left: trusted hops are skipped and the
// first untrusted hop is the client. An entry that is not an address stops
// the walk, and the last hop reached (a trusted proxy) is the answer: the
// entries to the left of garbage were written by nobody we trust, and the
// left-most entry is exactly what a client forges. Empty list elements are
// skipped, as RFC 9110 asks of list recipients. Addresses come back with
// IPv4-mapped IPv6 unmapped and zones removed.
func (r *Resolver) Client(remoteAddr string, h http.Header) (netip.Addr, bool) {
	peer, ok := parseHop(remoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !r.isTrusted(peer) {
		return peer, true
	}
	client := peer
	lines := h.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var hop string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				hop, rest = rest[j+1:], rest[:j]
			} else {
				hop, rest = rest, ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			a, ok := parseHop(hop)
			if !ok {
				return client, true
			}
			client = a
			if !r.isTrusted(a) {
				return client, true
			}
		}
	}
	return client, true
}

// parseHop parses an address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "2001:db8::1", "[2001:db8::1]:443"), as found in
// RemoteAddr and in X-Forwarded-For entries of some proxies, and normalises
// it.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// Key is the rate-limit identity of an address: the address itself for
// IPv4, its /64 for IPv6, since a single subscriber usually holds a whole
// /64 and could otherwise step to a fresh address for every request. An
// invalid address (Client's ok was false) gets one shared key, so that
// unparseable peers share one bucket rather than escape limits.
func Key(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32).String()
	}
	p, _ := a.Prefix(64) // cannot fail: a is a valid IPv6 address
	return p.String()
}
