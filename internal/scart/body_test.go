package scart

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
)

// noteLine returns the "note:" line of the body for a report with comment.
func noteLine(t *testing.T, comment string) string {
	t.Helper()
	r := testReport()
	r.Comment = comment
	body, err := Body(r, portal.Sightings{})
	if err != nil {
		t.Fatalf("Body(%q): %v", comment, err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "note:") {
			return l
		}
	}
	t.Fatalf("no note line in %s", body)
	return ""
}

func TestNoteEncoding(t *testing.T) {
	for _, tc := range []struct{ comment, line string }{
		{"", "note:"},
		{"found it on a forum", "note: found it on a forum"},
		{"Kinderschutz: über 日本語 🙂", `note: "Kinderschutz: über 日本語 🙂"`},
		{"plain über 日本語", "note: plain über 日本語"},
		// yaml.v3 does not write characters beyond the BMP plain.
		{"emoji 🙂", `note: "emoji 🙂"`},
		{"two\nlines", `note: "two\x0Alines"`},
		{"crlf\r\n", `note: "crlf\x0D\x0A"`},
		{`back\slash`, `note: "back\x5Cslash"`},
		{`literal \n`, `note: "literal \x5Cn"`},
		{"a = b", `note: "a \x3D b"`},
		{"=0d=0a", `note: "\x3D0d\x3D0a"`},
		{`say "hi"`, `note: say "hi"`},
		{`"quoted"`, `note: "\"quoted\""`},
		{"'single'", `note: "'single'"`},
		{"---", `note: "---"`},
		{"...", `note: "..."`},
		{"# not a comment", `note: "# not a comment"`},
		{"a # b", `note: "a # b"`},
		{"key: value", `note: "key: value"`},
		{"- item", `note: "- item"`},
		{"true", `note: "true"`},
		{"null", `note: "null"`},
		{"~", `note: "~"`},
		{"12", `note: "12"`},
		{"0x1F", `note: "0x1F"`},
		{"2026-01-02", `note: "2026-01-02"`},
		{" padded ", `note: " padded "`},
		{"tab\there", `note: "tab\x09here"`},
		{"nul\x00", `note: "nul\x00"`},
		{"esc\x1b[31m", `note: "esc\x1B[31m"`},
		{"del\x7f", `note: "del\x7F"`},
		{"nel\u0085", `note: "nel\x85"`},
		{"nbsp\u00a0", `note: "nbsp\xA0"`},
		{"ls\u2028ps\u2029", `note: "ls\u2028ps\u2029"`},
		{"bom\ufeff", `note: "bom\uFEFF"`},
		{"rlo\u202eevil", `note: "rlo\u202Eevil"`},
		{"zwsp\u200b", `note: "zwsp\u200B"`},
		{"private\U000F0000", `note: "private\U000F0000"`},
		{"bad utf8 \xff", `note: "bad utf8 \uFFFD"`},
	} {
		if got := noteLine(t, tc.comment); got != tc.line {
			t.Errorf("comment %q:\n got %s\nwant %s", tc.comment, got, tc.line)
		}
	}
}

func TestInvalidUTF8BecomesReplacementCharacter(t *testing.T) {
	r := testReport()
	r.Comment = "a\xffb\xc3"
	rec, err := NewRecord(r, portal.Sightings{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Note != "a\uFFFDb\uFFFD" {
		t.Errorf("Note = %q", rec.Note)
	}
}

// TestURLsStayPlain: SCARt validates url and referer with PHP's
// FILTER_VALIDATE_URL after trimming, so quotes would lose the report.
// Canonical URLs (RFC 3986, ASCII) are always written plain.
func TestURLsStayPlain(t *testing.T) {
	for _, u := range []string{
		"https://example.com/",
		"http://example.com:8080/a/b?c=d&e=f#g",
		"https://xn--bcher-kva.example/%E2%82%AC?q=%20x",
		"https://user:pass@example.com/path;param?x=1",
		"https://[2001:db8::1]/p",
		"https://203.0.113.7/~user/a+b!$'()*,;=:@/",
		"https://example.com/?q=true",
		"https://example.com/#:~:text=foo",
	} {
		if !plain(u, true) {
			t.Errorf("%q would be quoted", u)
		}
	}
	// One that SCARt's IMAP reader would re-split on is quoted instead (and
	// then refused by SCARt: better than a forged field).
	if plain("https://example.com/?a=0D=0Aurl:https://evil.example/", true) {
		t.Error("=0D=0A in a URL is written plain")
	}
}

func TestBodyLayout(t *testing.T) {
	r := testReport()
	r.Comment = "short note"
	r.PageURL, r.Contact, r.Country = "", "", ""
	body, err := Body(r, portal.Sightings{})
	if err != nil {
		t.Fatal(err)
	}
	want := "url: https://example.com/path/to?q=1&id=ABCD#frag\n" +
		"referer:\n" +
		"note: short note\n" +
		"reportit_id: 0190f5a8-7c1e-7b3a-9c2d-4e5f6a7b8c9d\n" +
		"reference: RIT-7KQ4-M2XD-9F3B\n" +
		"content_type: image\n" +
		"category: csam\n" +
		"country:\n" +
		"contact:\n" +
		"received_at: 2026-03-04T05:06:07Z\n" +
		"sightings_count: 1\n" +
		"first_seen: 2026-03-04T05:06:07Z\n" +
		"last_seen: 2026-03-04T05:06:07Z\n" +
		"source: reportit\n"
	if string(body) != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	// Typed fields are YAML timestamps and an integer.
	var m map[string]any
	if err := yaml.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["received_at"].(time.Time); !ok {
		t.Errorf("received_at is %T", m["received_at"])
	}
	if m["sightings_count"] != 1 {
		t.Errorf("sightings_count is %#v", m["sightings_count"])
	}
	if m["referer"] != nil || m["note"] != "short note" {
		t.Errorf("referer %#v, note %#v", m["referer"], m["note"])
	}
}

func TestBodyRefusesIncompleteReport(t *testing.T) {
	for name, mutate := range map[string]func(*report.Report){
		"no url":       func(r *report.Report) { r.URL = "" },
		"no id":        func(r *report.Report) { r.ID = "" },
		"id with dot":  func(r *report.Report) { r.ID = "a.b" },
		"no reference": func(r *report.Report) { r.Reference = "" },
		"no category":  func(r *report.Report) { r.Category = "" },
		"no type":      func(r *report.Report) { r.ContentType = "" },
		"no time":      func(r *report.Report) { r.ReceivedAt = time.Time{} },
	} {
		r := testReport()
		mutate(&r)
		_, err := Body(r, portal.Sightings{})
		if !errors.Is(err, ErrBadMessage) || !errors.Is(err, portal.ErrBadPayload) {
			t.Errorf("%s: err = %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "example.com") {
			t.Errorf("%s: error quotes the report: %v", name, err)
		}
	}
}

func TestMessageIDForOddIDs(t *testing.T) {
	if got := MessageID("0190f5a8-7c1e", "a@b.example"); got != "<reportit.0190f5a8-7c1e@b.example>" {
		t.Errorf("MessageID = %s", got)
	}
	got := MessageID("id with <spaces>", "a@b.example")
	if !strings.HasPrefix(got, "<reportit.h") || strings.ContainsAny(got[1:len(got)-1], " <>") {
		t.Errorf("MessageID = %s", got)
	}
	if got != MessageID("id with <spaces>", "a@b.example") {
		t.Error("MessageID is not deterministic")
	}
}

func BenchmarkMessage(b *testing.B) {
	ch, err := New(Config{Host: "mail.example", From: testFrom, To: testTo, SubjectPrefix: testSubject})
	if err != nil {
		b.Fatal(err)
	}
	r := testReport()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ch.Message(r, testSightings, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
