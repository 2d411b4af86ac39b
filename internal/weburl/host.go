package weburl

import (
	"bytes"
	"net/netip"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/reportit/reportit/internal/report"
)

// hostProfile is the IDNA profile for hosts. It is the WHATWG URL Standard's
// "domain to ASCII": UTS #46 mapping, non-transitional, Bidi and joiner rules,
// labels validated; but without CheckHyphens, since real hosts such as
// "r3---sn-abc.googlevideo.com" (video CDNs) break it, and without
// STD3 rules, since underscores occur in real host names. appendHost checks
// the ASCII result itself.
//
// It is built per call rather than kept in a package variable: only
// non-ASCII and punycode hosts need it, and building it costs one small
// allocation next to the several of the conversion itself.
func hostProfile() *idna.Profile {
	return idna.New(
		idna.MapForLookup(),
		idna.BidiRule(),
		idna.Transitional(false),
		idna.StrictDomainName(false),
		idna.CheckHyphens(false),
	)
}

// appendHost appends the canonical form of host: a lower-case ASCII domain
// name, dotted-decimal IPv4 or a bracketed IPv6 address. It refuses hosts a
// hotline cannot reach.
func appendHost(buf []byte, host string) ([]byte, *report.Error) {
	if host == "" {
		return nil, fail(report.CodeURLMalformed, msgNoHost)
	}
	if host[0] == '[' {
		return appendIPv6(buf, host[1:len(host)-1])
	}

	// Browsers percent-decode the host before anything else.
	start := len(buf)
	nonASCII := false
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c == '%' {
			if i+2 >= len(host) || !isHex(host[i+1]) || !isHex(host[i+2]) {
				return nil, fail(report.CodeURLMalformed, msgBadHost)
			}
			c = unhex(host[i+1])<<4 | unhex(host[i+2])
			i += 2
		}
		if c >= utf8.RuneSelf {
			nonASCII = true
		}
		buf = append(buf, toLower(c))
	}
	if nonASCII || containsACE(buf[start:]) {
		// Unicode hosts become punycode; punycode hosts are checked to be
		// valid. Full-width digits and dots map to ASCII here too, so the
		// IPv4 test below must come after.
		if nonASCII && !utf8.Valid(buf[start:]) {
			return nil, fail(report.CodeURLMalformed, msgBadHost)
		}
		ascii, err := hostProfile().ToASCII(string(buf[start:]))
		if err != nil {
			return nil, fail(report.CodeURLMalformed, msgBadHost)
		}
		buf = buf[:start]
		for i := 0; i < len(ascii); i++ {
			buf = append(buf, toLower(ascii[i]))
		}
	}
	if n := len(buf); n-start > 1 && buf[n-1] == '.' {
		buf = buf[:n-1] // "example.com." is "example.com"
	}

	name := buf[start:]
	if endsInNumber(name) {
		// WHATWG: a host whose last label is a number is an IPv4 address,
		// in any of the legacy forms ("2130706433", "0x7f.1", "0177.0.0.1").
		addr, ok := parseIPv4(name)
		if !ok {
			return nil, fail(report.CodeURLMalformed, msgBadIP)
		}
		if msg := unreachableIP(addr); msg != "" {
			return nil, fail(report.CodeURLHost, msg)
		}
		return addr.AppendTo(buf[:start]), nil
	}
	if !validDomain(name) {
		return nil, fail(report.CodeURLMalformed, msgBadHost)
	}
	if localName(name) {
		if hasLabelSuffix(name, "localhost") {
			return nil, fail(report.CodeURLHost, msgOwnDevice)
		}
		return nil, fail(report.CodeURLHost, msgLocalNet)
	}
	return buf, nil
}

// containsACE reports whether a lower-case host may hold a punycode label.
func containsACE(h []byte) bool {
	return bytes.Contains(h, []byte("xn--"))
}

// validDomain checks a lower-case ASCII domain name: labels of 1 to 63
// letters, digits, hyphens or underscores, 253 bytes at most. Anything else
// cannot be looked up in the DNS, so no hotline could visit it.
func validDomain(h []byte) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	label := 0
	for _, c := range h {
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', isDigit(c), c == '-', c == '_':
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	return label > 0
}

// localName reports whether a domain is one that only means something on the
// reporter's own device or network (RFC 6761, RFC 6762, RFC 8375, and
// ".internal" which ICANN reserved for private use).
func localName(h []byte) bool {
	for _, suffix := range [...]string{"localhost", "local", "internal", "home.arpa"} {
		if hasLabelSuffix(h, suffix) {
			return true
		}
	}
	return false
}

// hasLabelSuffix reports whether h is suffix or ends in "."+suffix.
func hasLabelSuffix(h []byte, suffix string) bool {
	return string(h) == suffix || len(h) > len(suffix) && string(h[len(h)-len(suffix):]) == suffix && h[len(h)-len(suffix)-1] == '.'
}

// appendIPv6 appends "[addr]" in RFC 5952 form for the text between brackets.
func appendIPv6(buf []byte, s string) ([]byte, *report.Error) {
	addr, err := netip.ParseAddr(s)
	if err != nil || !addr.Is6() {
		return nil, fail(report.CodeURLMalformed, msgBadIP)
	}
	if addr.Zone() != "" {
		return nil, fail(report.CodeURLHost, msgZone)
	}
	if msg := unreachableIP(addr); msg != "" {
		return nil, fail(report.CodeURLHost, msg)
	}
	buf = append(buf, '[')
	buf = addr.AppendTo(buf)
	return append(buf, ']'), nil
}

// endsInNumber is the WHATWG "ends in a number" test on a lower-case host:
// its last label is all digits, or a hex or octal number.
func endsInNumber(h []byte) bool {
	last := h
	if i := lastDot(h); i >= 0 {
		last = h[i+1:]
	}
	if len(last) == 0 {
		return false
	}
	allDigits := true
	for _, c := range last {
		if !isDigit(c) {
			allDigits = false
			break
		}
	}
	if allDigits {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

func lastDot(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '.' {
			return i
		}
	}
	return -1
}

// parseIPv4 is the WHATWG IPv4 parser: one to four parts, each decimal,
// octal (leading 0) or hex (0x), the last filling the remaining bytes.
func parseIPv4(h []byte) (netip.Addr, bool) {
	var parts [4]uint64
	n := 0
	for len(h) > 0 || n == 0 {
		if n == len(parts) {
			return netip.Addr{}, false
		}
		part := h
		if i := indexDot(h); i >= 0 {
			part, h = h[:i], h[i+1:]
			if len(h) == 0 {
				return netip.Addr{}, false // trailing empty part
			}
		} else {
			h = nil
		}
		v, ok := parseIPv4Number(part)
		if !ok {
			return netip.Addr{}, false
		}
		parts[n] = v
		n++
	}
	var ip uint64
	for i := 0; i < n-1; i++ {
		if parts[i] > 255 {
			return netip.Addr{}, false
		}
		ip = ip<<8 | parts[i]
	}
	lastBits := uint(8 * (5 - n))
	if parts[n-1] >= 1<<lastBits {
		return netip.Addr{}, false
	}
	ip = ip<<lastBits | parts[n-1]
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

func indexDot(b []byte) int {
	for i, c := range b {
		if c == '.' {
			return i
		}
	}
	return -1
}

// parseIPv4Number parses one part of a legacy IPv4 address. Values above
// 2^32 saturate: they are invalid in any position, and saturating keeps long
// runs of digits from overflowing.
func parseIPv4Number(s []byte) (uint64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, s = 16, s[2:]
	case len(s) >= 2 && s[0] == '0':
		base, s = 8, s[1:]
	}
	var v uint64
	for _, c := range s {
		var d uint64
		switch {
		case isDigit(c):
			d = uint64(c - '0')
		case base == 16 && isHex(c):
			d = uint64(unhex(c))
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		if v = v*base + d; v > 1<<32 {
			v = 1<<32 + 1
		}
	}
	return v, true
}

// unreachableIP returns why a hotline cannot reach addr, or "" if it can.
// Besides the ranges that only exist on a local network, it refuses ranges
// that are never routed on the internet at all (documentation, benchmarking,
// multicast, reserved), and IPv6 forms that embed such an IPv4 address.
func unreachableIP(addr netip.Addr) string {
	if addr.Is4In6() {
		return unreachableIP(addr.Unmap())
	}
	if addr.Is4() {
		b := addr.As4()
		switch {
		case addr.IsUnspecified(), addr.IsLoopback():
			return msgOwnDevice
		case addr.IsPrivate(), addr.IsLinkLocalUnicast(),
			b[0] == 100 && b[1]&0xc0 == 64: // 100.64.0.0/10, carrier-grade NAT
			return msgLocalNet
		case b[0] == 0, // 0.0.0.0/8, "this network"
			b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2), // IETF protocol assignments, TEST-NET-1
			b[0] == 198 && b[1]&0xfe == 18,                       // 198.18.0.0/15, benchmarking
			b[0] == 198 && b[1] == 51 && b[2] == 100,             // TEST-NET-2
			b[0] == 203 && b[1] == 0 && b[2] == 113,              // TEST-NET-3
			b[0] >= 224:                                          // multicast, reserved, broadcast
			return msgReservedIP
		}
		return ""
	}

	b := addr.As16()
	switch {
	case addr.IsUnspecified(), addr.IsLoopback():
		return msgOwnDevice
	case isZero(b[:12]):
		// IPv4-compatible ::a.b.c.d (deprecated, but still parsed).
		return unreachableIP(netip.AddrFrom4([4]byte(b[12:])))
	case isZero(b[:8]) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0:
		// IPv4-translated ::ffff:0:a.b.c.d (RFC 2765).
		return unreachableIP(netip.AddrFrom4([4]byte(b[12:])))
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && isZero(b[4:12]):
		// NAT64 64:ff9b::/96 reaches the IPv4 address it embeds.
		return unreachableIP(netip.AddrFrom4([4]byte(b[12:])))
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1:
		// 64:ff9b:1::/48 is NAT64 for local use only (RFC 8215).
		return msgLocalNet
	case b[0] == 0x20 && b[1] == 0x02:
		// 6to4 2002:aabb:ccdd::/48 stands for IPv4 aa.bb.cc.dd.
		return unreachableIP(netip.AddrFrom4([4]byte(b[2:6])))
	case addr.IsPrivate(), // fc00::/7, unique local
		addr.IsLinkLocalUnicast(),
		b[0] == 0xfe && b[1]&0xc0 == 0xc0: // fec0::/10, site-local
		return msgLocalNet
	case addr.IsMulticast(),
		b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8,                        // 2001:db8::/32, documentation
		b[0] == 0x3f && b[1] == 0xff && b[2]&0xf0 == 0,                                      // 3fff::/20, documentation
		b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0x02 && b[4] == 0 && b[5] == 0, // 2001:2::/48, benchmarking
		b[0] == 0x01 && isZero(b[1:8]):                                                      // 100::/64, discard only
		return msgReservedIP
	}
	return ""
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
