package scart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"gopkg.in/yaml.v3"

	"github.com/reportit/reportit/internal/delivery"
	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
)

const testSubject = "REPORTIT"

// hostileComment is everything a reporter could type to break the body:
// line breaks of every kind, YAML syntax, lines that look like our own
// fields, SCARt's line-splitting trigger, mail encoding, escapes,
// bidirectional overrides, emoji.
const hostileComment = "first line\n" +
	"url: https://evil.example/forged\n" +
	"---\n" +
	"reportit_id: forged-id\r\n" +
	"  reference: RIT-FAKE  \n" +
	"key: value # not a comment\n" +
	`"double" 'single' \n \r \\ backslashes` + "\n" +
	"=0D=0Aurl:https://evil2.example/=0D=0A\n" +
	"=3D =XX =\n" +
	"- item\n? complex\n| block\n> folded\n&anchor *alias !tag %directive @ `\n" +
	"\tTab\x00NUL\x1b[31mANSI\u0085NEL\u2028LS\u2029PS\ufeffBOM\n" +
	"Kinderschutz über alles, 日本語, مرحبا, 🙂 \u202eevil\u202c\n" +
	"null\n~\ntrue\n12\n" +
	"...\n" +
	"trailing space "

func testReport() report.Report {
	return report.Report{
		ID:          "0190f5a8-7c1e-7b3a-9c2d-4e5f6a7b8c9d",
		Reference:   "RIT-7KQ4-M2XD-9F3B",
		URL:         "https://example.com/path/to?q=1&id=ABCD#frag",
		URLKey:      "k",
		PageURL:     "https://example.com/gallery",
		ContentType: report.ContentImage,
		Category:    report.CategoryCSAM,
		Country:     "NL",
		HotlineID:   "nl-eokm",
		Comment:     hostileComment,
		Contact:     "reporter+tag@example.org",
		Client:      report.Client{Name: "extension", Version: "1.2.3"},
		ReceivedAt:  time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC),
	}
}

var testSightings = portal.Sightings{
	Count: 3,
	First: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	Last:  time.Date(2026, 3, 5, 1, 2, 3, 0, time.FixedZone("CET", 3600)),
}

var testNow = time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)

func testChannel(t *testing.T, port int, mutate func(*Config)) *Channel {
	t.Helper()
	cfg := Config{
		Host: "127.0.0.1", Port: port,
		Username: testUser, Password: testPass,
		From: testFrom, To: testTo, SubjectPrefix: testSubject,
		RootCAs: getPKI(t).pool,
		Timeout: 20 * time.Second,
		Now:     func() time.Time { return testNow },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func deliver(t *testing.T, ch *Channel, r report.Report) portal.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ch.Deliver(ctx, r, testSightings)
}

// wantRecord is what the body must say for testReport, written out by hand.
func wantRecord() Record {
	return Record{
		URL:            "https://example.com/path/to?q=1&id=ABCD#frag",
		Referer:        "https://example.com/gallery",
		Note:           hostileComment,
		ReportitID:     "0190f5a8-7c1e-7b3a-9c2d-4e5f6a7b8c9d",
		Reference:      "RIT-7KQ4-M2XD-9F3B",
		ContentType:    "image",
		Category:       "csam",
		Country:        "NL",
		Contact:        "reporter+tag@example.org",
		ReceivedAt:     time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		SightingsCount: 3,
		FirstSeen:      time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		LastSeen:       time.Date(2026, 3, 5, 0, 2, 3, 0, time.UTC),
		Source:         "reportit",
	}
}

// parseMessage reads a received message as a mail client would and
// returns its headers, its raw (encoded) body and the decoded body.
func parseMessage(t *testing.T, data []byte) (mail.Header, string, []byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v", err)
	}
	raw, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", got)
	}
	decoded, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("body is not valid quoted-printable: %v", err)
	}
	return m.Header, string(raw), decoded
}

func TestDeliverRoundTrip(t *testing.T) {
	ts := startServer(t, modeStartTLS)
	ch := testChannel(t, ts.port, nil)
	r := testReport()

	res := deliver(t, ch, r)
	if res.Kind != portal.Delivered || res.Err != nil {
		t.Fatalf("Deliver = %v, %v; want delivered", res.Kind, res.Err)
	}
	msgs := ts.received()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.tls || got.user != testUser {
		t.Errorf("message arrived with tls=%v user=%q; want TLS and AUTH as %q", got.tls, got.user, testUser)
	}
	if got.from != testFrom || got.to != testTo {
		t.Errorf("envelope %q -> %q, want %q -> %q", got.from, got.to, testFrom, testTo)
	}
	if cmds := strings.Join(ts.saw(), " "); cmds != "AUTH MAIL RCPT DATA" {
		t.Errorf("server saw %q", cmds)
	}

	// The message as it travelled: 7-bit, short lines, CRLF.
	for i, line := range strings.Split(strings.TrimSuffix(string(got.data), "\r\n"), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long", i, len(line))
		}
		for _, c := range []byte(line) {
			if c >= 0x80 || c == '\r' || c == '\n' || c == 0 {
				t.Fatalf("line %d holds byte %#x: not 7-bit clean", i, c)
			}
		}
	}

	h, raw, body := parseMessage(t, got.data)
	for name, want := range map[string]string{
		"From":         "<" + testFrom + ">",
		"To":           "<" + testTo + ">",
		"Subject":      testSubject,
		"Message-Id":   "<reportit.0190f5a8-7c1e-7b3a-9c2d-4e5f6a7b8c9d@reportit.example>",
		"Mime-Version": "1.0",
		"Content-Type": "text/plain; charset=utf-8",
	} {
		if h.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, h.Get(name), want)
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(testNow) {
		t.Errorf("Date = %v, %v; want %v", d, err, testNow)
	}
	// SCARt's whitelist look-up must find our address in the From header.
	if key := scartWhitelistKey(h.Get("From")); key == "" || !strings.HasPrefix(testFrom, key) {
		t.Errorf("SCARt would look the sender up as %q", key)
	}

	// A YAML parser gets back every value exactly.
	var rec Record
	if err := yaml.Unmarshal(body, &rec); err != nil {
		t.Fatalf("body is not YAML: %v\n%s", err, body)
	}
	if want := wantRecord(); !rec.Equal(want) {
		t.Errorf("YAML round trip:\n got %#v\nwant %#v", rec, want)
	}
	var generic map[string]any
	if err := yaml.Unmarshal(body, &generic); err != nil || len(generic) != len(allKeys) {
		t.Errorf("body has %d top-level keys (%v), want %d", len(generic), err, len(allKeys))
	}

	// SCARt, reading it over IMAP, finds each of our fields once, and the
	// hostile note cannot set any other.
	fields := scartParse(scartIMAPLines(raw), allKeys)
	want := map[string]string{
		"url": " https://example.com/path/to?q=1&id=ABCD#frag", "referer": " https://example.com/gallery",
		"reportit_id": " 0190f5a8-7c1e-7b3a-9c2d-4e5f6a7b8c9d", "reference": " RIT-7KQ4-M2XD-9F3B",
		"content_type": " image", "category": " csam", "country": " NL", "contact": " reporter+tag@example.org",
		"received_at": " 2026-03-04T05:06:07Z", "sightings_count": " 3", "first_seen": " 2026-03-04T05:06:07Z",
		"last_seen": " 2026-03-05T00:02:03Z", "source": " reportit",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("SCARt would store %s = %q, want %q", k, fields[k], v)
		}
	}
	if note := fields["note"]; !strings.HasPrefix(note, ` "first line\x0Aurl: https://evil.example/forged\x0A---`) || strings.Contains(note, "\n") {
		t.Errorf("SCARt would store note = %q", note)
	}
}

// TestSCARtMicrosoft365Reader: SCARt's Microsoft 365 reader decodes the
// (already decoded) body as quoted-printable again and turns every literal
// "\n" into a line break. The hostile note still cannot reach another field.
func TestSCARtMicrosoft365Reader(t *testing.T) {
	r := testReport()
	r.URL = "https://example.com/no-equals-sign"
	r.Contact = "x=0Areportit_id:forged@example.org"
	body, err := Body(r, testSightings)
	if err != nil {
		t.Fatal(err)
	}
	fields := scartParse(scartM365Lines(string(body)), allKeys)
	for k, v := range map[string]string{
		"url": " https://example.com/no-equals-sign", "reportit_id": " " + r.ID,
		"reference": " " + r.Reference, "contact": ` "x\x3D0Areportit_id:forged@example.org"`, "source": " reportit",
	} {
		if fields[k] != v {
			t.Errorf("SCARt (M365) would store %s = %q, want %q", k, fields[k], v)
		}
	}
	if strings.Contains(fields["note"], "\n") {
		t.Errorf("note was split across lines: %q", fields["note"])
	}
}

// TestSCARtPartialWebform: a webform that defines only url, referer and
// note gets our other lines appended to the note, never to url or referer.
func TestSCARtPartialWebform(t *testing.T) {
	r := testReport()
	body, err := Body(r, testSightings)
	if err != nil {
		t.Fatal(err)
	}
	fields := scartParse(strings.Split(string(body), "\n"), []string{"URL", "Referer", "Note"})
	if fields["url"] != " "+r.URL || fields["referer"] != " "+r.PageURL {
		t.Errorf("url = %q, referer = %q", fields["url"], fields["referer"])
	}
	if !strings.Contains(fields["note"], "\nreportit_id: "+r.ID) {
		t.Errorf("our attributes should follow the note, got %q", fields["note"])
	}
}

func TestDeliverSubjectReference(t *testing.T) {
	ts := startServer(t, modeStartTLS)
	ch := testChannel(t, ts.port, func(c *Config) { c.SubjectReference = true })
	if res := deliver(t, ch, testReport()); res.Kind != portal.Delivered {
		t.Fatalf("Deliver = %v, %v", res.Kind, res.Err)
	}
	h, _, _ := parseMessage(t, ts.received()[0].data)
	if got := h.Get("Subject"); got != testSubject+" RIT-7KQ4-M2XD-9F3B" {
		t.Errorf("Subject = %q", got)
	}
}

func TestDeliverImplicitTLS(t *testing.T) {
	ts := startServer(t, modeImplicit)
	ch := testChannel(t, ts.port, func(c *Config) { c.TLS = TLSImplicit })
	if res := deliver(t, ch, testReport()); res.Kind != portal.Delivered {
		t.Fatalf("Deliver = %v, %v", res.Kind, res.Err)
	}
	if m := ts.received(); len(m) != 1 || !m[0].tls || m[0].user != testUser {
		t.Fatalf("received %+v", m)
	}
}

func TestDeliverPlainToLoopbackRelay(t *testing.T) {
	ts := startServer(t, modePlainOpen)
	ch := testChannel(t, ts.port, func(c *Config) {
		c.TLS, c.Username, c.Password = TLSNone, "", ""
	})
	if res := deliver(t, ch, testReport()); res.Kind != portal.Delivered {
		t.Fatalf("Deliver = %v, %v", res.Kind, res.Err)
	}
	if m := ts.received(); len(m) != 1 || m[0].tls || m[0].user != "" {
		t.Fatalf("received %+v", m)
	}
}

// TestNoStartTLSNoFallback: a server that offers AUTH in plain text but no
// STARTTLS gets neither the password nor the report.
func TestNoStartTLSNoFallback(t *testing.T) {
	ts := startServer(t, modeNoTLS)
	ch := testChannel(t, ts.port, nil)
	res := deliver(t, ch, testReport())
	checkFailure(t, res, portal.Retry, "starttls", 0, ErrNoStartTLS)
	if !errors.Is(res.Err, portal.ErrTLS) {
		t.Errorf("err %v does not wrap portal.ErrTLS", res.Err)
	}
	if cmds := ts.saw(); len(cmds) != 0 {
		t.Errorf("server saw %v; want nothing after EHLO", cmds)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	ts := startServer(t, modeStartTLS)
	ch := testChannel(t, ts.port, func(c *Config) { c.RootCAs = nil })
	res := deliver(t, ch, testReport())
	checkFailure(t, res, portal.Retry, "starttls", 0, portal.ErrTLS)
	if cmds := ts.saw(); len(cmds) != 0 {
		t.Errorf("server saw %v", cmds)
	}
}

func TestCertificateForAnotherName(t *testing.T) {
	ts := startServer(t, modeStartTLS)
	ch := testChannel(t, ts.port, func(c *Config) { c.ServerName = "mail.other.example" })
	checkFailure(t, deliver(t, ch, testReport()), portal.Retry, "starttls", 0, portal.ErrTLS)
}

func TestReplies(t *testing.T) {
	smtpErr := func(code int, ec smtp.EnhancedCode) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: "mailbox of " + testTo + " says no"}
	}
	for _, tc := range []struct {
		name     string
		setup    func(*testServer)
		pass     string
		kind     portal.Kind
		step     string
		code     int
		enhanced string
		is       error
	}{
		{"rcpt 451", func(s *testServer) { s.rcptErr = smtpErr(451, smtp.EnhancedCode{4, 3, 0}) }, testPass, portal.Retry, "rcpt", 451, "4.3.0", ErrUnavailable},
		{"rcpt 550", func(s *testServer) { s.rcptErr = smtpErr(550, smtp.EnhancedCode{5, 1, 1}) }, testPass, portal.Permanent, "rcpt", 550, "5.1.1", ErrRejected},
		{"mail 421", func(s *testServer) { s.mailErr = smtpErr(421, smtp.EnhancedCode{4, 4, 5}) }, testPass, portal.Retry, "mail", 421, "4.4.5", ErrUnavailable},
		{"mail 553", func(s *testServer) { s.mailErr = smtpErr(553, smtp.EnhancedCode{5, 7, 1}) }, testPass, portal.Permanent, "mail", 553, "5.7.1", ErrRejected},
		{"data 451", func(s *testServer) { s.dataErr = smtpErr(451, smtp.EnhancedCode{4, 7, 1}) }, testPass, portal.Retry, "data", 451, "4.7.1", ErrUnavailable},
		{"data 554", func(s *testServer) { s.dataErr = smtpErr(554, smtp.EnhancedCode{5, 7, 1}) }, testPass, portal.Permanent, "data", 554, "5.7.1", ErrRejected},
		{"data 550 no enhanced code", func(s *testServer) { s.dataErr = smtpErr(550, smtp.NoEnhancedCode) }, testPass, portal.Permanent, "data", 550, "", ErrRejected},
		{"wrong password", nil, "wrong", portal.Permanent, "auth", 535, "5.7.8", ErrAuth},
		{"dropped after data", func(s *testServer) { s.dropOnData = true }, testPass, portal.Retry, "data", 0, "", portal.ErrReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, modeStartTLS)
			if tc.setup != nil {
				tc.setup(ts)
			}
			ch := testChannel(t, ts.port, func(c *Config) { c.Password = tc.pass })
			res := deliver(t, ch, testReport())
			checkFailure(t, res, tc.kind, tc.step, tc.code, tc.is)
			var e *Error
			if errors.As(res.Err, &e) && e.Enhanced != tc.enhanced {
				t.Errorf("Enhanced = %q, want %q", e.Enhanced, tc.enhanced)
			}
			if len(ts.received()) != 0 {
				t.Errorf("server kept the message")
			}
		})
	}
}

// TestAuthCodesAreMetricsKinds: the dispatcher labels failures by portal's
// kinds; each of ours maps to one.
func TestKindsWrapPortalKinds(t *testing.T) {
	for err, base := range map[error]error{
		ErrRejected: portal.ErrRejected, ErrUnavailable: portal.ErrUnavailable, ErrAuth: portal.ErrRejected,
		ErrNoStartTLS: portal.ErrTLS, ErrProtocol: portal.ErrNetwork, ErrBadMessage: portal.ErrBadPayload,
	} {
		if !errors.Is(err, base) {
			t.Errorf("%v does not wrap %v", err, base)
		}
	}
}

func TestHangUpAtGreeting(t *testing.T) {
	port := rawListener(t, func(c net.Conn) { c.Close() })
	ch := testChannel(t, port, nil)
	checkFailure(t, deliver(t, ch, testReport()), portal.Retry, "greeting", 0, portal.ErrReset)
}

func TestGarbageGreeting(t *testing.T) {
	port := rawListener(t, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
		io.Copy(io.Discard, c)
	})
	ch := testChannel(t, port, nil)
	checkFailure(t, deliver(t, ch, testReport()), portal.Retry, "greeting", 0, ErrProtocol)
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ch := testChannel(t, port, nil)
	checkFailure(t, deliver(t, ch, testReport()), portal.Retry, "connect", 0, portal.ErrRefused)
}

// silent is a server that accepts and never says a word; accepted is
// signalled once the connection is in.
func silent(t *testing.T) (port int, accepted <-chan struct{}) {
	ch := make(chan struct{}, 16)
	port = rawListener(t, func(c net.Conn) {
		defer c.Close()
		ch <- struct{}{}
		io.Copy(io.Discard, c) // until the client gives up
	})
	return port, ch
}

func TestServerSilentUntilTimeout(t *testing.T) {
	port, _ := silent(t)
	ch := testChannel(t, port, func(c *Config) { c.Timeout = 100 * time.Millisecond })
	res := ch.Deliver(context.Background(), testReport(), testSightings)
	checkFailure(t, res, portal.Retry, "greeting", 0, portal.ErrTimeout)
}

func TestServerSilentUntilContextDeadline(t *testing.T) {
	port, _ := silent(t)
	ch := testChannel(t, port, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	checkFailure(t, ch.Deliver(ctx, testReport(), testSightings), portal.Retry, "greeting", 0, context.DeadlineExceeded)
}

func TestContextCancelledMidDialogue(t *testing.T) {
	port, accepted := silent(t)
	ch := testChannel(t, port, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-accepted; cancel() }()
	res := ch.Deliver(ctx, testReport(), testSightings)
	// The server's accept may be seen before the client's dial returns:
	// the attempt ends in either step.
	step := "greeting"
	if e := (*Error)(nil); errors.As(res.Err, &e) && e.Step == "connect" {
		step = "connect"
	}
	checkFailure(t, res, portal.Retry, step, 0, context.Canceled)
}

func TestContextEndedBeforeStart(t *testing.T) {
	ts := startServer(t, modeStartTLS)
	ch := testChannel(t, ts.port, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checkFailure(t, ch.Deliver(ctx, testReport(), testSightings), portal.Retry, "connect", 0, context.Canceled)
}

func TestInvalidReportNotSent(t *testing.T) {
	ts := startServer(t, modeStartTLS)
	ch := testChannel(t, ts.port, nil)
	r := testReport()
	r.URL = ""
	res := deliver(t, ch, r)
	checkFailure(t, res, portal.Permanent, "message", 0, ErrBadMessage)
	if !errors.Is(res.Err, portal.ErrBadPayload) {
		t.Errorf("%v does not wrap portal.ErrBadPayload", res.Err)
	}
	if len(ts.saw()) != 0 {
		t.Error("something was sent")
	}
}

// TestResendIsRecognisable: two attempts for one report carry one
// Message-ID; another report gets another.
func TestResendIsRecognisable(t *testing.T) {
	ts := startServer(t, modeStartTLS)
	ch := testChannel(t, ts.port, nil)
	r := testReport()
	other := testReport()
	other.ID = "0190f5a8-7c1e-7b3a-9c2d-000000000000"
	for _, rep := range []report.Report{r, r, other} {
		if res := deliver(t, ch, rep); res.Kind != portal.Delivered {
			t.Fatal(res.Err)
		}
	}
	var ids []string
	for _, m := range ts.received() {
		h, _, _ := parseMessage(t, m.data)
		ids = append(ids, h.Get("Message-Id"))
	}
	if len(ids) != 3 || ids[0] != ids[1] || ids[0] == ids[2] {
		t.Errorf("Message-IDs %q: want the first two equal and the third different", ids)
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	ts := startServer(t, modeStartTLS)
	ch := testChannel(t, ts.port, nil)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := testReport()
			r.ID = fmt.Sprintf("0190f5a8-7c1e-7b3a-9c2d-%012d", i)
			if res := deliver(t, ch, r); res.Kind != portal.Delivered {
				errs <- res.Err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(ts.received()); got != n {
		t.Errorf("server received %d messages, want %d", got, n)
	}
}

// checkFailure checks a failed result and that its error text gives away
// nothing of the report, the password or the server's words.
func checkFailure(t *testing.T, res portal.Result, kind portal.Kind, step string, code int, is error) {
	t.Helper()
	if res.Kind != kind {
		t.Errorf("Kind = %v, want %v (err %v)", res.Kind, kind, res.Err)
	}
	var e *Error
	if !errors.As(res.Err, &e) {
		t.Fatalf("Err = %#v, want *Error", res.Err)
	}
	if e.Step != step || e.Code != code {
		t.Errorf("Step, Code = %q, %d; want %q, %d (err %v)", e.Step, e.Code, step, code, res.Err)
	}
	if !errors.Is(res.Err, is) {
		t.Errorf("Err = %v; want it to wrap %v", res.Err, is)
	}
	if e.ReportID != testReport().ID {
		t.Errorf("ReportID = %q", e.ReportID)
	}
	if res.Status != 0 || res.Reference != "" || res.RetryAfter != 0 {
		t.Errorf("Status, Reference, RetryAfter = %d, %q, %v; want zero", res.Status, res.Reference, res.RetryAfter)
	}
	text := res.Err.Error()
	r := testReport()
	for _, secret := range []string{r.URL, r.PageURL, "example.com", "first line", r.Contact, testPass, testTo, "says no"} {
		if strings.Contains(text, secret) {
			t.Errorf("error text %q gives away %q", text, secret)
		}
	}
}

// The dispatcher takes a Channel as one of its routes.
var _ delivery.Channel = (*Channel)(nil)
