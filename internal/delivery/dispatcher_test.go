package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/reportit/reportit/internal/intakesim"
	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/webhook"
)

// source is an in-memory Source.
type source struct {
	mu      sync.Mutex
	reports map[string]report.Report
	errs    map[string]error
	loads   int
}

func newSource() *source {
	return &source{reports: map[string]report.Report{}, errs: map[string]error{}}
}

func (s *source) add(id, hotline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports[id] = report.Report{
		ID: id, Reference: "REF-" + id, HotlineID: hotline,
		URL:         "https://example.org/material/" + id,
		ContentType: report.ContentImage, Category: report.CategoryCSAM,
		Comment:    "comment-" + id,
		ReceivedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func (s *source) Load(ctx context.Context, id string) (report.Report, Sightings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if err := s.errs[id]; err != nil {
		return report.Report{}, Sightings{}, err
	}
	r, ok := s.reports[id]
	if !ok {
		return report.Report{}, Sightings{}, report.ErrNotFound
	}
	return r, Sightings{Count: 2}, nil
}

// sim is an intakesim portal on loopback. arrived, if set, gets a value
// for every intake request as it reaches the portal.
type sim struct {
	p       *intakesim.Portal
	srv     *httptest.Server
	secret  string
	arrived chan struct{}
}

func newSim(t *testing.T, faults intakesim.Faults, arrived chan struct{}) *sim {
	t.Helper()
	s := &sim{secret: webhook.NewSecret(), arrived: arrived}
	p, err := intakesim.New(intakesim.Config{Secrets: []string{s.secret}, Faults: faults, Rand: rand.NewPCG(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == p.Path() {
			// Read the body first: only then does net/http watch the
			// connection, and cancel the request's context when the sender
			// hangs up. intakesim sleeps its latency before reading, and
			// would otherwise hold a hung-up request for the whole latency.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if s.arrived != nil {
				s.arrived <- struct{}{}
			}
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sim) target() PushTarget {
	return PushTarget{Endpoint: s.srv.URL + s.p.Path(), Secrets: []string{s.secret}}
}

// harness is a dispatcher on a fake clock with its own metrics.
type harness struct {
	d       *Dispatcher
	src     *source
	clock   *clock
	metrics *Metrics
	enq     time.Time
}

func newHarness(t *testing.T, rc RoutesConfig, cfg Config) *harness {
	t.Helper()
	if rc.Client.Timeout == 0 {
		// Requests end when the test says so, not on a timer.
		rc.Client.Timeout = 5 * time.Minute
	}
	routes, err := NewRoutes(rc)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{src: newSource(), clock: newClock()}
	h.enq = h.clock.Now()
	h.metrics, err = NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Source, cfg.Routes, cfg.Metrics, cfg.Now = h.src, routes, h.metrics, h.clock.Now
	if cfg.Policy.Rand == nil {
		cfg.Policy.Rand = fixed(0.5)
	}
	h.d, err = NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) job(id, hotline string, attempt int) Job {
	return Job{ReportID: id, HotlineID: hotline, Attempt: attempt, EnqueuedAt: h.enq}
}

func (h *harness) attempts(hotline, outcome string) float64 {
	return value(h.metrics.Attempts.WithLabelValues(hotline, outcome))
}

func TestDeliverPush(t *testing.T) {
	s := newSim(t, intakesim.Faults{}, nil)
	h := newHarness(t, RoutesConfig{Push: map[string]PushTarget{"hl-a": s.target()}}, Config{})
	h.src.add("r1", "hl-a")

	o := h.d.Deliver(context.Background(), h.job("r1", "hl-a", 1))
	if o.Kind != OutcomeDelivered || o.Reference != "HL-000001" || !o.At.Equal(h.clock.Now()) || o.Err != nil || !o.Attempted {
		t.Fatalf("got %+v", o)
	}
	rec := s.p.Received()
	if len(rec) != 1 || rec[0].ID != "r1" || !strings.Contains(string(rec[0].Payload), `"sightings":{"count":2`) {
		t.Fatalf("portal received %+v", rec)
	}
	if got := h.attempts("hl-a", "delivered"); got != 1 {
		t.Errorf("delivered attempts metric %v", got)
	}
	if n := count(h.metrics.Duration); n != 1 {
		t.Errorf("%d duration series, want 1", n)
	}
}

func TestDeliverOutcomes(t *testing.T) {
	down := newSim(t, intakesim.Faults{FailureRate: 1, FailureStatuses: []int{503}, RetryAfter: 10 * time.Minute}, nil)
	refuse := newSim(t, intakesim.Faults{FailureRate: 1, FailureStatuses: []int{400}}, nil)
	rc := RoutesConfig{Push: map[string]PushTarget{"down": down.target(), "refuse": refuse.target()}}
	h := newHarness(t, rc, Config{Policy: Policy{Base: time.Second, Max: time.Hour}})
	h.src.add("r-down", "down")
	h.src.add("r-refuse", "refuse")
	h.src.add("r-other", "down")
	h.src.add("r-erased", "down")
	h.src.reports["r-erased"] = report.Report{ID: "r-erased", HotlineID: "down"}
	h.src.errs["r-busy-db"] = report.ErrUnavailable
	ctx := context.Background()
	now := h.clock.Now()

	tests := []struct {
		name   string
		job    Job
		kind   OutcomeKind
		at     time.Time
		reason string
		err    error
		metric string
	}{
		{"503 honours Retry-After", h.job("r-down", "down", 1), OutcomeRetry, now.Add(10 * time.Minute), "", portal.ErrUnavailable, "retry"},
		{"400 is dead", h.job("r-refuse", "refuse", 1), OutcomeDead, now, "refused: portal: report r-refuse: rejected by the portal: HTTP 400", portal.ErrRejected, "dead"},
		{"form for a hotline without channel", h.job("r-x", "no-channel", 1), OutcomeUseForm, now, "", nil, "use_form"},
		{"report gone", h.job("r-missing", "down", 1), OutcomeDead, now, "report not found", report.ErrNotFound, "dead"},
		{"report erased", h.job("r-erased", "down", 1), OutcomeDead, now, "report has no URL (erased)", nil, "dead"},
		{"hotline mismatch", h.job("r-other", "refuse", 1), OutcomeDead, now, "job hotline does not match the report's", nil, "dead"},
		{"store unavailable", h.job("r-busy-db", "down", 3), OutcomeRetry, now.Add(2 * time.Second), "", report.ErrUnavailable, "retry"},
		{"no enqueued time", Job{ReportID: "r-down", HotlineID: "down", Attempt: 1}, OutcomeDead, now,
			"invalid job: report id, hotline id and enqueued time are required", nil, "dead"},
		{"past max age", Job{ReportID: "r-down", HotlineID: "down", Attempt: 50, EnqueuedAt: now.Add(-DefaultMaxAge)}, OutcomeDead, now,
			"not delivered within 72h0m0s: portal: report r-down: portal unavailable: HTTP 503", portal.ErrUnavailable, "dead"},
	}
	for _, tt := range tests {
		o := h.d.Deliver(ctx, tt.job)
		if o.Kind != tt.kind || !o.At.Equal(tt.at) || o.Reason != tt.reason {
			t.Errorf("%s: got %v at %v reason %q (%v), want %v at %v reason %q", tt.name, o.Kind, o.At.Sub(now), o.Reason, o.Err, tt.kind, tt.at.Sub(now), tt.reason)
		}
		if (tt.err == nil) != (o.Err == nil) || tt.err != nil && !errors.Is(o.Err, tt.err) {
			t.Errorf("%s: Err %v, want %v", tt.name, o.Err, tt.err)
		}
		if o.Err != nil && (strings.Contains(o.Err.Error(), "example.org") || strings.Contains(o.Err.Error(), "comment-")) {
			t.Errorf("%s: Err %q leaks report content", tt.name, o.Err)
		}
		if got := h.attempts(tt.job.HotlineID, tt.metric); got < 1 {
			t.Errorf("%s: no %s attempt counted", tt.name, tt.metric)
		}
	}
	if got := value(h.metrics.Failures.WithLabelValues("down", "http_5xx")); got != 2 {
		t.Errorf("http_5xx failures %v, want 2", got)
	}
	if got := value(h.metrics.Failures.WithLabelValues("refuse", "http_4xx")); got != 1 {
		t.Errorf("http_4xx failures %v, want 1", got)
	}
	if got := value(h.metrics.Failures.WithLabelValues("down", "load")); got != 1 {
		t.Errorf("load failures %v, want 1", got)
	}
}

// One hotline's portal hangs with every slot of its lane taken: the next
// job for it is turned away at once, without touching the portal, and
// another hotline's reports are all delivered while the hung requests are
// still out.
func TestSlowPortalDoesNotDelayOthers(t *testing.T) {
	arrived := make(chan struct{}, 16)
	slow := newSim(t, intakesim.Faults{Latency: 5 * time.Minute}, arrived)
	fast := newSim(t, intakesim.Faults{}, nil)
	h := newHarness(t, RoutesConfig{Push: map[string]PushTarget{"slow": slow.target(), "fast": fast.target()}},
		Config{Concurrency: 4, BusyDelay: 2 * time.Second})
	for i := range 5 {
		h.src.add(fmt.Sprintf("s%d", i), "slow")
	}
	for i := range 20 {
		h.src.add(fmt.Sprintf("f%d", i), "fast")
	}

	slowCtx, cancelSlow := context.WithCancel(context.Background())
	defer cancelSlow()
	var slowDone atomic.Int32
	slowOut := make(chan Outcome, 4)
	for i := range 4 {
		go func() {
			o := h.d.Deliver(slowCtx, h.job(fmt.Sprintf("s%d", i), "slow", 1))
			slowDone.Add(1)
			slowOut <- o
		}()
	}
	for range 4 {
		<-arrived // all four slots of the slow lane are taken
	}

	fifth := make(chan Outcome, 1)
	go func() { fifth <- h.d.Deliver(slowCtx, h.job("s4", "slow", 1)) }()
	var o Outcome
	select {
	case o = <-fifth:
	case <-arrived:
		t.Fatal("a fifth request reached the slow portal: the lane has no limit")
	}
	if o.Kind != OutcomeRetry || !errors.Is(o.Err, ErrBusy) || o.Attempted {
		t.Fatalf("fifth slow job: %+v, want a busy retry, not attempted", o)
	}
	if d := o.At.Sub(h.clock.Now()); d < time.Second || d >= 3*time.Second {
		t.Errorf("busy retry after %v, want within [1s, 3s)", d)
	}

	// One after the other, so that the fast lane's own limit never turns
	// one away.
	delivered := 0
	for i := range 20 {
		if o := h.d.Deliver(context.Background(), h.job(fmt.Sprintf("f%d", i), "fast", 1)); o.Kind == OutcomeDelivered {
			delivered++
		}
	}
	if n := delivered; n != 20 {
		t.Fatalf("%d of 20 fast reports delivered", n)
	}
	if n := slowDone.Load(); n != 0 {
		t.Fatalf("%d slow deliveries finished before the fast ones were checked; the test proves nothing", n)
	}
	if got := fast.p.Stats().Received; got != 20 {
		t.Errorf("fast portal received %d", got)
	}
	select {
	case <-arrived:
		t.Error("the busy job reached the slow portal")
	default:
	}

	// Shutting down the slow ones: retried soon, not counted as attempts,
	// and no verdict on the portal.
	cancelSlow()
	for range 4 {
		o := <-slowOut
		if o.Kind != OutcomeRetry || o.Attempted || !errors.Is(o.Err, context.Canceled) {
			t.Errorf("interrupted slow job: %+v", o)
		}
	}
	if s := h.d.BreakerState("slow"); s != BreakerClosed {
		t.Errorf("slow breaker %v after a shutdown", s)
	}
	if got := h.attempts("slow", "busy"); got != 1 {
		t.Errorf("busy metric %v", got)
	}
}

// A portal that is down opens its breaker after N failures; further jobs
// for it are not sent, other hotlines are unaffected, and after the
// cool-down one probe finds out whether it is back.
func TestDownPortalBreaker(t *testing.T) {
	down := newSim(t, intakesim.Faults{FailureRate: 1, FailureStatuses: []int{503}}, nil)
	up := newSim(t, intakesim.Faults{}, nil)
	h := newHarness(t, RoutesConfig{Push: map[string]PushTarget{"down": down.target(), "up": up.target()}},
		Config{Breaker: BreakerConfig{Failures: 3, Cooldown: time.Minute}, Policy: Policy{Base: time.Second, Max: time.Second}})
	for i := range 10 {
		h.src.add(fmt.Sprintf("d%d", i), "down")
		h.src.add(fmt.Sprintf("u%d", i), "up")
	}
	ctx := context.Background()
	sent := func() uint64 { return down.p.Stats().Faults.Injected }

	for i := range 3 {
		if o := h.d.Deliver(ctx, h.job(fmt.Sprintf("d%d", i), "down", 1)); o.Kind != OutcomeRetry || !errors.Is(o.Err, portal.ErrUnavailable) {
			t.Fatalf("d%d: %+v", i, o)
		}
	}
	if s := h.d.BreakerState("down"); s != BreakerOpen {
		t.Fatalf("breaker %v after 3 failures", s)
	}
	opened := h.clock.Now()
	loads := h.src.loads
	for i := 3; i < 10; i++ {
		o := h.d.Deliver(ctx, h.job(fmt.Sprintf("d%d", i), "down", 1))
		if o.Kind != OutcomeRetry || !errors.Is(o.Err, ErrBreakerOpen) || !o.Attempted {
			t.Fatalf("d%d with the breaker open: %+v", i, o)
		}
		// After the cool-down, spread over one more (Rand is 0.5 here).
		if want := opened.Add(time.Minute + 30*time.Second); !o.At.Equal(want) {
			t.Errorf("d%d retry at %v, want %v", i, o.At.Sub(opened), want.Sub(opened))
		}
	}
	if n := sent(); n != 3 {
		t.Errorf("down portal got %d requests, want 3: an open breaker must not send", n)
	}
	if h.src.loads != loads {
		t.Errorf("reports loaded while the breaker was open")
	}
	for i := range 10 {
		if o := h.d.Deliver(ctx, h.job(fmt.Sprintf("u%d", i), "up", 1)); o.Kind != OutcomeDelivered {
			t.Fatalf("u%d: %+v", i, o)
		}
	}

	// Cool-down over, still down: the probe fails and it reopens.
	h.clock.Add(time.Minute)
	if o := h.d.Deliver(ctx, h.job("d3", "down", 2)); o.Kind != OutcomeRetry || !errors.Is(o.Err, portal.ErrUnavailable) {
		t.Fatalf("failed probe: %+v", o)
	}
	if s := h.d.BreakerState("down"); s != BreakerOpen {
		t.Fatalf("breaker %v after a failed probe", s)
	}

	// Back up: the next probe is delivered and closes it; the backlog flows.
	if err := down.p.SetFaults(intakesim.Faults{}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	for i := range 10 {
		if o := h.d.Deliver(ctx, h.job(fmt.Sprintf("d%d", i), "down", 3)); o.Kind != OutcomeDelivered {
			t.Fatalf("d%d after recovery: %+v", i, o)
		}
	}
	if s := h.d.BreakerState("down"); s != BreakerClosed {
		t.Errorf("breaker %v after recovery", s)
	}
	if got := down.p.Stats().Received; got != 10 {
		t.Errorf("down portal has %d reports after recovery, want 10", got)
	}
	for to, want := range map[string]float64{"open": 2, "half-open": 2, "closed": 1} {
		if got := value(h.metrics.BreakerTransitions.WithLabelValues("down", to)); got != want {
			t.Errorf("transitions to %s: %v, want %v", to, got, want)
		}
	}
	if got := value(h.metrics.BreakerOpen.WithLabelValues("down")); got != 0 {
		t.Errorf("breaker-open gauge %v after recovery", got)
	}
	if got := h.attempts("down", "breaker_open"); got != 7 {
		t.Errorf("breaker_open attempts %v, want 7", got)
	}
}

// Hotlines sent to the shared intake portal share its lane: one breaker,
// one concurrency limit.
func TestSharedIntakeLane(t *testing.T) {
	s := newSim(t, intakesim.Faults{FailureRate: 1, FailureStatuses: []int{502}}, nil)
	intake := s.target()
	h := newHarness(t, RoutesConfig{Intake: &intake}, Config{Breaker: BreakerConfig{Failures: 2}})
	h.src.add("a1", "hl-a")
	h.src.add("b1", "hl-b")
	h.src.add("c1", "hl-c")
	ctx := context.Background()
	h.d.Deliver(ctx, h.job("a1", "hl-a", 1))
	h.d.Deliver(ctx, h.job("b1", "hl-b", 1))
	if o := h.d.Deliver(ctx, h.job("c1", "hl-c", 1)); !errors.Is(o.Err, ErrBreakerOpen) {
		t.Fatalf("third hotline on the same failing portal: %+v", o)
	}
	if got := value(h.metrics.BreakerTransitions.WithLabelValues(IntakeLane, "open")); got != 1 {
		t.Errorf("intake lane opened %v times", got)
	}
}

// A channel added by someone else (e-mail) is used for its hotline, in
// preference to the shared intake portal.
type recordingChannel struct {
	mu  sync.Mutex
	ids []string
	res Result
}

func (c *recordingChannel) Deliver(ctx context.Context, r report.Report, s Sightings) Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = append(c.ids, r.ID)
	return c.res
}

func TestOtherChannel(t *testing.T) {
	s := newSim(t, intakesim.Faults{}, nil)
	intake := s.target()
	mail := &recordingChannel{res: Result{Kind: portal.Delivered}}
	h := newHarness(t, RoutesConfig{Intake: &intake, Channels: map[string]Channel{"hl-mail": mail}}, Config{})
	h.src.add("m1", "hl-mail")
	h.src.add("p1", "hl-push")
	ctx := context.Background()
	if o := h.d.Deliver(ctx, h.job("m1", "hl-mail", 1)); o.Kind != OutcomeDelivered {
		t.Fatalf("mail: %+v", o)
	}
	if o := h.d.Deliver(ctx, h.job("p1", "hl-push", 1)); o.Kind != OutcomeDelivered {
		t.Fatalf("push: %+v", o)
	}
	if len(mail.ids) != 1 || mail.ids[0] != "m1" {
		t.Errorf("mail channel got %v", mail.ids)
	}
	if rec := s.p.Received(); len(rec) != 1 || rec[0].ID != "p1" {
		t.Errorf("intake portal got %+v", rec)
	}
}

func TestNewRoutes(t *testing.T) {
	good := PushTarget{Endpoint: "https://intake.example/v1/reports", Secrets: []string{webhook.NewSecret()}}
	mail := &recordingChannel{}
	tests := []struct {
		name string
		cfg  RoutesConfig
		ok   bool
	}{
		{"empty: every hotline uses its form", RoutesConfig{}, true},
		{"https", RoutesConfig{Push: map[string]PushTarget{"a": good}}, true},
		{"http loopback", RoutesConfig{Intake: &PushTarget{Endpoint: "http://127.0.0.1:9000/intake", Secrets: good.Secrets}}, true},
		{"http localhost", RoutesConfig{Intake: &PushTarget{Endpoint: "http://localhost:9000/intake", Secrets: good.Secrets}}, true},
		{"http elsewhere", RoutesConfig{Intake: &PushTarget{Endpoint: "http://intakesim:9000/intake", Secrets: good.Secrets}}, false},
		{"http elsewhere allowed", RoutesConfig{AllowHTTP: true, Intake: &PushTarget{Endpoint: "http://intakesim:9000/intake", Secrets: good.Secrets}}, true},
		{"relative endpoint", RoutesConfig{Push: map[string]PushTarget{"a": {Endpoint: "/intake", Secrets: good.Secrets}}}, false},
		{"no secret", RoutesConfig{Push: map[string]PushTarget{"a": {Endpoint: good.Endpoint}}}, false},
		{"bad secret", RoutesConfig{Push: map[string]PushTarget{"a": {Endpoint: good.Endpoint, Secrets: []string{"whsec_short"}}}}, false},
		{"public key cannot sign", RoutesConfig{Push: map[string]PushTarget{"a": {Endpoint: good.Endpoint, Secrets: []string{"whpk_" + strings.Repeat("A", 43) + "="}}}}, false},
		{"rotation", RoutesConfig{Push: map[string]PushTarget{"a": {Endpoint: good.Endpoint, Secrets: []string{webhook.NewSecret(), webhook.NewSecret()}}}}, true},
		{"negative concurrency", RoutesConfig{Push: map[string]PushTarget{"a": {Endpoint: good.Endpoint, Secrets: good.Secrets, Concurrency: -1}}}, false},
		{"push and mail for one hotline", RoutesConfig{Push: map[string]PushTarget{"a": good}, Channels: map[string]Channel{"a": mail}}, false},
		{"nil channel", RoutesConfig{Channels: map[string]Channel{"a": nil}}, false},
		{"hotline named like the intake lane", RoutesConfig{Push: map[string]PushTarget{IntakeLane: good}}, false},
	}
	for _, tt := range tests {
		_, err := NewRoutes(tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v", tt.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "whsec_short") {
			t.Errorf("%s: error %q quotes a secret", tt.name, err)
		}
	}
}

func TestRoutePrecedence(t *testing.T) {
	own := PushTarget{Endpoint: "https://own.example/intake", Secrets: []string{webhook.NewSecret()}, Concurrency: 9}
	shared := PushTarget{Endpoint: "https://shared.example/intake", Secrets: []string{webhook.NewSecret()}}
	mail := &recordingChannel{}
	rt, err := NewRoutes(RoutesConfig{Intake: &shared, Push: map[string]PushTarget{"own": own}, Channels: map[string]Channel{"mail": mail}})
	if err != nil {
		t.Fatal(err)
	}
	for hotline, want := range map[string]struct {
		lane string
		conc int
	}{"own": {"own", 9}, "mail": {"mail", 0}, "other": {IntakeLane, 0}} {
		r, ok := rt.Route(hotline)
		if !ok || r.Lane != want.lane || r.Concurrency != want.conc || r.Channel == nil {
			t.Errorf("%s: %+v %v, want lane %s", hotline, r, ok, want.lane)
		}
	}
	if r, _ := rt.Route("mail"); r.Channel != Channel(mail) {
		t.Errorf("mail hotline not routed to its channel")
	}
	rt, _ = NewRoutes(RoutesConfig{Push: map[string]PushTarget{"own": own}})
	if _, ok := rt.Route("other"); ok {
		t.Errorf("a hotline with no channel and no shared portal has a route")
	}
}

func TestIntakeFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if tg, err := IntakeFromEnv(env()); tg != nil || err != nil {
		t.Errorf("unset: %v %v", tg, err)
	}
	tg, err := IntakeFromEnv(env("REPORTIT_INTAKE_URL", " https://h.example/in ", "REPORTIT_INTAKE_SECRET", "whsec_new  whsec_old"))
	if err != nil || tg.Endpoint != "https://h.example/in" || len(tg.Secrets) != 2 || tg.Secrets[0] != "whsec_new" {
		t.Errorf("set: %+v %v", tg, err)
	}
	if _, err := IntakeFromEnv(env("REPORTIT_INTAKE_URL", "https://h.example/in")); !errors.Is(err, ErrConfig) {
		t.Errorf("URL without secret: %v", err)
	}
	if _, err := IntakeFromEnv(env("REPORTIT_INTAKE_SECRET", "whsec_x")); !errors.Is(err, ErrConfig) {
		t.Errorf("secret without URL: %v", err)
	}
}

func TestNewDispatcherConfig(t *testing.T) {
	routes, _ := NewRoutes(RoutesConfig{})
	for name, cfg := range map[string]Config{
		"no source":         {Routes: routes},
		"no routes":         {Source: newSource()},
		"negative":          {Source: newSource(), Routes: routes, Concurrency: -1},
		"negative age":      {Source: newSource(), Routes: routes, Policy: Policy{MaxAge: -1}},
		"base above cap":    {Source: newSource(), Routes: routes, Policy: Policy{Base: time.Hour, Max: time.Minute}},
		"negative cooldown": {Source: newSource(), Routes: routes, Breaker: BreakerConfig{Cooldown: -1}},
	} {
		if _, err := NewDispatcher(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewDispatcher(Config{Source: newSource(), Routes: routes}); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// value reads a counter or gauge. (prometheus/testutil would need a module
// this one does not require.)
func value(m prometheus.Metric) float64 {
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		panic(err)
	}
	if c := pb.GetCounter(); c != nil {
		return c.GetValue()
	}
	return pb.GetGauge().GetValue()
}

// count is how many series c has.
func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}
