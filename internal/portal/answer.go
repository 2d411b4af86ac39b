package portal

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds on what a portal's answer may make us do or keep.
const (
	// MaxAnswerBody is how much of an answer's body is read. The only thing
	// we want from it is a short reference.
	MaxAnswerBody = 64 << 10
	// MaxReferenceLen bounds the hotline's reference we keep, in bytes.
	MaxReferenceLen = 128
	// DefaultMaxRetryAfter caps a Retry-After we honour. A portal in
	// maintenance may ask for hours; a report is most useful soon, and the
	// breaker already stops us hammering a portal that keeps failing.
	DefaultMaxRetryAfter = 6 * time.Hour
	// absurdRetryAfter is beyond any sensible maintenance window (and the
	// default 72 h maximum age): a value this large is a bug on the
	// portal's side (milliseconds sent as seconds, a wrong year), so it is
	// ignored rather than capped.
	absurdRetryAfter = 7 * 24 * time.Hour
)

// ParseRetryAfter reads a Retry-After value (RFC 9110 section 10.2.3):
// delta-seconds or an HTTP-date, relative to now. ok is false for an empty,
// malformed or absurd (over 7 days) value, which the caller ignores. A date
// in the past gives 0: retry now.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		// Leading zeros are allowed by the grammar; more than 7 significant
		// digits is more than 115 days, absurd, and would risk overflow.
		v = strings.TrimLeft(v, "0")
		if len(v) > 7 {
			return 0, false
		}
		var n int64
		for i := 0; i < len(v); i++ {
			n = n*10 + int64(v[i]-'0')
		}
		d = time.Duration(n) * time.Second
	} else {
		t, err := http.ParseTime(v)
		if err != nil {
			return 0, false
		}
		d = max(t.Sub(now), 0)
		// Sub saturates rather than overflows, so a date in the year 9999
		// lands here as absurd.
	}
	if d > absurdRetryAfter {
		return 0, false
	}
	return d, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// interpret classifies an HTTP answer. body is at most MaxAnswerBody bytes
// of it. It is pure, so the fuzz target covers every decision on what a
// portal sends.
func interpret(status int, h http.Header, body []byte, now time.Time, maxRetryAfter time.Duration) Result {
	r := Result{Status: status}
	switch {
	case status >= 200 && status <= 299, status == http.StatusConflict:
		r.Kind = Delivered
		r.Reference = parseReference(body)
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		// Unknown codes above 599 have no class; treat them like 5xx, a
		// server in trouble, rather than lose the report.
		r.Kind = Retry
		if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
			r.RetryAfter = min(d, maxRetryAfter)
		}
	default:
		// 1xx reaching here, 3xx (redirects are not followed: a portal
		// that moved must be reconfigured, we do not send reports to
		// wherever a Location header points) and the other 4xx.
		r.Kind = Permanent
	}
	return r
}

// parseReference returns the "reference" string of a JSON object body, if
// there is a usable one. Anything else (not JSON, not an object, another
// type, too long, control characters) gives "": the report is delivered
// all the same.
func parseReference(body []byte) string {
	var ans struct {
		Reference *string `json:"reference"`
	}
	if len(body) == 0 || json.Unmarshal(body, &ans) != nil || ans.Reference == nil {
		return ""
	}
	ref := strings.TrimSpace(*ans.Reference)
	if len(ref) > MaxReferenceLen || !utf8.ValidString(ref) {
		return ""
	}
	for _, c := range ref {
		if unicode.IsControl(c) || c == utf8.RuneError || !unicode.IsPrint(c) && c != ' ' {
			return ""
		}
	}
	return ref
}
