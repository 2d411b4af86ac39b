package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/intakesim"
	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/webhook"
)

// Content that must never show up in an error's text.
const (
	secretURL     = "https://example.org/secret-path?leak=1"
	secretPage    = "https://example.org/page-leak"
	secretComment = "comment-leak"
	secretContact = "contact-leak@example.org"
)

func testReport() report.Report {
	return report.Report{
		ID:          "0190f3a8-7c2e-7d41-9b1a-3f2e4d5c6b7a",
		Reference:   "RPT-7K3M-Q9XD",
		URL:         secretURL,
		PageURL:     secretPage,
		ContentType: report.ContentImage,
		Category:    report.CategoryCSAM,
		Country:     "DE",
		HotlineID:   "de-eco",
		Comment:     secretComment,
		Contact:     secretContact,
		Client:      report.Client{Name: "reportit-extension", Version: "1.4.0"},
		ReceivedAt:  time.Date(2030, 1, 2, 3, 4, 5, 678_000, time.UTC),
	}
}

// captured is one request as the portal saw it.
type captured struct {
	header http.Header
	body   []byte
}

// sim is an intakesim portal behind a real loopback server, with the raw
// requests kept so that tests can check headers the portal does not record.
type sim struct {
	p      *intakesim.Portal
	srv    *httptest.Server
	secret string

	mu   sync.Mutex
	reqs []captured
}

func newSim(t testing.TB) *sim {
	t.Helper()
	s := &sim{secret: webhook.NewSecret()}
	p, err := intakesim.New(intakesim.Config{Secrets: []string{s.secret}, Rand: rand.NewPCG(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == p.Path() {
			body, _ := io.ReadAll(r.Body)
			s.mu.Lock()
			s.reqs = append(s.reqs, captured{r.Header.Clone(), body})
			s.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sim) endpoint() string { return s.srv.URL + s.p.Path() }

func (s *sim) requests() []captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]captured(nil), s.reqs...)
}

func (s *sim) faults(t testing.TB, f intakesim.Faults) {
	t.Helper()
	if err := s.p.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

func newClient(t *testing.T, secret string, cfg Config) *Client {
	t.Helper()
	signer, err := webhook.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signer = signer
	if cfg.Version == "" {
		cfg.Version = "1.2.3"
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkErrSafe fails if err's text holds report content or the endpoint.
func checkErrSafe(t *testing.T, err error, endpoint string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range []string{secretURL, secretPage, secretComment, secretContact, "example.org", endpoint} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q leaks %q", msg, s)
		}
	}
	if !strings.Contains(msg, testReport().ID) {
		t.Errorf("error %q does not name the report id", msg)
	}
}

func TestDeliverSignedAndDeduplicated(t *testing.T) {
	s := newSim(t)
	c := newClient(t, s.secret, Config{})
	p := FromReport(testReport(), Sightings{})

	res := c.Deliver(context.Background(), s.endpoint(), p)
	if res.Kind != Delivered || res.Status != http.StatusCreated || res.Err != nil {
		t.Fatalf("first delivery: %+v", res)
	}
	if res.Reference != "HL-000001" {
		t.Errorf("reference %q, want the portal's HL-000001", res.Reference)
	}

	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("portal saw %d requests, want 1", len(reqs))
	}
	h := reqs[0].header
	if got := h.Get("User-Agent"); got != "reportit/1.2.3" {
		t.Errorf("User-Agent %q", got)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := h.Get(webhook.HeaderID); got != p.ID {
		t.Errorf("webhook-id %q, want the report id %q", got, p.ID)
	}
	v, err := webhook.NewVerifier(s.secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(h, reqs[0].body, time.Now()); err != nil {
		t.Errorf("our own verification of the request: %v", err)
	}
	var got Payload
	if err := json.Unmarshal(reqs[0].body, &got); err != nil {
		t.Fatal(err)
	}
	if got.URL != secretURL || got.Sightings.Count != 1 || got.Schema != Schema {
		t.Errorf("payload as received: %+v", got)
	}

	// At least once: the same report again is the portal's duplicate, and
	// still Delivered with the same reference.
	res = c.Deliver(context.Background(), s.endpoint(), p)
	if res.Kind != Delivered || res.Status != http.StatusOK || res.Reference != "HL-000001" {
		t.Fatalf("second delivery: %+v", res)
	}
	st := s.p.Stats()
	if st.Received != 1 || st.Duplicates != 1 || st.Conflicts != 0 || st.RejectedSignature != 0 {
		t.Errorf("portal stats %+v", st)
	}
}

func TestDeliverFaults(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		faults     intakesim.Faults
		timeout    time.Duration
		wrongKey   bool
		kind       Kind
		status     int
		retryAfter time.Duration
		err        error
		stored     uint64 // what the portal kept
	}{
		{name: "503", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{503}},
			kind: Retry, status: 503, err: ErrUnavailable},
		{name: "503 with Retry-After", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{503}, RetryAfter: 90 * time.Second},
			kind: Retry, status: 503, retryAfter: 90 * time.Second, err: ErrUnavailable},
		{name: "429 with Retry-After", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{429}, RetryAfter: 7 * time.Second},
			kind: Retry, status: 429, retryAfter: 7 * time.Second, err: ErrUnavailable},
		{name: "Retry-After above the cap", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{429}, RetryAfter: 20 * time.Hour},
			kind: Retry, status: 429, retryAfter: DefaultMaxRetryAfter, err: ErrUnavailable},
		{name: "408", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{408}},
			kind: Retry, status: 408, err: ErrUnavailable},
		{name: "500", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{500}},
			kind: Retry, status: 500, err: ErrUnavailable},
		{name: "down for maintenance", faults: intakesim.Faults{Down: time.Hour},
			kind: Retry, status: 503, retryAfter: time.Hour, err: ErrUnavailable},
		{name: "down, connections closed", faults: intakesim.Faults{Down: time.Hour, DownMode: intakesim.DownClose},
			kind: Retry, err: ErrReset},
		{name: "reset after storing", faults: intakesim.Faults{ResetRate: 1},
			kind: Retry, err: ErrReset, stored: 1},
		{name: "latency beyond the timeout", faults: intakesim.Faults{Latency: 5 * time.Minute}, timeout: 50 * time.Millisecond,
			kind: Retry, err: ErrTimeout},
		{name: "400", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{400}},
			kind: Permanent, status: 400, err: ErrRejected},
		{name: "404", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{404}},
			kind: Permanent, status: 404, err: ErrRejected},
		{name: "wrong secret", wrongKey: true,
			kind: Permanent, status: 401, err: ErrRejected},
		{name: "409 already have it", faults: intakesim.Faults{FailureRate: 1, FailureStatuses: []int{409}},
			kind: Delivered, status: 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t)
			s.faults(t, tt.faults)
			secret := s.secret
			if tt.wrongKey {
				secret = webhook.NewSecret()
			}
			c := newClient(t, secret, Config{Timeout: tt.timeout})
			res := c.Deliver(ctx, s.endpoint(), FromReport(testReport(), Sightings{}))
			if res.Kind != tt.kind || res.Status != tt.status {
				t.Fatalf("got %v %d (%v), want %v %d", res.Kind, res.Status, res.Err, tt.kind, tt.status)
			}
			// intakesim rounds Retry-After up to whole seconds and counts
			// the down period from when it was set.
			if d := res.RetryAfter - tt.retryAfter; d > 0 || d < -time.Second {
				t.Errorf("RetryAfter %v, want %v", res.RetryAfter, tt.retryAfter)
			}
			if tt.err == nil {
				if res.Err != nil {
					t.Errorf("Err %v, want nil", res.Err)
				}
			} else if !errors.Is(res.Err, tt.err) {
				t.Errorf("Err %v, want %v", res.Err, tt.err)
			}
			checkErrSafe(t, res.Err, s.endpoint())
			if got := s.p.Stats().Received; got != tt.stored {
				t.Errorf("portal stored %d, want %d", got, tt.stored)
			}
		})
	}
}

// A reset after the portal stored the report: the retry with the same id
// is its duplicate, and the report is delivered once.
func TestDeliverResetThenRetry(t *testing.T) {
	s := newSim(t)
	c := newClient(t, s.secret, Config{})
	p := FromReport(testReport(), Sightings{})
	s.faults(t, intakesim.Faults{ResetRate: 1})
	if res := c.Deliver(context.Background(), s.endpoint(), p); res.Kind != Retry || !errors.Is(res.Err, ErrReset) {
		t.Fatalf("with reset: %+v", res)
	}
	s.faults(t, intakesim.Faults{})
	res := c.Deliver(context.Background(), s.endpoint(), p)
	if res.Kind != Delivered || res.Reference != "HL-000001" {
		t.Fatalf("retry: %+v", res)
	}
	rec := s.p.Received()
	if len(rec) != 1 || rec[0].Times != 2 || rec[0].ID != p.ID {
		t.Fatalf("portal has %+v, want one delivery received twice", rec)
	}
}

func TestDeliverRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String() + "/intake"
	ln.Close()
	c := newClient(t, webhook.NewSecret(), Config{})
	res := c.Deliver(context.Background(), endpoint, FromReport(testReport(), Sightings{}))
	if res.Kind != Retry || !errors.Is(res.Err, ErrRefused) {
		t.Fatalf("got %+v, want Retry ErrRefused", res)
	}
	checkErrSafe(t, res.Err, endpoint)
}

func TestDeliverRedirectNotFollowed(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the redirect was followed")
	}))
	defer target.Close()
	for _, code := range []int{301, 302, 307, 308} {
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", code)
		}))
		c := newClient(t, webhook.NewSecret(), Config{})
		res := c.Deliver(context.Background(), src.URL, FromReport(testReport(), Sightings{}))
		src.Close()
		if res.Kind != Permanent || res.Status != code || !errors.Is(res.Err, ErrRejected) {
			t.Errorf("%d: got %+v, want Permanent", code, res)
		}
	}
}

// Answers the simulator does not give: references in odd bodies, a broken
// 2xx body, HTTP-date Retry-After.
func TestDeliverAnswerBodies(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		cut     bool // close the connection part-way through the body
		kind    Kind
		ref     string
		retryAt time.Duration
	}{
		{name: "reference", status: 202, body: `{"reference":"HL-42"}`, kind: Delivered, ref: "HL-42"},
		{name: "no body", status: 204, kind: Delivered},
		{name: "garbage", status: 200, body: "\x00\xffnot json", kind: Delivered},
		{name: "html", status: 200, body: "<html>ok</html>", kind: Delivered},
		{name: "reference not a string", status: 201, body: `{"reference":42}`, kind: Delivered},
		{name: "reference with control", status: 201, body: `{"reference":"a\u0007b"}`, kind: Delivered},
		{name: "reference too long", status: 201, body: `{"reference":"` + strings.Repeat("x", MaxReferenceLen+1) + `"}`, kind: Delivered},
		{name: "huge body", status: 201, body: `{"pad":"` + strings.Repeat("x", 2*MaxAnswerBody) + `","reference":"late"}`, kind: Delivered},
		{name: "2xx body cut off", status: 201, body: `{"reference":"HL-1"`, cut: true, kind: Delivered},
		{name: "4xx body cut off", status: 400, body: `{"type":`, cut: true, kind: Permanent},
		{name: "5xx body cut off", status: 503, header: map[string]string{"Retry-After": "4"}, body: `{"type":`, cut: true, kind: Retry, retryAt: 4 * time.Second},
		{name: "409 with reference", status: 409, body: `{"reference":"HL-7"}`, kind: Delivered, ref: "HL-7"},
		{name: "Retry-After date", status: 503, header: map[string]string{"Retry-After": now.Add(2 * time.Minute).Format(http.TimeFormat)}, kind: Retry, retryAt: 2 * time.Minute},
		{name: "Retry-After absurd", status: 503, header: map[string]string{"Retry-After": "99999999"}, kind: Retry},
		{name: "Retry-After garbage", status: 429, header: map[string]string{"Retry-After": "soon"}, kind: Retry},
		{name: "Retry-After on a 400 ignored", status: 400, header: map[string]string{"Retry-After": "5"}, kind: Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if tt.cut {
					w.Header().Set("Content-Length", "1000")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := newClient(t, webhook.NewSecret(), Config{Now: func() time.Time { return now }})
			res := c.Deliver(context.Background(), srv.URL, FromReport(testReport(), Sightings{}))
			if res.Kind != tt.kind || res.Reference != tt.ref || res.RetryAfter != tt.retryAt {
				t.Fatalf("got %v ref %q retry-after %v (%v), want %v %q %v", res.Kind, res.Reference, res.RetryAfter, res.Err, tt.kind, tt.ref, tt.retryAt)
			}
		})
	}
}

func TestDeliverContextCanceled(t *testing.T) {
	s := newSim(t)
	s.faults(t, intakesim.Faults{Latency: 5 * time.Minute})
	c := newClient(t, s.secret, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() { done <- c.Deliver(ctx, s.endpoint(), FromReport(testReport(), Sightings{})) }()
	cancel()
	res := <-done
	if res.Kind != Retry || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("got %+v, want Retry with context.Canceled", res)
	}
}

func TestDeliverNothingSentWhenInvalid(t *testing.T) {
	s := newSim(t)
	c := newClient(t, s.secret, Config{})
	good := FromReport(testReport(), Sightings{})
	tests := []struct {
		name     string
		p        Payload
		endpoint string
		err      error
	}{
		{"no url", func() Payload { p := good; p.URL = ""; return p }(), s.endpoint(), ErrBadPayload},
		{"dot in id", func() Payload { p := good; p.ID = "a.b"; return p }(), s.endpoint(), ErrBadPayload},
		{"no schema", func() Payload { p := good; p.Schema = ""; return p }(), s.endpoint(), ErrBadPayload},
		{"relative endpoint", good, "/intake", ErrBadEndpoint},
		{"ftp endpoint", good, "ftp://127.0.0.1/x", ErrBadEndpoint},
		{"unparsable endpoint", good, "http://[::1", ErrBadEndpoint},
	}
	for _, tt := range tests {
		res := c.Deliver(context.Background(), tt.endpoint, tt.p)
		if res.Kind != Permanent || !errors.Is(res.Err, tt.err) {
			t.Errorf("%s: got %+v, want Permanent %v", tt.name, res, tt.err)
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("portal saw %d requests", n)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("no signer: %v", err)
	}
	signer, _ := webhook.NewSigner(webhook.NewSecret())
	if _, err := New(Config{Signer: signer, Timeout: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("negative timeout: %v", err)
	}
	c, err := New(Config{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	if c.http.Timeout != DefaultTimeout || c.userAgent != "reportit/dev" {
		t.Errorf("defaults: timeout %v, UA %q", c.http.Timeout, c.userAgent)
	}
}
