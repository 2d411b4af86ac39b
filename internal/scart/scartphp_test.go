package scart

import (
	"regexp"
	"strconv"
	"strings"
)

// This file mirrors, in Go, how SCARt reads an import mail, so that tests
// can check what a hotline's SCARt would store. Source: AbuseIO/SCART-
// application at commit 2656042ca51c0087a371b729c7ae9de029f39759,
// scart/classes/mail/scartReadMailImapMsg.php (checkConvertIMAPbody),
// scartReadMailM356Msg.php (checkConvertM356body) and
// scart/models/ImportWebform.php (getBodyFields, parseYaml, field2input).

// phpQPDecode is PHP's quoted_printable_decode: "=XX" (hex, either case)
// becomes the byte, "=" before a line break is removed with it, any other
// "=" stays.
func phpQPDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '=' {
			b.WriteByte(c)
			continue
		}
		if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
			continue
		}
		// Soft line break: '=' then optional spaces/tabs then CRLF or LF.
		j := i + 1
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j < len(s) && s[j] == '\r' {
			j++
		}
		if j < len(s) && s[j] == '\n' {
			i = j
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scartIMAPLines is checkConvertIMAPbody: raw is the body as IMAP's
// imap_fetchbody gives it (still transfer-encoded).
func scartIMAPLines(raw string) []string {
	body := phpQPDecode(raw)
	if strings.Contains(body, "=0D=0A") {
		body = phpStrReplace(body, []string{"=\n", "=\r", "=\n\r"}, "")
		body = phpStrReplace(body, []string{"\r", "\n"}, "")
		return strings.Split(body, "=0D=0A")
	}
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	return strings.Split(body, "\n")
}

// scartM365Lines is checkConvertM356body: decoded is the body as the
// Microsoft Graph API gives it (already decoded). PHP's '\n' in single
// quotes is a backslash and an n, not a line break.
func scartM365Lines(decoded string) []string {
	body := phpQPDecode(decoded)
	body = phpStrReplace(body, []string{`\n`, `\n\r`}, "\n")
	body = phpStrReplace(body, []string{`\n`, `\r`}, "")
	return strings.Split(body, "\n")
}

// phpStrReplace is str_replace with an array of needles: one after the
// other over the whole string.
func phpStrReplace(s string, needles []string, with string) string {
	for _, n := range needles {
		s = strings.ReplaceAll(s, n, with)
	}
	return s
}

// scartParse is getBodyFields + parseYaml: webfields are the names of the
// webform's fields, lower case. Keys keep their case as in the mail.
func scartParse(lines []string, webfields []string) map[string]string {
	known := map[string]bool{}
	for _, f := range webfields {
		known[strings.ToLower(f)] = true
	}
	out := map[string]string{}
	key := ""
	for _, line := range lines {
		line = phpTrim(line)
		if line == "" {
			continue
		}
		el := strings.Split(line, ":")
		if len(el) > 1 && known[strings.ToLower(el[0])] {
			key = el[0]
			text := strings.Join(el[1:], ":")
			if text != "|" {
				out[phpTrim(key)] = text
			}
		} else if key != "" {
			out[phpTrim(key)] += "\n" + line
		}
	}
	return out
}

// phpTrim is PHP's trim(): " \t\n\r\0\x0B".
func phpTrim(s string) string { return strings.Trim(s, " \t\n\r\x00\x0b") }

// scartWhitelistKey is what Whitelist::emailIsWhitelisted extracts from
// the From header before its LIKE 'key%' look-up.
var scartWhitelistRE = regexp.MustCompile(`(?i)[a-z0-9_\-\+\.]+@[a-z0-9\-]+\.([a-z]{2,4})(?:\.[a-z]{2})?`)

func scartWhitelistKey(from string) string { return scartWhitelistRE.FindString(from) }

// allKeys are the field names of a webform that defines every field.
var allKeys = []string{"url", "referer", "note", "reportit_id", "reference", "content_type", "category",
	"country", "contact", "received_at", "sightings_count", "first_seen", "last_seen", "source"}
