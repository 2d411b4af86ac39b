package intakesim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/webhook"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a portal behind a real HTTP server, and a sender for it.
type harness struct {
	t      *testing.T
	p      *Portal
	srv    *httptest.Server
	signer *webhook.Signer
	now    func() time.Time
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.Secrets == nil {
		cfg.Secrets = []string{testSecret}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.NewPCG(1, 2)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	signer, err := webhook.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &harness{t: t, p: p, srv: srv, signer: signer, now: now}
}

func payload(id string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"url":"https://example.com/%s","hotline":"test"}`, id, id))
}

type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // transport or body-read error
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
}

// do sends a request and reads the whole answer.
func (h *harness) do(req *http.Request) answer {
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: body, err: err}
}

// deliver posts body signed for id at the sender's current time.
func (h *harness) deliver(id string, body []byte) answer {
	return h.deliverAt(id, body, h.now())
}

func (h *harness) deliverAt(id string, body []byte, ts time.Time) answer {
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+h.p.Path(), bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	h.signer.SetHeaders(req.Header, id, ts, body)
	return h.do(req)
}

func (h *harness) get(path string, v any) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	a := h.do(req)
	if a.err != nil || a.status != http.StatusOK {
		h.t.Fatalf("GET %s: %d %v %s", path, a.status, a.err, a.body)
	}
	a.json(h.t, v)
}

func (h *harness) send(method, path, body string) answer {
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	return h.do(req)
}

func wantReference(t *testing.T, a answer, status int, ref string, dup bool) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("transport error %v", a.err)
	}
	if a.status != status || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content-type %q, body %s; want %d", a.status, a.header.Get("Content-Type"), a.body, status)
	}
	var got intakeAnswer
	a.json(t, &got)
	if got != (intakeAnswer{Reference: ref, Duplicate: dup}) {
		t.Fatalf("answer %+v, want reference %s duplicate %v", got, ref, dup)
	}
}

func wantProblem(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("transport error %v", a.err)
	}
	if a.status != status || a.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, content-type %q, body %s; want %d problem", a.status, a.header.Get("Content-Type"), a.body, status)
	}
	var got problem
	a.json(t, &got)
	if got.Code != code || got.Status != status || got.Title == "" {
		t.Fatalf("problem %+v, want code %s", got, code)
	}
}

func TestDeliverAndDeduplicate(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now})
	first := payload("r1")

	wantReference(t, h.deliver("r1", first), http.StatusCreated, "HL-000001", false)
	wantReference(t, h.deliver("r2", payload("r2")), http.StatusCreated, "HL-000002", false)
	// A retry: same id and body, new timestamp, as a delivery worker sends it.
	c.Add(time.Minute)
	wantReference(t, h.deliver("r1", first), http.StatusOK, "HL-000001", true)
	// Same id with another body: still the same delivery, counted as a conflict.
	wantReference(t, h.deliver("r1", payload("r1-changed")), http.StatusOK, "HL-000001", true)

	got := h.p.Received()
	if len(got) != 2 {
		t.Fatalf("Received() = %d deliveries, want 2", len(got))
	}
	d := got[0]
	start := newClock().Now()
	if d.ID != "r1" || d.Reference != "HL-000001" || d.Seq != 1 || d.Times != 3 ||
		!d.ReceivedAt.Equal(start) || !d.LastReceivedAt.Equal(start.Add(time.Minute)) || !bytes.Equal(d.Payload, first) {
		t.Fatalf("delivery = %+v", d)
	}

	var page receivedPage
	h.get("/received", &page)
	if len(page.Deliveries) != 2 || page.Deliveries[0].Times != 3 || page.Deliveries[1].ID != "r2" || page.More || page.NextSince != 2 {
		t.Fatalf("/received = %+v", page)
	}
	var p0 map[string]any
	if err := json.Unmarshal(page.Deliveries[0].Payload, &p0); err != nil || p0["url"] != "https://example.com/r1" {
		t.Fatalf("payload over /received = %s (%v)", page.Deliveries[0].Payload, err)
	}

	var st Stats
	h.get("/stats", &st)
	if st.Received != 2 || st.Duplicates != 2 || st.Conflicts != 1 || st.Stored != 2 || st.Faults.Injected != 0 {
		t.Fatalf("/stats = %+v", st)
	}
}

func TestRejections(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now, MaxBody: 1024})
	now := c.Now()
	other, err := webhook.NewSigner(webhook.NewSecret())
	if err != nil {
		t.Fatal(err)
	}
	body := payload("r1")

	// signed builds a request whose headers are computed by sign, then
	// changed by edit.
	signed := func(s *webhook.Signer, id string, ts time.Time, signedBody, sentBody []byte, edit func(http.Header)) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/intake", bytes.NewReader(sentBody))
		s.SetHeaders(req.Header, id, ts, signedBody)
		if edit != nil {
			edit(req.Header)
		}
		return req
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"no headers", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/intake", bytes.NewReader(body))
			return r
		}(), 401, "missing-headers"},
		{"wrong secret", signed(other, "r1", now, body, body, nil), 401, "signature-mismatch"},
		{"tampered body", signed(h.signer, "r1", now, body, payload("r9"), nil), 401, "signature-mismatch"},
		{"tampered id", signed(h.signer, "r1", now, body, body, func(hd http.Header) { hd.Set(webhook.HeaderID, "r2") }), 401, "signature-mismatch"},
		{"tampered signature", signed(h.signer, "r1", now, body, body, func(hd http.Header) {
			hd.Set(webhook.HeaderSignature, "v1,"+strings.Repeat("A", 43)+"=")
		}), 401, "signature-mismatch"},
		{"replay older than 5 minutes", signed(h.signer, "r1", now.Add(-5*time.Minute-time.Second), body, body, nil), 401, "timestamp-too-old"},
		{"timestamp in the future", signed(h.signer, "r1", now.Add(5*time.Minute+time.Second), body, body, nil), 401, "timestamp-too-new"},
		{"timestamp not a number", signed(h.signer, "r1", now, body, body, func(hd http.Header) { hd.Set(webhook.HeaderTimestamp, "soon") }), 400, "bad-timestamp"},
		{"id with a dot", signed(h.signer, "r.1", now, body, body, nil), 400, "bad-webhook-id"},
		{"not JSON", signed(h.signer, "r1", now, []byte("url=x"), []byte("url=x"), nil), 400, "bad-payload"},
		{"JSON array", signed(h.signer, "r1", now, []byte(`[1]`), []byte(`[1]`), nil), 400, "bad-payload"},
		{"no url", signed(h.signer, "r1", now, []byte(`{"id":"r1"}`), []byte(`{"id":"r1"}`), nil), 400, "bad-payload"},
		{"id not a string", signed(h.signer, "r1", now, []byte(`{"id":1,"url":"u"}`), []byte(`{"id":1,"url":"u"}`), nil), 400, "bad-payload"},
		{"too large", func() *http.Request {
			big := []byte(`{"id":"r1","url":"` + strings.Repeat("a", 2000) + `"}`)
			return signed(h.signer, "r1", now, big, big, nil)
		}(), 413, "body-too-large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, h.do(tt.req), tt.status, tt.code)
		})
	}
	// GET on the intake path is not a delivery.
	if a := h.send(http.MethodGet, "/intake", ""); a.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /intake = %d", a.status)
	}

	st := h.p.Stats()
	if st.Received != 0 || st.Stored != 0 || len(h.p.Received()) != 0 {
		t.Fatalf("a rejected delivery was stored: %+v", st)
	}
	if st.RejectedSignature != 6 || st.RejectedTimestamp != 3 || st.RejectedPayload != 5 {
		t.Fatalf("stats = %+v, want 6 signature, 3 timestamp, 5 payload rejections", st)
	}
}

// TestReplayWindow: the same signed request is accepted up to 5 minutes
// after its timestamp and refused after, whatever the dedup state.
func TestReplayWindow(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now})
	ts := c.Now()
	c.Add(5 * time.Minute)
	wantReference(t, h.deliverAt("r1", payload("r1"), ts), http.StatusCreated, "HL-000001", false)
	c.Add(time.Second)
	wantProblem(t, h.deliverAt("r1", payload("r1"), ts), http.StatusUnauthorized, "timestamp-too-old")
	wantProblem(t, h.deliverAt("r2", payload("r2"), ts), http.StatusUnauthorized, "timestamp-too-old")
	if st := h.p.Stats(); st.Received != 1 || st.Duplicates != 0 || st.RejectedTimestamp != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestSecretRotationAndEd25519(t *testing.T) {
	oldSec := webhook.NewSecret()
	sk, pk := webhook.NewKeyPair()
	h := newHarness(t, Config{Secrets: []string{testSecret, oldSec, pk}})
	for i, sec := range []string{testSecret, oldSec, sk} {
		s, err := webhook.NewSigner(sec)
		if err != nil {
			t.Fatal(err)
		}
		h.signer = s
		id := fmt.Sprintf("r%d", i+1)
		wantReference(t, h.deliver(id, payload(id)), http.StatusCreated, fmt.Sprintf("HL-%06d", i+1), false)
	}
}

func TestFailureRateAll(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{FailureRate: 1, RetryAfter: 1500 * time.Millisecond}})
	seen := map[int]int{}
	for i := range 40 {
		a := h.deliver(fmt.Sprint("r", i), payload("r"))
		if a.header.Get("Retry-After") != "2" {
			t.Fatalf("Retry-After = %q, want 2 (1.5 s rounded up)", a.header.Get("Retry-After"))
		}
		wantProblem(t, a, a.status, "injected-failure")
		seen[a.status]++
	}
	if len(seen) != 2 || seen[503] == 0 || seen[429] == 0 {
		t.Fatalf("statuses %v, want a mix of 503 and 429", seen)
	}
	st := h.p.Stats()
	if st.Received != 0 || st.Faults.Injected != 40 || st.Faults.Failures[503] != uint64(seen[503]) || st.Faults.Failures[429] != uint64(seen[429]) {
		t.Fatalf("stats = %+v, seen %v", st, seen)
	}
}

// TestFailureRateSeeded: with a seeded source, a partial failure rate gives
// the same run every time, and every delivery ends up stored exactly once
// when the sender retries.
func TestFailureRateSeeded(t *testing.T) {
	run := func() []int {
		h := newHarness(t, Config{
			Rand:   rand.NewPCG(42, 7),
			Faults: Faults{FailureRate: 0.3, FailureStatuses: []int{503, 429, 502}},
		})
		var statuses []int
		for i := range 100 {
			id := fmt.Sprint("r", i)
			for {
				a := h.deliver(id, payload(id))
				statuses = append(statuses, a.status)
				if a.status == http.StatusCreated {
					break
				}
				wantProblem(t, a, a.status, "injected-failure")
			}
		}
		st := h.p.Stats()
		failures := len(statuses) - 100
		if st.Received != 100 || st.Duplicates != 0 || st.Faults.Injected != uint64(failures) {
			t.Fatalf("stats = %+v, %d failures seen", st, failures)
		}
		if failures < 10 || failures > 90 {
			t.Fatalf("%d failures in %d requests at rate 0.3", failures, len(statuses))
		}
		return statuses
	}
	a, b := run(), run()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different runs:\n%v\n%v", a, b)
	}
}

func TestLatency(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond}})
	var mu sync.Mutex
	var delays []time.Duration
	h.p.sleep = func(ctx context.Context, d time.Duration) bool {
		mu.Lock()
		delays = append(delays, d)
		mu.Unlock()
		return true
	}
	for i := range 20 {
		id := fmt.Sprint("r", i)
		wantReference(t, h.deliver(id, payload(id)), http.StatusCreated, fmt.Sprintf("HL-%06d", i+1), false)
	}
	distinct := map[time.Duration]bool{}
	for _, d := range delays {
		if d < 100*time.Millisecond || d >= 150*time.Millisecond {
			t.Fatalf("delay %v outside [100ms, 150ms)", d)
		}
		distinct[d] = true
	}
	if len(delays) != 20 || len(distinct) < 2 || h.p.Stats().Faults.Delayed != 20 {
		t.Fatalf("delays %v, stats %+v", delays, h.p.Stats().Faults)
	}
}

// TestLatencyReal checks the real sleep: a lower bound only, which timers
// guarantee.
func TestLatencyReal(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{Latency: 30 * time.Millisecond}})
	start := time.Now()
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusCreated, "HL-000001", false)
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("answered after %v, want at least 30ms", el)
	}
}

func TestDownUnavailable(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now, Faults: Faults{Down: 90 * time.Second}})
	a := h.deliver("r1", payload("r1"))
	wantProblem(t, a, http.StatusServiceUnavailable, "down")
	if a.header.Get("Retry-After") != "90" {
		t.Fatalf("Retry-After = %q, want 90", a.header.Get("Retry-After"))
	}
	c.Add(60 * time.Second)
	if got := h.p.Faults().Down; got != 30*time.Second {
		t.Fatalf("Faults().Down = %v, want 30s left", got)
	}
	a = h.deliver("r1", payload("r1"))
	if a.status != 503 || a.header.Get("Retry-After") != "30" {
		t.Fatalf("status %d Retry-After %q, want 503 and 30", a.status, a.header.Get("Retry-After"))
	}
	c.Add(30 * time.Second) // the period is over
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusCreated, "HL-000001", false)
	if st := h.p.Stats(); st.Faults.Down != 2 || st.Faults.Injected != 2 || st.Received != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestDownCloseAndRefuseWithoutServe(t *testing.T) {
	for _, mode := range []DownMode{DownClose, DownRefuse} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, Config{})
			if err := h.p.SetDown(time.Hour, mode); err != nil {
				t.Fatal(err)
			}
			a := h.deliver("r1", payload("r1"))
			if a.err == nil {
				t.Fatalf("got status %d, want a closed connection", a.status)
			}
			// Admin endpoints stay up in the handler modes.
			var st Stats
			h.get("/stats", &st)
			if st.Faults.Down != 1 || st.Received != 0 {
				t.Fatalf("stats = %+v", st)
			}
			if err := h.p.SetDown(0, mode); err != nil {
				t.Fatal(err)
			}
			wantReference(t, h.deliver("r1", payload("r1")), http.StatusCreated, "HL-000001", false)
		})
	}
}

// TestReset: the portal keeps the delivery but the sender sees a broken
// answer; the retry is answered as a duplicate with the same reference.
func TestReset(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{ResetRate: 1}})
	a := h.deliver("r1", payload("r1"))
	if a.err == nil {
		t.Fatalf("got status %d, want a broken response", a.status)
	}
	if got := h.p.Received(); len(got) != 1 || got[0].ID != "r1" {
		t.Fatalf("Received() = %+v, want r1 stored", got)
	}
	if err := h.p.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusOK, "HL-000001", true)
	if st := h.p.Stats(); st.Faults.Resets != 1 || st.Faults.Injected != 1 || st.Received != 1 || st.Duplicates != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestFaultsEndpoint(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now, Faults: Faults{Latency: 20 * time.Millisecond}})
	h.p.sleep = func(context.Context, time.Duration) bool { return true }

	a := h.send(http.MethodPost, "/faults", `{"failure_rate":1,"failure_statuses":[429],"retry_after_s":7}`)
	var got faultsJSON
	a.json(t, &got)
	if a.status != 200 || got.FailureRate != 1 || got.LatencyMS != 20 || got.RetryAfterS != 7 || *got.DownS != 0 || got.DownMode != DownUnavailable {
		t.Fatalf("POST /faults = %d %s", a.status, a.body)
	}
	a = h.deliver("r1", payload("r1"))
	wantProblem(t, a, http.StatusTooManyRequests, "injected-failure")
	if a.header.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After = %q", a.header.Get("Retry-After"))
	}

	// Merge: down_s starts a period, the failure rate stays.
	a = h.send(http.MethodPost, "/faults", `{"down_s":120}`)
	a.json(t, &got)
	if a.status != 200 || got.FailureRate != 1 || *got.DownS != 120 {
		t.Fatalf("POST /faults down = %d %s", a.status, a.body)
	}
	c.Add(20 * time.Second)
	h.get("/faults", &got)
	if *got.DownS != 100 {
		t.Fatalf("GET /faults down_s = %d, want 100", *got.DownS)
	}
	wantProblem(t, h.deliver("r1", payload("r1")), http.StatusServiceUnavailable, "down")

	for _, bad := range []string{
		`{"failure_rate":1.5}`, `{"reset_rate":-0.1}`, `{"failure_statuses":[200]}`,
		`{"latency_ms":-1}`, `{"latency_ms":600000}`, `{"down_s":999999}`, `{"down_mode":"sulk"}`,
		`{"retry_after_s":9223372036854775807}`, `{"unknown":1}`, `{"failure_rate":1}{}`, `not json`,
	} {
		wantProblem(t, h.send(http.MethodPost, "/faults", bad), http.StatusBadRequest, "bad-faults")
	}
	if f := h.p.Faults(); f.FailureRate != 1 || f.Down != 100*time.Second {
		t.Fatalf("a rejected change took effect: %+v", f)
	}

	a = h.send(http.MethodDelete, "/faults", "")
	a.json(t, &got)
	if a.status != 200 || got.FailureRate != 0 || got.LatencyMS != 0 || *got.DownS != 0 {
		t.Fatalf("DELETE /faults = %d %s", a.status, a.body)
	}
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusCreated, "HL-000001", false)
}

func TestReceivedPaging(t *testing.T) {
	h := newHarness(t, Config{})
	for i := 1; i <= 5; i++ {
		id := fmt.Sprint("r", i)
		wantReference(t, h.deliver(id, payload(id)), http.StatusCreated, fmt.Sprintf("HL-%06d", i), false)
	}
	ids := func(p receivedPage) string {
		var s []string
		for _, d := range p.Deliveries {
			s = append(s, d.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		query, ids string
		next       uint64
		more       bool
	}{
		{"?limit=2", "r1,r2", 2, true},
		{"?since=2&limit=2", "r3,r4", 4, true},
		{"?since=4", "r5", 5, false},
		{"?since=5", "", 5, false},
		{"?since=99", "", 99, false},
	} {
		var p receivedPage
		h.get("/received"+tt.query, &p)
		if ids(p) != tt.ids || p.NextSince != tt.next || p.More != tt.more {
			t.Errorf("%s: ids %q next %d more %v; want %q %d %v", tt.query, ids(p), p.NextSince, p.More, tt.ids, tt.next, tt.more)
		}
	}
	for _, q := range []string{"?since=-1", "?since=x", "?limit=0", "?limit=10001"} {
		wantProblem(t, h.send(http.MethodGet, "/received"+q, ""), http.StatusBadRequest, "bad-query")
	}
}

func TestBounds(t *testing.T) {
	h := newHarness(t, Config{MaxDeliveries: 3})
	for i := 1; i <= 5; i++ {
		id := fmt.Sprint("r", i)
		h.deliver(id, payload(id))
	}
	got := h.p.Received()
	if len(got) != 3 || got[0].ID != "r3" || got[2].ID != "r5" {
		t.Fatalf("Received() = %+v", got)
	}
	if st := h.p.Stats(); st.Stored != 3 || st.Evicted != 2 || st.Received != 5 {
		t.Fatalf("stats = %+v", st)
	}

	size := int64(len(payload("r1")))
	h = newHarness(t, Config{MaxBytes: 2 * size})
	for i := 1; i <= 4; i++ {
		id := fmt.Sprint("r", i)
		h.deliver(id, payload(id))
	}
	if got := h.p.Received(); len(got) != 2 || got[0].ID != "r3" {
		t.Fatalf("by bytes: Received() = %+v", got)
	}
}

// TestConcurrent: many senders, each id sent several times; under -race.
func TestConcurrent(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{FailureRate: 0.2}})
	const senders, ids, repeats = 8, 25, 3
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				id := fmt.Sprintf("r%d-%d", s%4, i) // two senders share each id
				for range repeats {
					for {
						a := h.deliver(id, payload(id))
						if a.status == 200 || a.status == 201 {
							break
						}
						if a.status != 503 && a.status != 429 {
							errs <- fmt.Errorf("%s: status %d %v", id, a.status, a.err)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := h.p.Stats()
	if st.Received != 4*ids || st.Duplicates != senders*ids*repeats-4*ids || st.Conflicts != 0 {
		t.Fatalf("stats = %+v", st)
	}
	refs := map[string]bool{}
	for _, d := range h.p.Received() {
		if refs[d.Reference] || d.Times != 2*repeats {
			t.Fatalf("delivery %+v", d)
		}
		refs[d.Reference] = true
	}
}

func TestServeRefuse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Secrets: []string{testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	signer, _ := webhook.NewSigner(testSecret)
	client := &http.Client{Timeout: 10 * time.Second}
	deliver := func(id string) (int, error) {
		body := payload(id)
		req, _ := http.NewRequest(http.MethodPost, url+"/intake", bytes.NewReader(body))
		signer.SetHeaders(req.Header, id, time.Now(), body)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// poll repeats done until it is true. The bound is only there to fail
	// rather than hang if Serve never acts; it says nothing about speed.
	poll := func(what string, done func() bool) {
		t.Helper()
		giveUp := time.Now().Add(30 * time.Second)
		for !done() {
			if time.Now().After(giveUp) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	if st, err := deliver("r1"); err != nil || st != 201 {
		t.Fatalf("before: %d %v", st, err)
	}
	// Go down over HTTP: the answer must arrive before the listener closes.
	resp, err := client.Post(url+"/faults", "application/json", strings.NewReader(`{"down_s":3600,"down_mode":"refuse"}`))
	if err != nil {
		t.Fatalf("POST /faults: %v", err)
	}
	var f faultsJSON
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || resp.StatusCode != 200 || *f.DownS != 3600 {
		t.Fatalf("POST /faults = %d %+v %v", resp.StatusCode, f, err)
	}
	resp.Body.Close()
	poll("the listener to close", func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
			return false
		}
		// A dial caught in the backlog as the listener closes is reset;
		// only "refused" shows the port is closed.
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	// A kept-alive connection from before the fault was closed with the
	// listener; reusing it would fail with EOF, not "refused".
	client.CloseIdleConnections()
	if _, err := deliver("r2"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("deliver while down: %v, want connection refused", err)
	}
	if err := p.SetDown(0, DownRefuse); err != nil {
		t.Fatal(err)
	}
	poll("the listener to come back", func() bool {
		st, err := deliver("r2")
		return err == nil && st == 201
	})
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if got := p.Received(); len(got) != 2 {
		t.Fatalf("Received() = %d, want 2", len(got))
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"no secrets", Config{}, ErrConfig},
		{"bad secret", Config{Secrets: []string{"whsec_short"}}, webhook.ErrBadSecret},
		{"path clash", Config{Secrets: []string{testSecret}, Path: "/stats"}, ErrConfig},
		{"path without slash", Config{Secrets: []string{testSecret}, Path: "intake"}, ErrConfig},
		{"bad faults", Config{Secrets: []string{testSecret}, Faults: Faults{FailureRate: 2}}, ErrBadFaults},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
		})
	}

	h := newHarness(t, Config{Path: "/hotline/reports"})
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusCreated, "HL-000001", false)
	if a := h.send(http.MethodPost, "/intake", "{}"); a.status != http.StatusNotFound {
		t.Fatalf("POST /intake on a portal at another path = %d", a.status)
	}
}

// BenchmarkIntake measures one verified, stored delivery through the
// handler (signing on the sender side included), without the network.
func BenchmarkIntake(b *testing.B) {
	p, err := New(Config{Secrets: []string{testSecret}})
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := webhook.NewSigner(testSecret)
	body := payload("r")
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprint("r", i)
		req := httptest.NewRequest(http.MethodPost, "/intake", bytes.NewReader(body))
		signer.SetHeaders(req.Header, id, now, body)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
