// Package delivery decides how, when and whether a report reaches its
// hotline, independent of the durable queue that holds the jobs.
//
// The queue adapter calls Dispatcher.Deliver for each job it runs and acts
// on the Outcome: mark the report delivered (with the hotline's reference),
// schedule the job again at Outcome.At, move it to the dead-letter state,
// or mark the report "use the hotline's form". Deliver never sleeps or
// waits for a free slot: a busy or failing portal costs a worker only the
// time of one request, so one hotline cannot hold up the others.
//
// Delivery is at least once. The receiver deduplicates by webhook-id (the
// report id); see docs/delivery-payload.md.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
)

// Defaults of Config.
const (
	// DefaultConcurrency bounds deliveries in flight per lane (portal).
	DefaultConcurrency = 4
	// DefaultBusyDelay is how soon a job that found its lane full runs
	// again (jittered between half and one and a half times).
	DefaultBusyDelay = 2 * time.Second
)

// Errors.
var (
	// ErrConfig is an unusable configuration.
	ErrConfig = errors.New("delivery: invalid config")
	// ErrBreakerOpen is the Err of a job not sent because its portal's
	// circuit breaker is open.
	ErrBreakerOpen = errors.New("delivery: circuit breaker open")
	// ErrBusy is the Err of a job not sent because its lane was full.
	ErrBusy = errors.New("delivery: lane busy")
)

// Job is one delivery job as the queue holds it.
type Job struct {
	// ReportID is the report to deliver (for a sighting, its primary).
	ReportID string
	// HotlineID is the hotline it goes to; it must be the report's.
	HotlineID string
	// Attempt numbers this run, 1 for the first. It drives the backoff.
	Attempt int
	// EnqueuedAt is when the job was first enqueued; the maximum age
	// counts from it. Required.
	EnqueuedAt time.Time
}

// Source loads what a delivery needs. Load returns report.ErrNotFound (or
// an error wrapping it) for a report that is gone; any other error is
// taken as passing and the job is retried.
type Source interface {
	Load(ctx context.Context, id string) (report.Report, Sightings, error)
}

// OutcomeKind says what the queue does with a job after a run.
type OutcomeKind uint8

const (
	// OutcomeDelivered: mark the report delivered at At, keep Reference.
	OutcomeDelivered OutcomeKind = iota + 1
	// OutcomeRetry: run the job again at At.
	OutcomeRetry
	// OutcomeDead: move the job to the dead-letter state, with Reason.
	OutcomeDead
	// OutcomeUseForm: the hotline has no channel; mark the report "use the
	// hotline's form". The job is done.
	OutcomeUseForm
)

func (k OutcomeKind) String() string {
	switch k {
	case OutcomeDelivered:
		return "delivered"
	case OutcomeRetry:
		return "retry"
	case OutcomeDead:
		return "dead"
	case OutcomeUseForm:
		return "use_form"
	}
	return "unknown"
}

// Outcome is what became of a job run.
type Outcome struct {
	Kind OutcomeKind
	// At is when the report was delivered (Delivered), when to run the job
	// again (Retry), or when it was given up (Dead).
	At time.Time
	// Reference is the hotline's own reference, if it gave one (Delivered).
	Reference string
	// Reason says why the job is dead (Dead): safe to store and to show an
	// operator; no report content.
	Reason string
	// Err is the last error, for logs; safe to log. Nil when Delivered.
	Err error
	// Attempted is false when nothing was sent because the lane was full or
	// our own context ended: a queue that counts attempts should not count
	// this run (snooze it). A run refused by an open breaker counts: the
	// portal failed recently, and the growing backoff keeps such jobs from
	// spinning.
	Attempted bool
}

// Config configures a Dispatcher.
type Config struct {
	// Source loads reports. Required.
	Source Source
	// Routes resolves hotlines to channels. Required.
	Routes *Routes
	// Policy for retries and the maximum age.
	Policy Policy
	// Breaker configures each lane's circuit breaker.
	Breaker BreakerConfig
	// Concurrency bounds deliveries in flight per lane unless its route
	// says otherwise; default DefaultConcurrency.
	Concurrency int
	// BusyDelay is how soon a job that found its lane full runs again;
	// default DefaultBusyDelay.
	BusyDelay time.Duration
	// Metrics, optional.
	Metrics *Metrics
	// Now is the clock for breakers and schedules; default time.Now.
	Now func() time.Time
}

// Dispatcher runs delivery jobs. It is safe for concurrent use; the queue
// may run as many jobs at once as it likes.
type Dispatcher struct {
	source      Source
	routes      *Routes
	policy      Policy
	breaker     BreakerConfig
	concurrency int
	busyDelay   time.Duration
	metrics     *Metrics
	now         func() time.Time

	mu    sync.Mutex
	lanes map[string]*lane
}

// lane is the state shared by deliveries to one portal.
type lane struct {
	slots   chan struct{} // a token per delivery in flight
	breaker *Breaker
}

// NewDispatcher returns a Dispatcher for cfg.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if cfg.Source == nil || cfg.Routes == nil {
		return nil, fmt.Errorf("%w: Source and Routes are required", ErrConfig)
	}
	if err := cfg.Policy.check(); err != nil {
		return nil, err
	}
	if cfg.Concurrency < 0 || cfg.BusyDelay < 0 || cfg.Breaker.Failures < 0 || cfg.Breaker.Cooldown < 0 || cfg.Breaker.ProbeTimeout < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrConfig)
	}
	d := &Dispatcher{
		source:      cfg.Source,
		routes:      cfg.Routes,
		policy:      cfg.Policy.withDefaults(),
		breaker:     cfg.Breaker.withDefaults(),
		concurrency: orDefault(cfg.Concurrency, DefaultConcurrency),
		busyDelay:   orDefault(cfg.BusyDelay, DefaultBusyDelay),
		metrics:     cfg.Metrics,
		now:         cfg.Now,
		lanes:       map[string]*lane{},
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d, nil
}

// lane returns the lane of r, creating it on first use.
func (d *Dispatcher) lane(r Route) *lane {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.lanes[r.Lane]
	if !ok {
		name := r.Lane
		l = &lane{
			slots: make(chan struct{}, orDefault(r.Concurrency, d.concurrency)),
			breaker: NewBreaker(d.breaker, d.now, func(_, to BreakerState) {
				d.metrics.breaker(name, to)
			}),
		}
		d.lanes[r.Lane] = l
	}
	return l
}

// BreakerState returns the state of the breaker in front of a hotline's
// portal, for status pages and tests; BreakerClosed for a hotline not yet
// delivered to.
func (d *Dispatcher) BreakerState(hotlineID string) BreakerState {
	r, ok := d.routes.Route(hotlineID)
	if !ok {
		return BreakerClosed
	}
	d.mu.Lock()
	l := d.lanes[r.Lane]
	d.mu.Unlock()
	if l == nil {
		return BreakerClosed
	}
	return l.breaker.State()
}

// Deliver runs one job: one delivery attempt at most, and the decision
// what to do next. It does not block on a busy or failing portal.
func (d *Dispatcher) Deliver(ctx context.Context, job Job) Outcome {
	o := d.deliver(ctx, job)
	d.metrics.attempt(job.HotlineID, o.label)
	return o.Outcome
}

// labelled is an Outcome with its Attempts label.
type labelled struct {
	Outcome
	label string
}

func (d *Dispatcher) deliver(ctx context.Context, job Job) labelled {
	now := d.now()
	dead := func(reason string, err error) labelled {
		return labelled{Outcome{Kind: OutcomeDead, At: now, Reason: reason, Err: err}, OutcomeDead.String()}
	}
	if job.ReportID == "" || job.HotlineID == "" || job.EnqueuedAt.IsZero() {
		return dead("invalid job: report id, hotline id and enqueued time are required", nil)
	}
	attempt := max(job.Attempt, 1)

	route, ok := d.routes.Route(job.HotlineID)
	if !ok {
		return labelled{Outcome{Kind: OutcomeUseForm, At: now}, OutcomeUseForm.String()}
	}
	l := d.lane(route)

	select {
	case l.slots <- struct{}{}:
	default:
		return labelled{Outcome{Kind: OutcomeRetry, At: now.Add(d.busyWait()), Err: ErrBusy}, outcomeBusy}
	}
	defer func() { <-l.slots }()

	ticket, reopen, ok := l.breaker.Allow()
	if !ok {
		d.metrics.failure(job.HotlineID, "breaker_open")
		res := Result{Kind: portal.Retry, Err: ErrBreakerOpen}
		o := d.policy.NextAttempt(res, attempt, job.EnqueuedAt, now)
		if o.Kind == OutcomeRetry {
			// Come back after the breaker may allow again, spread over a
			// cool-down so that the waiting jobs do not all arrive at once.
			spread := time.Duration(d.policy.Rand() * float64(d.breaker.Cooldown))
			o.At = maxTime(o.At, minTime(reopen.Add(spread), job.EnqueuedAt.Add(d.policy.MaxAge)))
			return labelled{o, outcomeBreakerOpen}
		}
		return labelled{o, o.Kind.String()}
	}

	rep, sightings, err := d.source.Load(ctx, job.ReportID)
	if err == nil && rep.HotlineID != job.HotlineID {
		l.breaker.Release(ticket)
		return dead("job hotline does not match the report's", nil)
	}
	if err == nil && rep.URL == "" {
		l.breaker.Release(ticket)
		return dead("report has no URL (erased)", nil)
	}
	if err != nil {
		l.breaker.Release(ticket)
		if errors.Is(err, report.ErrNotFound) {
			return dead("report not found", err)
		}
		if ctx.Err() != nil {
			return d.interrupted(now, ctx.Err())
		}
		d.metrics.failure(job.HotlineID, "load")
		o := d.policy.NextAttempt(Result{Kind: portal.Retry, Err: err}, attempt, job.EnqueuedAt, now)
		return labelled{o, o.Kind.String()}
	}

	start := d.now()
	res := route.Channel.Deliver(ctx, rep, sightings)
	end := d.now()
	if res.Kind != portal.Delivered && ctx.Err() != nil {
		// Our shutdown, not the portal's failure: no verdict on it. The
		// portal may have the report; the next run re-sends the same id.
		l.breaker.Release(ticket)
		return d.interrupted(end, ctx.Err())
	}
	d.metrics.duration(job.HotlineID, res.Kind, end.Sub(start).Seconds())
	switch {
	case res.Kind == portal.Delivered || res.Kind == portal.Permanent && res.Status != 0:
		// Delivered, or refused with an answer: either way the portal is up.
		l.breaker.Success(ticket)
	case res.Kind == portal.Permanent:
		// Refused before anything was sent (an invalid payload): says
		// nothing about the portal.
		l.breaker.Release(ticket)
	default:
		l.breaker.Failure(ticket, res.RetryAfter)
	}
	if res.Kind != portal.Delivered {
		d.metrics.failure(job.HotlineID, failureReason(res))
	}
	o := d.policy.NextAttempt(res, attempt, job.EnqueuedAt, end)
	return labelled{o, o.Kind.String()}
}

// interrupted is the outcome of a run cut short by our own context: run
// again soon, not counted as an attempt.
func (d *Dispatcher) interrupted(now time.Time, err error) labelled {
	return labelled{Outcome{Kind: OutcomeRetry, At: now.Add(d.busyWait()), Err: err}, OutcomeRetry.String()}
}

// busyWait is BusyDelay jittered to [0.5, 1.5) times, so that jobs turned
// away together do not come back together.
func (d *Dispatcher) busyWait() time.Duration {
	return d.busyDelay/2 + time.Duration(d.policy.Rand()*float64(d.busyDelay))
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
