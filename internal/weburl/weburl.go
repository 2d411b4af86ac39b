// Package weburl validates and canonicalises the web addresses people report.
//
// A reported URL is only ever passed on to a hotline, never fetched, so the
// package does no network access and no DNS resolution. It follows the WHATWG
// URL Standard where browsers are lenient (so that what the reporter copied
// from the address bar means what the browser meant), and emits an RFC 3986
// URI so that whoever receives it can parse it with any URL library.
//
// The canonical form exists for two reasons: the hotline gets one clean
// address, and two reports of the same address written differently (case,
// default port, percent-encoding, dot segments) are recognised as duplicates
// through Key.
package weburl

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/reportit/reportit/internal/report"
)

// MaxLen is the longest URL accepted, in bytes, both as sent and once
// canonicalised (percent-encoding can make an address longer).
const MaxLen = 4096

// stackBuf is the size of the output buffer kept on the stack; almost every
// real URL fits, so the usual cost of Canonicalize is the final string.
const stackBuf = 512

// Canonicalize checks that raw is an http or https URL a hotline can visit and
// returns its canonical form. Errors are *report.Error with Field left empty.
//
// The canonical form has a lower-case scheme; a lower-case host, in punycode
// if it is an international name, dotted decimal if it is an IPv4 address in
// any legacy spelling, RFC 5952 form in brackets if IPv6; no default port; the
// userinfo as sent; a path with dot segments resolved; and no bare "?" or "#".
// Escapes get upper-case hex, characters RFC 3986 does not allow are encoded,
// and in the userinfo and path escapes of unreserved characters are decoded.
//
// Canonicalize is idempotent: a URL it returns is returned unchanged.
func Canonicalize(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	// Browsers drop tabs and newlines anywhere in a URL (they appear when an
	// address is copied across a line break).
	if strings.ContainsAny(s, "\t\r\n") {
		s = removeTabsNewlines(s)
	}
	if s == "" {
		return "", fail(report.CodeURLMalformed, msgEmpty)
	}

	// The scheme is judged first: a data: URL is typically far longer than
	// MaxLen, and telling the reporter it is the material itself matters
	// more than telling them it is long.
	var lower [len("https")]byte
	schemeEnd, https, serr := checkScheme(s, &lower)
	if serr != nil {
		return "", serr
	}
	if len(s) > MaxLen {
		return "", tooLong()
	}
	if err := checkChars(s); err != nil {
		return "", err
	}
	if schemeEnd < 0 {
		return "", fail(report.CodeURLMalformed, msgNoScheme)
	}

	var stack [stackBuf]byte
	buf := stack[:0]
	if https {
		buf = append(buf, "https://"...)
	} else {
		buf = append(buf, "http://"...)
	}

	// Special schemes ignore any number of slashes or backslashes after the
	// colon ("http:example.com", "https:\\example.com").
	rest := strings.TrimLeft(s[schemeEnd+1:], `/\`)
	end := strings.IndexAny(rest, `/\?#`)
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]

	hostport := authority
	// The last @ ends the userinfo, as in browsers: "http://a@b@c/" is host c.
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		hostport = authority[at+1:]
		if userinfo := authority[:at]; userinfo != "" {
			buf = appendEscaped(buf, userinfo, userinfoComponent)
			buf = append(buf, '@')
		}
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if buf, err = appendHost(buf, host); err != nil {
		return "", err
	}
	if buf, err = appendPort(buf, port, https); err != nil {
		return "", err
	}

	fragment := ""
	if i := strings.IndexByte(tail, '#'); i >= 0 {
		tail, fragment = tail[:i], tail[i+1:]
	}
	query := ""
	if i := strings.IndexByte(tail, '?'); i >= 0 {
		tail, query = tail[:i], tail[i+1:]
	}
	buf = appendPath(buf, tail)
	// An empty query or fragment says nothing about the resource; dropping
	// the bare "?" or "#" lets "page?" and "page" count as one address.
	if query != "" {
		buf = append(buf, '?')
		buf = appendEscaped(buf, query, queryComponent)
	}
	if fragment != "" {
		buf = append(buf, '#')
		buf = appendEscaped(buf, fragment, fragmentComponent)
	}

	if len(buf) > MaxLen {
		return "", tooLong()
	}
	// Most URLs arrive already canonical (the extension sends what the
	// browser shows); returning the input then avoids copying it.
	if string(buf) == s {
		return s, nil
	}
	return string(buf), nil
}

// Key returns the hex SHA-256 of a canonical URL (from Canonicalize), used to
// recognise repeated reports of the same address without keeping it in the clear
// in an index.
func Key(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

func removeTabsNewlines(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// checkChars refuses invalid UTF-8 and control characters other than the tabs
// and newlines already removed (C0, DEL and C1): they are never part of an
// address a person copied, and may hide what an address says.
func checkChars(s string) *report.Error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fail(report.CodeURLMalformed, msgControl)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fail(report.CodeURLMalformed, msgBadUTF8)
		}
		if r <= 0x9f {
			return fail(report.CodeURLMalformed, msgControl)
		}
		i += size
	}
	return nil
}

// checkScheme finds the scheme of s. It returns the index of the colon ending
// it (or -1 when s has no scheme) and whether it is https; any scheme other
// than http and https is refused with an explanation for that kind of address.
func checkScheme(s string, lower *[len("https")]byte) (colon int, https bool, err *report.Error) {
	// A scheme is ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") followed by ":".
	colon = -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			if i > 0 {
				colon = i
			}
			break
		}
		if isAlpha(c) || i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.') {
			continue
		}
		break
	}
	if colon < 0 {
		return -1, false, nil
	}
	if colon <= len(lower) {
		for i := 0; i < colon; i++ {
			lower[i] = toLower(s[i])
		}
		switch string(lower[:colon]) {
		case "http":
			return colon, false, nil
		case "https":
			return colon, true, nil
		}
	}
	return -1, false, refuseScheme(strings.ToLower(s[:colon]), s[colon+1:])
}

// refuseScheme explains why an address with this (lower-case) scheme cannot
// be reported. rest is what follows the colon.
func refuseScheme(scheme, rest string) *report.Error {
	msg := msgOtherScheme
	code := report.CodeURLScheme
	switch scheme {
	case "data", "blob":
		code, msg = report.CodeURLIsContent, msgIsContent
	case "javascript", "vbscript":
		msg = msgJavaScript
	case "file", "content":
		// content: is how Android apps name files on the phone.
		msg = msgFile
	case "about":
		msg = msgAbout
	case "chrome", "chrome-untrusted", "chrome-search", "chrome-devtools", "devtools",
		"edge", "brave", "opera", "vivaldi", "arc", "browser", "yandex", "samsung",
		"resource", "moz-icon", "moz-page-thumb":
		msg = msgBrowserPage
	case "chrome-extension", "moz-extension", "safari-web-extension", "ms-browser-extension", "extension":
		msg = msgExtension
	case "view-source":
		msg = msgViewSource
	case "ftp", "ftps", "sftp":
		msg = msgFTP
	case "mailto":
		msg = msgMailto
	default:
		switch {
		case len(scheme) == 1 && rest != "" && (rest[0] == '\\' || rest[0] == '/'):
			// C:\Users\... is a Windows file path, not a scheme.
			msg = msgFile
		case strings.Contains(scheme, ".") || scheme == "localhost" || looksLikePort(rest):
			// "example.com:8080/x" is a host and port without the scheme.
			code, msg = report.CodeURLMalformed, msgNoScheme
		}
	}
	return fail(code, msg)
}

// looksLikePort reports whether s starts with a port number that ends the
// authority, as in "8080/page".
func looksLikePort(s string) bool {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n == 0 || n > 5 {
		return false
	}
	return n == len(s) || strings.IndexByte(`/\?#`, s[n]) >= 0
}

// splitHostPort splits the host (with brackets for IPv6) from the port.
func splitHostPort(hostport string) (host, port string, err *report.Error) {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", fail(report.CodeURLMalformed, msgBadIP)
		}
		host, after := hostport[:end+1], hostport[end+1:]
		if after == "" {
			return host, "", nil
		}
		if after[0] != ':' {
			return "", "", fail(report.CodeURLMalformed, msgBadIP)
		}
		return host, after[1:], nil
	}
	if i := strings.IndexByte(hostport, ':'); i >= 0 {
		return hostport[:i], hostport[i+1:], nil
	}
	return hostport, "", nil
}

// appendPort appends ":port" unless the port is empty or the scheme's
// default. Leading zeros are dropped; 0 is refused, as nothing can be reached
// on it.
func appendPort(buf []byte, port string, https bool) ([]byte, *report.Error) {
	if port == "" {
		return buf, nil
	}
	n := 0
	for i := 0; i < len(port); i++ {
		if !isDigit(port[i]) {
			return nil, fail(report.CodeURLMalformed, msgBadPort)
		}
		n = n*10 + int(port[i]-'0')
		if n > 65535 {
			return nil, fail(report.CodeURLMalformed, msgBadPort)
		}
	}
	if n == 0 {
		return nil, fail(report.CodeURLMalformed, msgBadPort)
	}
	if https && n == 443 || !https && n == 80 {
		return buf, nil
	}
	buf = append(buf, ':')
	return strconv.AppendInt(buf, int64(n), 10), nil
}

// appendPath appends the normalised path: always absolute, backslashes read
// as slashes (as browsers do for http), percent-encoding normalised, and dot
// segments ("." and "..", also when percent-encoded) resolved.
func appendPath(buf []byte, path string) []byte {
	root := len(buf)
	if path != "" {
		path = path[1:] // the slash or backslash that ended the authority
		for {
			end := strings.IndexAny(path, `/\`)
			last := end < 0
			seg := path
			if !last {
				seg, path = path[:end], path[end+1:]
			}
			mark := len(buf)
			buf = append(buf, '/')
			buf = appendEscaped(buf, seg, pathComponent)
			// The segment is tested after decoding, so %2e and %2E count.
			switch string(buf[mark+1:]) {
			case ".":
				buf = buf[:mark]
			case "..":
				buf = buf[:mark]
				if i := lastSlash(buf[root:]); i >= 0 {
					buf = buf[:root+i]
				}
			default:
				if last {
					return buf
				}
				continue
			}
			// A dot segment at the end leaves a directory: "/a/b/.." is "/a/".
			if last {
				return append(buf, '/')
			}
		}
	}
	if len(buf) == root {
		buf = append(buf, '/')
	}
	return buf
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}

// component is a part of the URL, for percent-encoding rules.
type component uint8

const (
	userinfoComponent component = iota
	pathComponent
	queryComponent
	fragmentComponent
)

// appendEscaped appends s with its percent-encoding normalised for c:
// escapes get upper-case hex, a "%" that starts no escape becomes "%25", and
// every byte RFC 3986 does not allow in c is encoded (non-ASCII as UTF-8
// bytes). In the userinfo and path, escapes of unreserved characters are
// decoded (RFC 3986 §6.2.2.2). The query and fragment keep their escapes, as
// servers and scripts may tell "%7E" from "~" there.
func appendEscaped(buf []byte, s string, c component) []byte {
	const upperhex = "0123456789ABCDEF"
	decode := c == userinfoComponent || c == pathComponent
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b == '%' {
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				v := unhex(s[i+1])<<4 | unhex(s[i+2])
				if decode && isUnreserved(v) {
					buf = append(buf, v)
				} else {
					buf = append(buf, '%', upperhex[v>>4], upperhex[v&15])
				}
				i += 2
				continue
			}
			buf = append(buf, "%25"...)
			continue
		}
		if allowed(b, c) {
			buf = append(buf, b)
		} else {
			buf = append(buf, '%', upperhex[b>>4], upperhex[b&15])
		}
	}
	return buf
}

// allowed reports whether RFC 3986 allows b unencoded in component c.
func allowed(b byte, c component) bool {
	if isUnreserved(b) || isSubDelim(b) || b == ':' {
		return true
	}
	switch c {
	case pathComponent:
		return b == '@'
	case queryComponent, fragmentComponent:
		return b == '@' || b == '/' || b == '?'
	}
	return false
}

func isUnreserved(b byte) bool {
	return isAlpha(b) || isDigit(b) || b == '-' || b == '.' || b == '_' || b == '~'
}

func isSubDelim(b byte) bool {
	switch b {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}

func isAlpha(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
func isDigit(b byte) bool { return '0' <= b && b <= '9' }
func isHex(b byte) bool   { return isDigit(b) || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' }

func unhex(b byte) byte {
	switch {
	case isDigit(b):
		return b - '0'
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}

func toLower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
