package weburl

import (
	"errors"
	"strings"
	"testing"

	"github.com/reportit/reportit/internal/report"
)

type canonTest struct {
	name string
	in   string
	want string      // canonical form, when accepted
	code report.Code // error code, when refused
	msg  string      // exact message, when it matters which explanation is given
}

var acceptTests = []canonTest{
	// Already canonical.
	{name: "realistic", in: "https://www.example.com/path/to/page.html?id=123&ref=abc#top", want: "https://www.example.com/path/to/page.html?id=123&ref=abc#top"},
	{name: "onion", in: "http://abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstu.onion/x", want: "http://abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstu.onion/x"},
	{name: "hyphens at 3-4 (video CDN)", in: "https://r3---sn-abc.googlevideo.com/videoplayback", want: "https://r3---sn-abc.googlevideo.com/videoplayback"},
	{name: "underscore in host", in: "https://my_site.example.com/", want: "https://my_site.example.com/"},
	{name: "single label host", in: "http://intranet/", want: "http://intranet/"},
	{name: "name of 253 bytes", in: "https://" + strings.Repeat("abcdefghi.", 25) + "com/", want: "https://" + strings.Repeat("abcdefghi.", 25) + "com/"},
	{name: "label of 63 bytes", in: "https://" + strings.Repeat("a", 63) + ".com/", want: "https://" + strings.Repeat("a", 63) + ".com/"},
	{name: "localhost only as a label prefix", in: "http://localhost.example.com/", want: "http://localhost.example.com/"},
	{name: "local in the middle", in: "http://printer.local.example/", want: "http://printer.local.example/"},

	// Scheme and case.
	{name: "upper scheme and host", in: "HTTP://EXAMPLE.COM", want: "http://example.com/"},
	{name: "mixed case scheme", in: "HtTpS://Example.Com/Path/File.HTML", want: "https://example.com/Path/File.HTML"},
	{name: "scheme without slashes", in: "http:example.com/x", want: "http://example.com/x"},
	{name: "one slash", in: "https:/example.com/x", want: "https://example.com/x"},
	{name: "many slashes", in: "https:////example.com/", want: "https://example.com/"},
	{name: "three slashes", in: "https:///example.com/x", want: "https://example.com/x"},
	{name: "backslashes", in: `https:\\example.com\a\b`, want: "https://example.com/a/b"},

	// Whitespace.
	{name: "surrounding spaces", in: "  https://example.com/a \n", want: "https://example.com/a"},
	{name: "surrounding unicode spaces", in: "\u00a0https://example.com/\u3000", want: "https://example.com/"},
	{name: "tab and newlines inside", in: "ht\ttps://exa\nmple.com/pa\r\nth", want: "https://example.com/path"},
	{name: "inner space is encoded", in: "https://example.com/a b", want: "https://example.com/a%20b"},

	// Host.
	{name: "empty path", in: "https://example.com", want: "https://example.com/"},
	{name: "query without path", in: "https://example.com?q=1", want: "https://example.com/?q=1"},
	{name: "fragment without path", in: "https://example.com#x", want: "https://example.com/#x"},
	{name: "trailing dot", in: "https://example.com./", want: "https://example.com/"},
	{name: "percent-encoded host", in: "https://ex%61mple.com/", want: "https://example.com/"},
	{name: "unicode host", in: "https://Bücher.example/", want: "https://xn--bcher-kva.example/"},
	{name: "non-transitional sharp s", in: "https://straße.de/", want: "https://xn--strae-oqa.de/"},
	{name: "cyrillic host", in: "https://пример.рф/", want: "https://xn--e1afmkfd.xn--p1ai/"},
	{name: "japanese host and path", in: "https://例え.テスト/パス", want: "https://xn--r8jz45g.xn--zckzah/%E3%83%91%E3%82%B9"},
	{name: "full-width host", in: "http://ｅｘａｍｐｌｅ．ｃｏｍ/", want: "http://example.com/"},
	{name: "ideographic full stop", in: "http://example。com。/", want: "http://example.com/"},
	{name: "percent-encoded unicode host", in: "https://%C3%BC.example/", want: "https://xn--tda.example/"},
	{name: "upper-case punycode", in: "https://XN--BCHER-KVA.example/", want: "https://xn--bcher-kva.example/"},

	// Port.
	{name: "http default port", in: "http://example.com:80/", want: "http://example.com/"},
	{name: "https default port", in: "https://example.com:443/", want: "https://example.com/"},
	{name: "443 on http kept", in: "http://example.com:443/", want: "http://example.com:443/"},
	{name: "80 on https kept", in: "https://example.com:80/", want: "https://example.com:80/"},
	{name: "leading zeros", in: "https://example.com:08443/", want: "https://example.com:8443/"},
	{name: "default port with leading zeros", in: "http://example.com:0080/", want: "http://example.com/"},
	{name: "empty port", in: "http://example.com:/", want: "http://example.com/"},
	{name: "highest port", in: "https://example.com:65535/", want: "https://example.com:65535/"},

	// Userinfo.
	{name: "userinfo kept", in: "https://user:p%40ss@example.com/", want: "https://user:p%40ss@example.com/"},
	{name: "userinfo escapes normalised", in: "https://us%65r:pa%2fss@example.com/", want: "https://user:pa%2Fss@example.com/"},
	{name: "userinfo space", in: "https://a b@example.com/", want: "https://a%20b@example.com/"},
	{name: "last @ ends userinfo", in: "https://a@b@example.com/", want: "https://a%40b@example.com/"},
	{name: "empty userinfo dropped", in: "https://@example.com/", want: "https://example.com/"},

	// Path.
	{name: "dot segments", in: "https://example.com/a/./b/../c", want: "https://example.com/a/c"},
	{name: "trailing double dot", in: "https://example.com/a/b/..", want: "https://example.com/a/"},
	{name: "trailing dot segment", in: "https://example.com/a/.", want: "https://example.com/a/"},
	{name: "double dot above root", in: "https://example.com/../../x", want: "https://example.com/x"},
	{name: "only double dot", in: "https://example.com/..", want: "https://example.com/"},
	{name: "encoded double dot", in: "https://example.com/a/%2e%2E/b", want: "https://example.com/b"},
	{name: "half encoded double dot", in: "https://example.com/a/b/.%2e", want: "https://example.com/a/"},
	{name: "empty segments kept", in: "https://example.com/a//b/../c", want: "https://example.com/a//c"},
	{name: "dots inside segments kept", in: "https://example.com/a.b/..c/d../...", want: "https://example.com/a.b/..c/d../..."},
	{name: "unreserved decoded", in: "https://example.com/%7e%7Euser/%41%62%2D%2e%5F", want: "https://example.com/~~user/Ab-._"},
	{name: "reserved escapes kept, hex upper", in: "https://example.com/a%2fb%3a%3F%23", want: "https://example.com/a%2Fb%3A%3F%23"},
	{name: "stray percent", in: "https://example.com/100%/%zz/%4", want: "https://example.com/100%25/%25zz/%254"},
	{name: "percent-encoded percent kept", in: "https://example.com/%25", want: "https://example.com/%25"},
	{name: "unicode path", in: "https://example.com/ü", want: "https://example.com/%C3%BC"},
	{name: "characters that must be encoded", in: "https://example.com/a|b^c`{d}\"<>[]", want: "https://example.com/a%7Cb%5Ec%60%7Bd%7D%22%3C%3E%5B%5D"},
	{name: "sub-delims kept", in: "https://example.com/a!$&'()*+,;=:@b", want: "https://example.com/a!$&'()*+,;=:@b"},

	// Query.
	{name: "query escapes not decoded", in: "https://example.com/?q=%7e&r=%2f", want: "https://example.com/?q=%7E&r=%2F"},
	{name: "query order kept", in: "https://example.com/?b=2&a=1&b=1", want: "https://example.com/?b=2&a=1&b=1"},
	{name: "query space and unicode", in: "https://example.com/?q=a b&u=ü", want: "https://example.com/?q=a%20b&u=%C3%BC"},
	{name: "query stray percent", in: "https://example.com/?q=100%", want: "https://example.com/?q=100%25"},
	{name: "query slash and question mark kept", in: "https://example.com/?a=/x?y", want: "https://example.com/?a=/x?y"},
	{name: "query backslash encoded", in: `https://example.com/?x=\`, want: "https://example.com/?x=%5C"},
	{name: "query dot segments kept", in: "https://example.com/?p=../a/./b", want: "https://example.com/?p=../a/./b"},
	{name: "empty query dropped", in: "https://example.com/?", want: "https://example.com/"},

	// Fragment.
	{name: "fragment route kept", in: "https://example.com/#!/photos/1?x=2", want: "https://example.com/#!/photos/1?x=2"},
	{name: "fragment escapes", in: "https://example.com/#a b%7e#c", want: "https://example.com/#a%20b%7E%23c"},
	{name: "empty fragment dropped", in: "https://example.com/#", want: "https://example.com/"},
	{name: "empty query and fragment dropped", in: "https://example.com/a?#", want: "https://example.com/a"},
	{name: "question mark in fragment", in: "https://example.com/#?q", want: "https://example.com/#?q"},

	// Legacy and literal IP addresses that are public.
	{name: "decimal IPv4", in: "http://134744072/", want: "http://8.8.8.8/"},
	{name: "hex IPv4 parts", in: "http://0x08.0x08.0X08.0x8/", want: "http://8.8.8.8/"},
	{name: "octal IPv4 parts", in: "http://010.010.010.010/", want: "http://8.8.8.8/"},
	{name: "three-part IPv4", in: "http://8.8.2056/", want: "http://8.8.8.8/"},
	{name: "two-part IPv4", in: "http://8.526344/", want: "http://8.8.8.8/"},
	{name: "single hex IPv4", in: "http://0x8080808/", want: "http://8.8.8.8/"},
	{name: "IPv4 trailing dot", in: "http://8.8.8.8./", want: "http://8.8.8.8/"},
	{name: "full-width IPv4", in: "http://８.８.８.８/", want: "http://8.8.8.8/"},
	{name: "outside CGNAT", in: "http://100.128.0.1/", want: "http://100.128.0.1/"},
	{name: "below 172.16/12", in: "http://172.15.255.255/", want: "http://172.15.255.255/"},
	{name: "above 172.16/12", in: "http://172.32.0.1/", want: "http://172.32.0.1/"},
	{name: "outside benchmarking", in: "http://198.20.0.1/", want: "http://198.20.0.1/"},
	{name: "below multicast", in: "http://223.255.255.255/", want: "http://223.255.255.255/"},
	{name: "IPv6 compressed", in: "http://[2606:4700:4700:0000:0000:0000:0000:1111]/", want: "http://[2606:4700:4700::1111]/"},
	{name: "IPv6 upper hex and port", in: "https://[2606:4700::ABCD]:8443/", want: "https://[2606:4700::abcd]:8443/"},
	{name: "IPv6 default port", in: "http://[2606:4700::1]:80", want: "http://[2606:4700::1]/"},
	{name: "IPv4-mapped public", in: "http://[::FFFF:8.8.8.8]/", want: "http://[::ffff:8.8.8.8]/"},
	{name: "IPv4-mapped public in hex", in: "http://[::ffff:808:808]/", want: "http://[::ffff:8.8.8.8]/"},
	{name: "NAT64 public", in: "http://[64:ff9b::8.8.8.8]/", want: "http://[64:ff9b::808:808]/"},
	{name: "6to4 public", in: "http://[2002:808:808::1]/", want: "http://[2002:808:808::1]/"},
}

var refuseTests = []canonTest{
	// The material itself.
	{name: "data URL", in: "data:image/png;base64,iVBORw0KGgo=", code: report.CodeURLIsContent, msg: msgIsContent},
	{name: "data URL upper case", in: "DATA:text/html,<b>x</b>", code: report.CodeURLIsContent, msg: msgIsContent},
	{name: "data URL with spaces and tab", in: " \tda\tta:image/jpeg;base64,/9j/", code: report.CodeURLIsContent, msg: msgIsContent},
	{name: "data URL longer than MaxLen", in: "data:image/jpeg;base64," + strings.Repeat("A", 2*MaxLen), code: report.CodeURLIsContent, msg: msgIsContent},
	{name: "blob URL", in: "blob:https://example.com/0e3f5c1a-7f2b-4c6e-9d0a-2b1c3d4e5f60", code: report.CodeURLIsContent, msg: msgIsContent},

	// Other schemes, each with its own explanation.
	{name: "javascript", in: "javascript:alert(1)", code: report.CodeURLScheme, msg: msgJavaScript},
	{name: "javascript mixed case", in: "JavaScript:void(0)", code: report.CodeURLScheme, msg: msgJavaScript},
	{name: "file", in: "file:///C:/Users/me/x.jpg", code: report.CodeURLScheme, msg: msgFile},
	{name: "windows path", in: `C:\Users\me\Downloads\x.jpg`, code: report.CodeURLScheme, msg: msgFile},
	{name: "about", in: "about:blank", code: report.CodeURLScheme, msg: msgAbout},
	{name: "chrome", in: "chrome://settings", code: report.CodeURLScheme, msg: msgBrowserPage},
	{name: "edge", in: "edge://history", code: report.CodeURLScheme, msg: msgBrowserPage},
	{name: "brave", in: "brave://downloads", code: report.CodeURLScheme, msg: msgBrowserPage},
	{name: "opera", in: "opera://settings", code: report.CodeURLScheme, msg: msgBrowserPage},
	{name: "chrome extension", in: "chrome-extension://abcdefghijklmnop/page.html", code: report.CodeURLScheme, msg: msgExtension},
	{name: "firefox extension", in: "moz-extension://0e3f5c1a-7f2b/page.html", code: report.CodeURLScheme, msg: msgExtension},
	{name: "safari extension", in: "safari-web-extension://abc/page.html", code: report.CodeURLScheme, msg: msgExtension},
	{name: "view-source", in: "view-source:https://example.com/", code: report.CodeURLScheme, msg: msgViewSource},
	{name: "ftp", in: "ftp://ftp.example.com/x.jpg", code: report.CodeURLScheme, msg: msgFTP},
	{name: "mailto", in: "mailto:someone@example.com", code: report.CodeURLScheme, msg: msgMailto},
	{name: "websocket", in: "wss://example.com/socket", code: report.CodeURLScheme, msg: msgOtherScheme},
	{name: "tel", in: "tel:+441234567890", code: report.CodeURLScheme, msg: msgOtherScheme},
	{name: "tel digits only", in: "tel:01234567890", code: report.CodeURLScheme, msg: msgOtherScheme},
	{name: "unknown scheme, digits then text", in: "app:80x", code: report.CodeURLScheme, msg: msgOtherScheme},

	// No scheme.
	{name: "host and path", in: "example.com/x", code: report.CodeURLMalformed, msg: msgNoScheme},
	{name: "www host", in: "www.example.com", code: report.CodeURLMalformed, msg: msgNoScheme},
	{name: "protocol-relative", in: "//example.com/x", code: report.CodeURLMalformed, msg: msgNoScheme},
	{name: "host and port", in: "example.com:8080/x", code: report.CodeURLMalformed, msg: msgNoScheme},
	{name: "localhost and port", in: "localhost:3000", code: report.CodeURLMalformed, msg: msgNoScheme},
	{name: "IPv4 and port", in: "127.0.0.1:8080", code: report.CodeURLMalformed, msg: msgNoScheme},
	{name: "missing colon", in: "https//example.com/", code: report.CodeURLMalformed, msg: msgNoScheme},
	{name: "path only", in: "/a/b", code: report.CodeURLMalformed, msg: msgNoScheme},

	// Characters.
	{name: "empty", in: "", code: report.CodeURLMalformed, msg: msgEmpty},
	{name: "only whitespace", in: " \t\r\n ", code: report.CodeURLMalformed, msg: msgEmpty},
	{name: "NUL", in: "https://exa\x00mple.com/", code: report.CodeURLMalformed, msg: msgControl},
	{name: "escape", in: "https://example.com/\x1b[31m", code: report.CodeURLMalformed, msg: msgControl},
	{name: "DEL", in: "https://example.com/\x7f", code: report.CodeURLMalformed, msg: msgControl},
	{name: "C1 control", in: "https://example.com/a\u0085b", code: report.CodeURLMalformed, msg: msgControl},
	{name: "invalid UTF-8", in: "https://example.com/\xff", code: report.CodeURLMalformed, msg: msgBadUTF8},

	// Host syntax.
	{name: "no host", in: "https://", code: report.CodeURLMalformed, msg: msgNoHost},
	{name: "no host, only slashes", in: "https:///", code: report.CodeURLMalformed, msg: msgNoHost},
	{name: "no host, query", in: "https://?q", code: report.CodeURLMalformed, msg: msgNoHost},
	{name: "userinfo but no host", in: "https://user@/", code: report.CodeURLMalformed, msg: msgNoHost},
	{name: "space in host", in: "https://exa mple.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "stray percent in host", in: "https://exa%mple.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "encoded NUL in host", in: "https://ex%00ample.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "encoded invalid UTF-8 in host", in: "https://%ff.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "encoded slash in host", in: "https://a%2fb.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "symbol in host", in: "https://exa!mple.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "bracket in host", in: "https://exa[mple.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "empty label", in: "https://example..com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "leading dot", in: "https://.example.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "only a dot", in: "https://./", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "two trailing dots", in: "https://example.com../", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "label over 63", in: "https://" + strings.Repeat("a", 64) + ".com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "name over 253", in: "https://" + strings.Repeat("abcdefghi.", 25) + "info/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "invalid punycode", in: "https://xn--a.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "punycode of ASCII", in: "https://xn--abc-.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "disallowed unicode in host", in: "https://exa\u2028mple.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "bidi rule", in: "https://a\u05d0.com/", code: report.CodeURLMalformed, msg: msgBadHost},
	{name: "full-width slash in host", in: "https://a\uff0fb.com/", code: report.CodeURLMalformed, msg: msgBadHost},

	// IP syntax.
	{name: "five parts", in: "http://1.2.3.4.5/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "part over 255", in: "http://1.2.3.256/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "first part over 255", in: "http://256.1.1.1/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "number over 32 bits", in: "http://4294967296/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "huge hex number", in: "http://0x" + strings.Repeat("f", 40) + "/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "bad octal", in: "http://09.1.1.1/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "domain ending in a number", in: "http://example.123/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "empty IPv4 part", in: "http://1..2.3/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "unclosed bracket", in: "http://[::1/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "IPv4 in brackets", in: "http://[1.2.3.4]/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "text after bracket", in: "http://[2606:4700::1]x/", code: report.CodeURLMalformed, msg: msgBadIP},
	{name: "bad IPv6", in: "http://[2606:4700::g]/", code: report.CodeURLMalformed, msg: msgBadIP},

	// Port.
	{name: "port zero", in: "http://example.com:0/", code: report.CodeURLMalformed, msg: msgBadPort},
	{name: "port too big", in: "http://example.com:65536/", code: report.CodeURLMalformed, msg: msgBadPort},
	{name: "port overflow", in: "http://example.com:99999999999999999999999/", code: report.CodeURLMalformed, msg: msgBadPort},
	{name: "port with letter", in: "http://example.com:8a/", code: report.CodeURLMalformed, msg: msgBadPort},
	{name: "negative port", in: "http://example.com:-1/", code: report.CodeURLMalformed, msg: msgBadPort},
	{name: "two colons", in: "http://example.com:80:80/", code: report.CodeURLMalformed, msg: msgBadPort},

	// Unreachable names.
	{name: "localhost", in: "http://localhost/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "localhost upper case with port", in: "http://LOCALHOST:8080/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "localhost trailing dot", in: "http://localhost./", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "subdomain of localhost", in: "http://app.localhost/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: ".local", in: "http://printer.local/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: ".internal", in: "http://service.internal/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: ".home.arpa", in: "http://router.home.arpa/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "full-width localhost", in: "http://ｌｏｃａｌｈｏｓｔ/", code: report.CodeURLHost, msg: msgOwnDevice},

	// Unreachable IPv4, in every spelling.
	{name: "loopback", in: "http://127.0.0.1/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback elsewhere in 127/8", in: "http://127.255.0.9/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback short", in: "http://127.1/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback decimal", in: "http://2130706433/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback hex short", in: "http://0x7f.1/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback octal", in: "http://0177.0.0.1/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback hex", in: "http://0x7F000001/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback full-width", in: "http://１２７.０.０.１/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback percent-encoded", in: "http://127%2e0.0.1/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "loopback trailing dot and port", in: "http://127.0.0.1.:8080/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "unspecified", in: "http://0.0.0.0/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "unspecified short", in: "http://0/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "this network", in: "http://0.1.2.3/", code: report.CodeURLHost, msg: msgReservedIP},
	{name: "private 10/8", in: "http://10.1.2.3/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "private 172.16/12 low", in: "http://172.16.0.1/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "private 172.16/12 high", in: "http://172.31.255.255/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "private 192.168/16", in: "http://192.168.1.1/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "private decimal", in: "http://3232235777/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "link-local", in: "http://169.254.169.254/latest/meta-data/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "CGNAT low", in: "http://100.64.0.1/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "CGNAT high", in: "http://100.127.255.255/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "benchmarking", in: "http://198.18.0.1/", code: report.CodeURLHost, msg: msgReservedIP},
	{name: "benchmarking high", in: "http://198.19.255.255/", code: report.CodeURLHost, msg: msgReservedIP},
	{name: "documentation", in: "http://192.0.2.1/", code: report.CodeURLHost, msg: msgReservedIP},
	{name: "multicast", in: "http://224.0.0.1/", code: report.CodeURLHost, msg: msgReservedIP},
	{name: "broadcast", in: "http://255.255.255.255/", code: report.CodeURLHost, msg: msgReservedIP},

	// Unreachable IPv6, including forms that embed an unreachable IPv4.
	{name: "IPv6 loopback", in: "http://[::1]/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "IPv6 loopback long", in: "http://[0:0:0:0:0:0:0:1]:8080/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "IPv6 unspecified", in: "http://[::]/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "IPv6 link-local", in: "http://[fe80::1]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "IPv6 site-local", in: "http://[fec0::1]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "IPv6 zone", in: "http://[fe80::1%25eth0]/", code: report.CodeURLHost, msg: msgZone},
	{name: "IPv6 zone on global address", in: "http://[2606:4700::1%25en0]/", code: report.CodeURLHost, msg: msgZone},
	{name: "IPv6 unique local fc", in: "http://[fc00::1]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "IPv6 unique local fd", in: "http://[FD12:3456::1]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "IPv6 multicast", in: "http://[ff02::1]/", code: report.CodeURLHost, msg: msgReservedIP},
	{name: "IPv6 documentation", in: "http://[2001:db8::1]/", code: report.CodeURLHost, msg: msgReservedIP},
	{name: "IPv4-mapped loopback", in: "http://[::ffff:127.0.0.1]/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "IPv4-mapped loopback hex", in: "http://[::ffff:7f00:1]/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "IPv4-mapped private", in: "http://[::ffff:192.168.0.1]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "IPv4-compatible loopback", in: "http://[::127.0.0.1]/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "IPv4-compatible private", in: "http://[::10.0.0.1]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "IPv4-translated private", in: "http://[::ffff:0:10.0.0.1]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "NAT64 private", in: "http://[64:ff9b::10.0.0.1]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "NAT64 loopback hex", in: "http://[64:ff9b::7f00:1]/", code: report.CodeURLHost, msg: msgOwnDevice},
	{name: "local-use NAT64", in: "http://[64:ff9b:1::8.8.8.8]/", code: report.CodeURLHost, msg: msgLocalNet},
	{name: "6to4 private", in: "http://[2002:c0a8:101::1]/", code: report.CodeURLHost, msg: msgLocalNet},

	// Length.
	{name: "input too long", in: "https://example.com/" + strings.Repeat("a", MaxLen), code: report.CodeURLTooLong},
	{name: "output too long", in: "https://example.com/" + strings.Repeat("ü", 1000), code: report.CodeURLTooLong},
}

func TestCanonicalizeAccepts(t *testing.T) {
	for _, tt := range acceptTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize(tt.in)
			if err != nil {
				t.Fatalf("Canonicalize(%q): %v, want %q", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Fatalf("Canonicalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// The canonical form is a fixed point.
			if again, err := Canonicalize(got); err != nil || again != got {
				t.Fatalf("Canonicalize(%q) = %q, %v; want it unchanged", got, again, err)
			}
		})
	}
}

func TestCanonicalizeRefuses(t *testing.T) {
	for _, tt := range refuseTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize(tt.in)
			if err == nil {
				t.Fatalf("Canonicalize(%.80q) = %q, want error %s", tt.in, got, tt.code)
			}
			var e *report.Error
			if !errors.As(err, &e) {
				t.Fatalf("Canonicalize(%.80q) error %T, want *report.Error", tt.in, err)
			}
			if e.Code != tt.code {
				t.Fatalf("Canonicalize(%.80q) code %q (%s), want %q", tt.in, e.Code, e.Message, tt.code)
			}
			if tt.msg != "" && e.Message != tt.msg {
				t.Fatalf("Canonicalize(%.80q) message %q, want %q", tt.in, e.Message, tt.msg)
			}
			if e.Field != "" || e.Message == "" {
				t.Fatalf("Canonicalize(%.80q) = %#v: want a message and no field", tt.in, e)
			}
		})
	}
}

// The limit is on bytes, inclusive, before and after canonicalising.
func TestMaxLen(t *testing.T) {
	prefix := "https://example.com/"
	exact := prefix + strings.Repeat("a", MaxLen-len(prefix))
	if got, err := Canonicalize(exact); err != nil || got != exact {
		t.Fatalf("URL of exactly MaxLen bytes: got %.40q, %v", got, err)
	}
	if _, err := Canonicalize(exact + "a"); report.ErrorCode(err) != report.CodeURLTooLong {
		t.Fatalf("URL of MaxLen+1 bytes: got %v, want %s", err, report.CodeURLTooLong)
	}
	// Surrounding whitespace is not part of the URL.
	if _, err := Canonicalize("  " + exact + "\n"); err != nil {
		t.Fatalf("URL of MaxLen bytes with whitespace around it: %v", err)
	}
	// An escape that grows the output past the limit.
	grown := prefix + strings.Repeat("a", MaxLen-len(prefix)-2) + " a"
	if _, err := Canonicalize(grown); report.ErrorCode(err) != report.CodeURLTooLong {
		t.Fatalf("URL whose encoding exceeds MaxLen: got %v, want %s", err, report.CodeURLTooLong)
	}
}

// Callers set Field on the error they get, so no two calls may share one.
func TestErrorsAreNotShared(t *testing.T) {
	_, err1 := Canonicalize("javascript:x")
	var e1 *report.Error
	if !errors.As(err1, &e1) {
		t.Fatalf("error %T, want *report.Error", err1)
	}
	e1.Field = "url"
	_, err2 := Canonicalize("javascript:x")
	var e2 *report.Error
	if !errors.As(err2, &e2) || e2 == e1 || e2.Field != "" {
		t.Fatalf("second error %#v shares state with the first", err2)
	}
}

// Every explanation is distinct: a reporter given one has been told
// something specific about their address.
func TestMessagesDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, tt := range refuseTests {
		if tt.msg == "" {
			continue
		}
		if name, ok := seen[tt.msg]; ok && name != string(tt.code) {
			t.Errorf("message %q used for codes %s and %s", tt.msg, name, tt.code)
		}
		seen[tt.msg] = string(tt.code)
	}
	if len(seen) < 20 {
		t.Errorf("only %d distinct messages exercised", len(seen))
	}
}

// parseIPv4 on its own, for inputs appendHost never passes it.
func TestParseIPv4(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4":  "1.2.3.4",
		"0x":       "0.0.0.0",
		"1.":       "",
		".1":       "",
		"1.2.3.4.": "",
	} {
		addr, ok := parseIPv4([]byte(in))
		if got := addr.String(); ok != (want != "") || ok && got != want {
			t.Errorf("parseIPv4(%q) = %s, %v; want %q", in, got, ok, want)
		}
	}
}

func TestKey(t *testing.T) {
	const want = "0f115db062b7c0dd030b16878c99dea5c354b49dc37b38eb8846179c7783e9d7" // sha256sum of the URL
	if got := Key("https://example.com/"); got != want {
		t.Fatalf("Key = %s, want %s", got, want)
	}
	// Spellings of one address share a key; different addresses do not.
	a, _ := Canonicalize("HTTPS://Example.COM:443/a/../%7e?x=1#")
	b, _ := Canonicalize("https://example.com/~?x=1")
	c, _ := Canonicalize("https://example.com/~?x=2")
	if a == "" || Key(a) != Key(b) {
		t.Fatalf("Key(%q) != Key(%q)", a, b)
	}
	if Key(b) == Key(c) {
		t.Fatalf("Key(%q) == Key(%q)", b, c)
	}
}

// Canonicalize must not allocate more than the result for a URL that needs
// changes, and nothing for one that is already canonical.
func TestAllocs(t *testing.T) {
	const changed = "HTTPS://www.Example.com:443/path/to/./page.html?id=123&ref=abc#top"
	if n := testing.AllocsPerRun(100, func() { _, _ = Canonicalize(changed) }); n > 1 {
		t.Errorf("Canonicalize of a URL to change: %v allocations, want at most 1", n)
	}
	const canonical = "https://www.example.com/path/to/page.html?id=123&ref=abc#top"
	if n := testing.AllocsPerRun(100, func() { _, _ = Canonicalize(canonical) }); n != 0 {
		t.Errorf("Canonicalize of a canonical URL: %v allocations, want 0", n)
	}
}

func BenchmarkCanonicalize(b *testing.B) {
	b.Run("canonical", func(b *testing.B) {
		benchmarkCanonicalize(b, "https://www.example.com/watch/v/12345/clip-title.html?ref=feed&page=2#comments")
	})
	b.Run("to-normalise", func(b *testing.B) {
		benchmarkCanonicalize(b, " HTTPS://WWW.Example.com:443/watch/v/./12345/clip%2dtitle.html?ref=feed&page=2#comments\n")
	})
	b.Run("unicode-host", func(b *testing.B) {
		benchmarkCanonicalize(b, "https://bücher.example/straße/ü?q=ü")
	})
}

func benchmarkCanonicalize(b *testing.B, in string) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonicalize(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Key("https://www.example.com/watch/v/12345/clip-title.html?ref=feed&page=2#comments")
	}
}
