package portal

import (
	"net/http"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

var answerNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"007", 7 * time.Second, true},
		{"604800", 7 * 24 * time.Hour, true}, // exactly 7 days: still sane
		{"604801", 0, false},
		{"99999999", 0, false},
		{"999999999999999999999999", 0, false}, // no overflow
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{"soon", 0, false},
		{answerNow.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Wed, 02 Jan 2030 03:05:05 GMT", time.Minute, true},
		{"Wednesday, 02-Jan-30 03:05:05 GMT", time.Minute, true}, // RFC 850
		{"Wed Jan  2 03:05:05 2030", time.Minute, true},          // asctime
		{answerNow.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{answerNow.Add(8 * 24 * time.Hour).Format(http.TimeFormat), 0, false},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 0, false},
		{"Mon, 01 Jan 0001 00:00:00 GMT", 0, true},
		{"Wed, 02 Jan 2030 03:05:05", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, answerNow)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestInterpret(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		kind       Kind
		wait       time.Duration
	}{
		{200, "", Delivered, 0},
		{201, "", Delivered, 0},
		{204, "", Delivered, 0},
		{299, "", Delivered, 0},
		{409, "", Delivered, 0},
		{408, "3", Retry, 3 * time.Second},
		{429, "30", Retry, 30 * time.Second},
		{429, "86400", Retry, time.Hour}, // capped
		{429, "", Retry, 0},
		{500, "", Retry, 0},
		{502, "1", Retry, time.Second},
		{503, "bogus", Retry, 0},
		{504, "", Retry, 0},
		{599, "", Retry, 0},
		{600, "", Retry, 0},
		{999, "", Retry, 0},
		{100, "", Permanent, 0},
		{300, "", Permanent, 0},
		{301, "", Permanent, 0},
		{304, "", Permanent, 0},
		{400, "", Permanent, 0},
		{401, "", Permanent, 0},
		{403, "", Permanent, 0},
		{404, "", Permanent, 0},
		{410, "5", Permanent, 0},
		{413, "", Permanent, 0},
		{422, "", Permanent, 0},
		{451, "", Permanent, 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.retryAfter != "" {
			h.Set("Retry-After", tt.retryAfter)
		}
		r := interpret(tt.status, h, nil, answerNow, time.Hour)
		if r.Kind != tt.kind || r.RetryAfter != tt.wait || r.Status != tt.status {
			t.Errorf("%d %q: got %v %v, want %v %v", tt.status, tt.retryAfter, r.Kind, r.RetryAfter, tt.kind, tt.wait)
		}
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"reference":"HL-000123"}`, "HL-000123"},
		{`{"reference":"  HL 1  ","duplicate":true}`, "HL 1"},
		{`{"reference":"Référence-é"}`, "Référence-é"},
		{`{"reference":""}`, ""},
		{`{"reference":null}`, ""},
		{`{"reference":["x"]}`, ""},
		{`{"Reference":"case-insensitive as encoding/json is"}`, "case-insensitive as encoding/json is"},
		{`["reference"]`, ""},
		{`{"reference":"a\nb"}`, ""},
		{`{"reference":"a\u202eb"}`, ""}, // bidi override: not printable
		{`{"reference":"\ud800"}`, ""},   // lone surrogate decodes to U+FFFD
		{`{"reference":"x"} trailing`, ""},
		{`{"reference":"x"`, ""},
		{"", ""},
		{"\xff\xfe", ""},
	}
	for _, tt := range tests {
		if got := parseReference([]byte(tt.body)); got != tt.want {
			t.Errorf("parseReference(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

// FuzzAnswer feeds arbitrary statuses, Retry-After values and bodies to the
// answer classification. It must never panic, must classify every status,
// must keep RetryAfter within [0, cap] and only on Retry, and may keep only a
// short, printable reference only on Delivered.
func FuzzAnswer(f *testing.F) {
	f.Add(201, "", []byte(`{"reference":"HL-000001","duplicate":false}`))
	f.Add(409, "", []byte(`{"type":"about:blank","status":409,"code":"duplicate"}`))
	f.Add(503, "120", []byte(`{"type":"about:blank","title":"Service Unavailable","status":503}`))
	f.Add(429, "Wed, 02 Jan 2030 03:05:05 GMT", []byte(nil))
	f.Add(429, "99999999999999999999", []byte("\x00"))
	f.Add(200, "", []byte(`{"reference":"\u0000"}`))
	f.Add(302, "5", []byte("<html>moved</html>"))
	f.Add(-1, "-1", []byte(`{"reference":{"reference":"x"}}`))
	const limit = time.Hour
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		if len(body) > MaxAnswerBody {
			body = body[:MaxAnswerBody]
		}
		h := http.Header{}
		h["Retry-After"] = []string{retryAfter}
		r := interpret(status, h, body, answerNow, limit)
		switch r.Kind {
		case Delivered, Retry, Permanent:
		default:
			t.Fatalf("status %d: no classification", status)
		}
		if r.RetryAfter < 0 || r.RetryAfter > limit || (r.RetryAfter != 0 && r.Kind != Retry) {
			t.Fatalf("status %d, Retry-After %q: RetryAfter %v on %v", status, retryAfter, r.RetryAfter, r.Kind)
		}
		if r.Reference != "" {
			if r.Kind != Delivered {
				t.Fatalf("reference on %v", r.Kind)
			}
			if len(r.Reference) > MaxReferenceLen || !utf8.ValidString(r.Reference) || !printableUnicode(r.Reference) {
				t.Fatalf("unsafe reference %q", r.Reference)
			}
		}
		if d, ok := ParseRetryAfter(retryAfter, answerNow); d < 0 || d > absurdRetryAfter || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", retryAfter, d, ok)
		}
	})
}

// printableUnicode reports whether every rune is printable (letters, marks,
// numbers, punctuation, symbols, the ASCII space).
func printableUnicode(s string) bool {
	for _, c := range s {
		if !strconv.IsPrint(c) {
			return false
		}
	}
	return true
}
