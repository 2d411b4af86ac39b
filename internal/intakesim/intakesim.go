// Package intakesim is a small reference hotline intake portal, for
// development, demos and tests of delivery. It verifies Standard Webhooks
// signatures and timestamps, deduplicates by webhook-id, answers with its
// own reference, lists what it received and every intake attempt with its
// answer (so that tests can check a sender's retry timing), and injects
// faults on request.
//
// Everything is in memory and bounded. It logs nothing: what it receives
// holds reported URLs.
//
// Endpoints:
//
//	POST {Config.Path}  (default /intake)  a delivery
//	GET  /received?since=SEQ&limit=N      what was received, oldest first
//	GET  /attempts?since=SEQ&limit=N      every intake request and its answer
//	GET  /stats                           counters
//	GET  /faults                          the fault settings
//	POST /faults                          change fault settings (JSON, merged)
//	DELETE /faults                        clear all faults
//
// The admin endpoints are not authenticated: serve the portal on loopback
// or a private network only.
package intakesim

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reportit/reportit/internal/webhook"
)

// Defaults for Config fields left zero.
const (
	DefaultPath          = "/intake"
	DefaultMaxBody       = 256 << 10
	DefaultMaxDeliveries = 100_000
	DefaultMaxBytes      = 64 << 20
	DefaultMaxAttempts   = 200_000
)

// Paging of /received.
const (
	defaultLimit = 1000
	maxLimit     = 10_000
)

// Config configures a Portal.
type Config struct {
	// Secrets verify webhook-signature: "whsec_…" HMAC secrets and/or
	// "whpk_…" Ed25519 public keys; several during a rotation. Required.
	Secrets []string
	// Path of the intake endpoint; default DefaultPath.
	Path string
	// Tolerance for webhook-timestamp either way; default 5 minutes.
	Tolerance time.Duration
	// MaxBody bounds a delivery's body; default DefaultMaxBody.
	MaxBody int64
	// MaxDeliveries and MaxBytes (payload bytes) bound what is kept; the
	// oldest deliveries are dropped beyond them. Deduplication covers only
	// the deliveries kept.
	MaxDeliveries int
	MaxBytes      int64
	// MaxAttempts bounds the attempt log (/attempts); the oldest entries
	// are dropped beyond it. Default DefaultMaxAttempts.
	MaxAttempts int
	// Faults to inject from the start.
	Faults Faults
	// Rand drives the fault draws; set it for reproducible runs. Default:
	// randomly seeded.
	Rand rand.Source
	// Now is the clock for timestamps and down periods; default time.Now.
	Now func() time.Time
}

// Delivery is one report as the portal received it.
type Delivery struct {
	// ID is the webhook-id.
	ID string `json:"id"`
	// Reference is the portal's own reference, "HL-000123".
	Reference string `json:"reference"`
	// Seq orders deliveries by first receipt; /received?since= takes it.
	Seq            uint64    `json:"seq"`
	ReceivedAt     time.Time `json:"received_at"`
	LastReceivedAt time.Time `json:"last_received_at"`
	// Times counts deliveries of this id, duplicates included.
	Times int `json:"times_delivered"`
	// Payload is the body of the first delivery, as sent.
	Payload json.RawMessage `json:"payload"`
}

// Attempt is one intake request and what the portal did with it. The
// attempt log lets a test check a sender's timing: for instance that no
// report came back before the Retry-After it was given had passed.
type Attempt struct {
	// Seq numbers attempts in the order they ended (answered, cut or
	// given up); /attempts?since= takes it.
	Seq uint64 `json:"seq"`
	// ID is the webhook-id header as sent, "" when missing or not a valid
	// id. It is taken before anything is verified: a rejected attempt may
	// name any id.
	ID string `json:"id"`
	// At is when the request arrived; AnsweredAt, when the portal decided
	// its answer, just before writing it (or cutting the connection), or
	// when the sender gave up. A sender that reacts to the answer does so
	// after AnsweredAt.
	At         time.Time `json:"at"`
	AnsweredAt time.Time `json:"answered_at"`
	// Status is the status answered, 0 when the sender got none (closed,
	// hung, reset or gone).
	Status int `json:"status"`
	// RetryAfter is the Retry-After header answered, "" when none.
	RetryAfter string `json:"retry_after,omitempty"`
	// Outcome is one of the Outcome* constants.
	Outcome string `json:"outcome"`
	// Kept says the portal has the report after this attempt (stored now
	// or before), whether or not the sender learnt it.
	Kept bool `json:"kept"`
}

// Outcomes of an Attempt.
const (
	OutcomeStored    = "stored"    // 201: a new id
	OutcomeDuplicate = "duplicate" // 200: an id the portal had
	OutcomeFailure   = "failure"   // an injected failure status
	OutcomeDown      = "down"      // 503 of a down period in mode 503
	OutcomeClosed    = "closed"    // closed unanswered (down period, close or refuse)
	OutcomeHung      = "hung"      // held unanswered, then closed (down period, hang)
	OutcomeReset     = "reset"     // kept, then the answer was cut
	OutcomeRejected  = "rejected"  // a 4xx: signature, timestamp or payload
	OutcomeGone      = "gone"      // the sender left before the answer
)

// Stats counts what the portal saw.
type Stats struct {
	// Received counts unique ids accepted; Duplicates, later deliveries of
	// a known id; Conflicts, those among them whose body differed from the
	// first (a sender bug: one id must mean one payload).
	Received   uint64 `json:"received"`
	Duplicates uint64 `json:"duplicates"`
	Conflicts  uint64 `json:"conflicts"`
	// RejectedSignature counts missing headers, malformed ids and
	// signatures that do not verify; RejectedTimestamp, malformed or
	// out-of-tolerance timestamps; RejectedPayload, bodies that are too
	// large or not a JSON object with "id" and "url".
	RejectedSignature uint64 `json:"rejected_signature"`
	RejectedTimestamp uint64 `json:"rejected_timestamp"`
	RejectedPayload   uint64 `json:"rejected_payload"`
	// Stored is how many deliveries are kept; Evicted, how many were
	// dropped to stay within the bounds.
	Stored  int    `json:"stored"`
	Evicted uint64 `json:"evicted"`
	// Attempts counts intake requests; AttemptsEvicted, entries dropped
	// from the attempt log to stay within MaxAttempts.
	Attempts        uint64     `json:"attempts"`
	AttemptsEvicted uint64     `json:"attempts_evicted"`
	Faults          FaultStats `json:"faults"`
}

// FaultStats counts injected faults.
type FaultStats struct {
	// Injected counts requests whose answer a fault replaced or cut:
	// Failures, Down and Resets together. Delays are counted apart.
	Injected uint64 `json:"injected"`
	// Failures counts injected failure answers by status code.
	Failures map[int]uint64 `json:"failures"`
	Down     uint64         `json:"down"`
	Resets   uint64         `json:"resets"`
	Delayed  uint64         `json:"delayed"`
}

// Portal is the simulated intake portal. It is an http.Handler, safe for
// concurrent use.
type Portal struct {
	verifier      *webhook.Verifier
	path          string
	maxBody       int64
	maxDeliveries int
	maxBytes      int64
	maxAttempts   int
	now           func() time.Time
	sleep         func(ctx context.Context, d time.Duration) bool // replaced in tests
	mux           *http.ServeMux
	// changed wakes Serve when the fault settings change.
	changed chan struct{}

	mu        sync.Mutex
	rng       *rand.Rand
	faults    Faults // Down is always zero here; downUntil holds the period
	downUntil time.Time
	byID      map[string]*record
	list      []*record // by Seq
	bytes     int64
	seq       uint64
	stats     Stats
	attempts  []Attempt // by Seq; Seq of the n-th ever is n
}

type record struct {
	Delivery
	sum [sha256.Size]byte
}

// ErrConfig is returned by New for an unusable configuration.
var ErrConfig = errors.New("intakesim: invalid config")

// New returns a Portal for cfg.
func New(cfg Config) (*Portal, error) {
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("%w: no secrets to verify signatures with", ErrConfig)
	}
	v, err := webhook.NewVerifier(cfg.Secrets...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	p := &Portal{
		verifier:      v.WithTolerance(cfg.Tolerance),
		path:          orDefault(cfg.Path, DefaultPath),
		maxBody:       orDefault(cfg.MaxBody, DefaultMaxBody),
		maxDeliveries: orDefault(cfg.MaxDeliveries, DefaultMaxDeliveries),
		maxBytes:      orDefault(cfg.MaxBytes, DefaultMaxBytes),
		maxAttempts:   orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		now:           cfg.Now,
		sleep:         sleepCtx,
		changed:       make(chan struct{}, 1),
		byID:          map[string]*record{},
	}
	if p.now == nil {
		p.now = time.Now
	}
	src := cfg.Rand
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	p.rng = rand.New(src)
	if !strings.HasPrefix(p.path, "/") || strings.ContainsAny(p.path, " {}") {
		return nil, fmt.Errorf("%w: path %q must start with / and hold no pattern", ErrConfig, p.path)
	}
	if p.path == "/received" || p.path == "/attempts" || p.path == "/stats" || p.path == "/faults" {
		return nil, fmt.Errorf("%w: path %q is taken by an admin endpoint", ErrConfig, p.path)
	}
	if p.maxBody < 0 || p.maxDeliveries < 0 || p.maxBytes < 0 || p.maxAttempts < 0 {
		return nil, fmt.Errorf("%w: negative bounds", ErrConfig)
	}
	if err := p.SetFaults(cfg.Faults); err != nil {
		return nil, err
	}
	p.stats.Faults.Failures = map[int]uint64{}

	p.mux = http.NewServeMux()
	p.mux.HandleFunc("POST "+p.path, p.intake)
	p.mux.HandleFunc("GET /received", p.received)
	p.mux.HandleFunc("GET /attempts", p.attemptsHandler)
	p.mux.HandleFunc("GET /stats", p.statsHandler)
	p.mux.HandleFunc("GET /faults", p.getFaults)
	p.mux.HandleFunc("POST /faults", p.postFaults)
	p.mux.HandleFunc("DELETE /faults", p.deleteFaults)
	return p, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ServeHTTP serves the intake and admin endpoints.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// Path is the intake endpoint's path.
func (p *Portal) Path() string { return p.path }

// SetFaults replaces the fault settings. f.Down > 0 starts a down period
// from now; f.Down == 0 ends any down period.
func (p *Portal) SetFaults(f Faults) error {
	f, err := f.normalise()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.setFaultsLocked(f, true)
	p.mu.Unlock()
	p.notify()
	return nil
}

func (p *Portal) setFaultsLocked(f Faults, setDown bool) {
	if setDown {
		p.downUntil = time.Time{}
		if f.Down > 0 {
			p.downUntil = p.now().Add(f.Down)
		}
	}
	f.Down = 0
	p.faults = f
}

// SetDown makes the portal down for d from now in mode (see DownMode);
// d <= 0 brings it back up. Other faults are kept.
func (p *Portal) SetDown(d time.Duration, mode DownMode) error {
	p.mu.Lock()
	f := p.faults
	f.Down = max(d, 0)
	f.DownMode = mode
	f, err := f.normalise()
	if err == nil {
		p.setFaultsLocked(f, true)
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	p.notify()
	return nil
}

// Faults returns the current fault settings; Down is the time left in the
// current down period.
func (p *Portal) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faultsLocked()
}

func (p *Portal) faultsLocked() Faults {
	f := p.faults
	f.FailureStatuses = append([]int(nil), f.FailureStatuses...)
	f.Down = max(p.downUntil.Sub(p.now()), 0)
	return f
}

// notify wakes Serve, if it runs, to look at the fault settings again.
func (p *Portal) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// refusing returns how long the portal stays down in DownRefuse mode, or 0.
func (p *Portal) refusing() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.faults.DownMode != DownRefuse {
		return 0
	}
	return max(p.downUntil.Sub(p.now()), 0)
}

// Received returns a copy of the deliveries kept, oldest first.
func (p *Portal) Received() []Delivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Delivery, len(p.list))
	for i, rec := range p.list {
		out[i] = rec.copy()
	}
	return out
}

// Attempts returns a copy of the attempt log, oldest first.
func (p *Portal) Attempts() []Attempt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Attempt(nil), p.attempts...)
}

// logAttempt closes a and appends it to the attempt log.
func (p *Portal) logAttempt(a *Attempt) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a.AnsweredAt = p.now().UTC()
	p.stats.Attempts++
	a.Seq = p.stats.Attempts
	p.attempts = append(p.attempts, *a)
	if over := len(p.attempts) - p.maxAttempts; over > 0 {
		// Drop in chunks, so that a full log does not copy itself on every
		// attempt.
		over = max(over, p.maxAttempts/8)
		p.attempts = append(p.attempts[:0:0], p.attempts[over:]...)
		p.stats.AttemptsEvicted += uint64(over)
	}
}

// attemptID is the webhook-id of h if it is a valid one, else "".
func attemptID(h http.Header) string {
	id := h.Get(webhook.HeaderID)
	if len(id) > webhook.MaxIDLen {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e || c == '.' {
			return ""
		}
	}
	return id
}

func (r *record) copy() Delivery {
	d := r.Delivery
	d.Payload = append(json.RawMessage(nil), d.Payload...)
	return d
}

// Stats returns a snapshot of the counters.
func (p *Portal) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Stored = len(p.list)
	s.Faults.Failures = make(map[int]uint64, len(p.stats.Faults.Failures))
	for k, v := range p.stats.Faults.Failures {
		s.Faults.Failures[k] = v
	}
	return s
}

// intakeAnswer is the body of a successful intake answer.
type intakeAnswer struct {
	Reference string `json:"reference"`
	Duplicate bool   `json:"duplicate"`
}

// draw is what the faults decide for one intake request.
type draw struct {
	delay      time.Duration
	failStatus int // 0: no failure
	retryAfter int64
	reset      bool
}

// plan takes the fault draws for one intake request, in a fixed order so
// that a seeded Rand gives the same run every time: jitter, failure,
// failure status, reset, each only when its setting is on.
func (p *Portal) plan() (down bool, remaining time.Duration, mode DownMode, d draw) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.faults
	if now := p.now(); now.Before(p.downUntil) {
		p.stats.Faults.Down++
		p.stats.Faults.Injected++
		return true, p.downUntil.Sub(now), f.DownMode, draw{}
	}
	d.delay = f.Latency
	if f.Jitter > 0 {
		d.delay += time.Duration(p.rng.Int64N(int64(f.Jitter)))
	}
	if d.delay > 0 {
		p.stats.Faults.Delayed++
	}
	if f.FailureRate > 0 && p.rng.Float64() < f.FailureRate {
		d.failStatus = f.FailureStatuses[0]
		if len(f.FailureStatuses) > 1 {
			d.failStatus = f.FailureStatuses[p.rng.IntN(len(f.FailureStatuses))]
		}
		d.retryAfter = ceilSeconds(f.RetryAfter)
	}
	d.reset = f.ResetRate > 0 && p.rng.Float64() < f.ResetRate
	return false, 0, "", d
}

func (p *Portal) count(field *uint64) {
	p.mu.Lock()
	*field++
	p.mu.Unlock()
}

func (p *Portal) intake(w http.ResponseWriter, r *http.Request) {
	att := &pendingAttempt{p: p, a: Attempt{ID: attemptID(r.Header), At: p.now().UTC()}}
	defer att.end(0, "", OutcomeGone) // unless ended before
	down, remaining, mode, d := p.plan()
	if down {
		switch mode {
		case DownUnavailable:
			ra := strconv.FormatInt(ceilSeconds(remaining), 10)
			att.end(http.StatusServiceUnavailable, ra, OutcomeDown)
			w.Header().Set("Retry-After", ra)
			writeProblem(w, http.StatusServiceUnavailable, "down", "The portal is down for maintenance.")
			return
		case DownHang:
			// Read the body first: net/http notices that the sender left
			// (and ends r.Context()) only once it has.
			io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, p.maxBody))
			p.sleep(r.Context(), remaining)
			att.end(0, "", OutcomeHung)
		default:
			att.end(0, "", OutcomeClosed)
		}
		abort(w, nil)
		return
	}
	if d.delay > 0 && !p.sleep(r.Context(), d.delay) {
		return // the sender gave up
	}
	if d.failStatus != 0 {
		p.mu.Lock()
		p.stats.Faults.Failures[d.failStatus]++
		p.stats.Faults.Injected++
		p.mu.Unlock()
		ra := strconv.FormatInt(d.retryAfter, 10)
		att.end(d.failStatus, ra, OutcomeFailure)
		w.Header().Set("Retry-After", ra)
		writeProblem(w, d.failStatus, "injected-failure", "Injected failure; try again later.")
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			p.count(&p.stats.RejectedPayload)
			att.end(http.StatusRequestEntityTooLarge, "", OutcomeRejected)
			writeProblem(w, http.StatusRequestEntityTooLarge, "body-too-large", fmt.Sprintf("The body exceeds %d bytes.", p.maxBody))
			return
		}
		return // the connection failed while reading: nobody to answer
	}
	if err := p.verifier.Verify(r.Header, body, p.now()); err != nil {
		status, code := p.rejectSignature(err)
		att.end(status, "", OutcomeRejected)
		writeProblem(w, status, code, err.Error())
		return
	}
	var payload struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	if err := json.Unmarshal(body, &payload); err != nil || payload.ID == "" || payload.URL == "" {
		p.count(&p.stats.RejectedPayload)
		att.end(http.StatusBadRequest, "", OutcomeRejected)
		writeProblem(w, http.StatusBadRequest, "bad-payload", `The body must be a JSON object with string fields "id" and "url".`)
		return
	}

	ans := p.store(r.Header.Get(webhook.HeaderID), body)
	status, outcome := http.StatusCreated, OutcomeStored
	if ans.Duplicate {
		status, outcome = http.StatusOK, OutcomeDuplicate
	}
	att.a.Kept = true
	if d.reset {
		p.mu.Lock()
		p.stats.Faults.Resets++
		p.stats.Faults.Injected++
		p.mu.Unlock()
		att.end(0, "", OutcomeReset)
		// Part of a status line and no more: whatever the sender's HTTP
		// client, this is a broken response, not a success.
		abort(w, []byte("HTTP/1.1 "+strconv.Itoa(status)+" "))
		return
	}
	att.end(status, "", outcome)
	writeJSON(w, status, ans)
}

// pendingAttempt is the attempt log entry of an intake request in
// progress. It is logged once, before the sender can see the answer, so
// that a sender reading /attempts after its answer finds the attempt.
type pendingAttempt struct {
	p    *Portal
	a    Attempt
	done bool
}

func (pa *pendingAttempt) end(status int, retryAfter, outcome string) {
	if pa.done {
		return
	}
	pa.done = true
	pa.a.Status, pa.a.RetryAfter, pa.a.Outcome = status, retryAfter, outcome
	pa.p.logAttempt(&pa.a)
}

// rejectSignature counts a failed verification and returns the status and
// problem code of its answer. Authentication failures are 401; a malformed
// id or timestamp is a malformed request, 400. All are 4xx: a sender must
// not retry them unchanged.
func (p *Portal) rejectSignature(err error) (int, string) {
	status, code := http.StatusUnauthorized, "signature-mismatch"
	counter := &p.stats.RejectedSignature
	switch {
	case errors.Is(err, webhook.ErrMissingHeaders):
		code = "missing-headers"
	case errors.Is(err, webhook.ErrBadID):
		status, code = http.StatusBadRequest, "bad-webhook-id"
	case errors.Is(err, webhook.ErrBadTimestamp):
		status, code, counter = http.StatusBadRequest, "bad-timestamp", &p.stats.RejectedTimestamp
	case errors.Is(err, webhook.ErrTooOld):
		code, counter = "timestamp-too-old", &p.stats.RejectedTimestamp
	case errors.Is(err, webhook.ErrTooNew):
		code, counter = "timestamp-too-new", &p.stats.RejectedTimestamp
	}
	p.count(counter)
	return status, code
}

// store keeps a verified delivery, or counts it as a duplicate of the one
// with the same id.
func (p *Portal) store(id string, body []byte) intakeAnswer {
	sum := sha256.Sum256(body)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now().UTC()
	if rec, ok := p.byID[id]; ok {
		rec.Times++
		rec.LastReceivedAt = now
		p.stats.Duplicates++
		if rec.sum != sum {
			p.stats.Conflicts++
		}
		return intakeAnswer{Reference: rec.Reference, Duplicate: true}
	}
	p.seq++
	rec := &record{
		Delivery: Delivery{
			ID:             id,
			Reference:      fmt.Sprintf("HL-%06d", p.seq),
			Seq:            p.seq,
			ReceivedAt:     now,
			LastReceivedAt: now,
			Times:          1,
			Payload:        body,
		},
		sum: sum,
	}
	p.byID[id] = rec
	p.list = append(p.list, rec)
	p.bytes += int64(len(body))
	p.stats.Received++
	for len(p.list) > 1 && (len(p.list) > p.maxDeliveries || p.bytes > p.maxBytes) {
		old := p.list[0]
		p.list[0] = nil
		p.list = p.list[1:]
		delete(p.byID, old.ID)
		p.bytes -= int64(len(old.Payload))
		p.stats.Evicted++
	}
	return intakeAnswer{Reference: rec.Reference}
}

// abort writes partial (if any) on the raw connection and closes it. Over
// HTTP/2, where there is no connection to take, the stream is reset.
func abort(w http.ResponseWriter, partial []byte) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // net/http resets the stream without logging
	}
	if len(partial) > 0 {
		buf.Write(partial)
		buf.Flush()
	}
	conn.Close()
}

// receivedPage is the body of GET /received.
type receivedPage struct {
	Deliveries []Delivery `json:"deliveries"`
	// NextSince is the since= for the next page.
	NextSince uint64 `json:"next_since"`
	More      bool   `json:"more"`
}

func (p *Portal) received(w http.ResponseWriter, r *http.Request) {
	since, limit, ok := pageQuery(w, r)
	if !ok {
		return
	}
	p.mu.Lock()
	i := sort.Search(len(p.list), func(i int) bool { return p.list[i].Seq > since })
	end := min(i+limit, len(p.list))
	page := receivedPage{Deliveries: make([]Delivery, 0, end-i), NextSince: since, More: end < len(p.list)}
	for _, rec := range p.list[i:end] {
		page.Deliveries = append(page.Deliveries, rec.copy())
	}
	if end > i {
		page.NextSince = p.list[end-1].Seq
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, page)
}

// attemptsPage is the body of GET /attempts.
type attemptsPage struct {
	Attempts []Attempt `json:"attempts"`
	// NextSince is the since= for the next page.
	NextSince uint64 `json:"next_since"`
	More      bool   `json:"more"`
}

func (p *Portal) attemptsHandler(w http.ResponseWriter, r *http.Request) {
	since, limit, ok := pageQuery(w, r)
	if !ok {
		return
	}
	p.mu.Lock()
	i := sort.Search(len(p.attempts), func(i int) bool { return p.attempts[i].Seq > since })
	end := min(i+limit, len(p.attempts))
	page := attemptsPage{Attempts: append([]Attempt{}, p.attempts[i:end]...), NextSince: since, More: end < len(p.attempts)}
	if end > i {
		page.NextSince = p.attempts[end-1].Seq
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, page)
}

// pageQuery reads since= and limit= of a listing, answering a problem
// itself when they are malformed.
func pageQuery(w http.ResponseWriter, r *http.Request) (since uint64, limit int, ok bool) {
	q := r.URL.Query()
	limit = defaultLimit
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "bad-query", "since must be a sequence number.")
			return 0, 0, false
		}
		since = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			writeProblem(w, http.StatusBadRequest, "bad-query", fmt.Sprintf("limit must be in 1..%d.", maxLimit))
			return 0, 0, false
		}
		limit = n
	}
	return since, limit, true
}

func (p *Portal) statsHandler(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, p.Stats())
}

func (p *Portal) getFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, p.Faults().wire())
}

func (p *Portal) postFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body-too-large", "The faults body is too large.")
		return
	}
	p.mu.Lock()
	f, setDown, err := mergeFaults(p.faultsLocked(), body)
	if err == nil {
		p.setFaultsLocked(f, setDown)
		f = p.faultsLocked()
	}
	p.mu.Unlock()
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "bad-faults", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, f.wire())
	// Answer before Serve may close the listener for a refuse period.
	http.NewResponseController(w).Flush()
	p.notify()
}

func (p *Portal) deleteFaults(w http.ResponseWriter, r *http.Request) {
	if err := p.SetFaults(Faults{}); err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p.Faults().wire())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; they always marshal.
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// problem is an RFC 9457 problem detail; code is a stable, machine-readable
// name for the failure.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	body, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Code: code})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
