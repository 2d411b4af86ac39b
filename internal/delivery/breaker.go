package delivery

import (
	"sync"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState uint8

const (
	// BreakerClosed lets every delivery through.
	BreakerClosed BreakerState = iota
	// BreakerHalfOpen lets one probe through; its result closes or reopens
	// the breaker.
	BreakerHalfOpen
	// BreakerOpen lets nothing through until the cool-down ends.
	BreakerOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return "unknown"
}

// Defaults of BreakerConfig.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
	// DefaultProbeTimeout is well above the portal client's 10 s timeout:
	// a probe still out after it was lost (its worker died), and another
	// may go.
	DefaultProbeTimeout = time.Minute
)

// BreakerConfig configures a Breaker. The zero value uses the defaults.
type BreakerConfig struct {
	// Failures is how many failures in a row open the breaker.
	Failures int
	// Cooldown is how long the breaker stays open before a probe. A portal
	// that asks for a longer wait (Retry-After) gets it.
	Cooldown time.Duration
	// ProbeTimeout is how long a half-open breaker waits for its probe's
	// result before it lets another probe through.
	ProbeTimeout time.Duration
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	c.Failures = orDefault(c.Failures, DefaultBreakerFailures)
	c.Cooldown = orDefault(c.Cooldown, DefaultBreakerCooldown)
	c.ProbeTimeout = orDefault(c.ProbeTimeout, DefaultProbeTimeout)
	return c
}

// Breaker is a circuit breaker for one portal: closed, open after Failures
// failures in a row, half-open (one probe) after the cool-down. It runs on
// an injected clock and tells a refused caller when to come back, so that
// a queue can schedule the report instead of a worker waiting.
//
// It is written here rather than taken from sony/gobreaker because that
// reads time.Now directly (no clock to inject for tests), does not say
// when the open state ends, and stays half-open for good if the probe's
// result is never reported (a worker killed mid-delivery).
//
// A Breaker is safe for concurrent use.
type Breaker struct {
	cfg      BreakerConfig
	now      func() time.Time
	onChange func(from, to BreakerState)

	mu         sync.Mutex
	state      BreakerState
	gen        uint64 // bumped on every state change and every probe
	failures   int    // in a row, while closed
	openUntil  time.Time
	probeOut   bool
	probeUntil time.Time
}

// Ticket is a permission to deliver, from Allow. Its result is reported
// with exactly one of Success, Failure or Release. Results of tickets from
// an earlier state (a delivery that was slow to finish) are ignored.
type Ticket struct {
	gen   uint64
	probe bool
}

// NewBreaker returns a closed Breaker. now defaults to time.Now. onChange,
// if not nil, is called on every state change while the breaker's lock is
// held: it must be quick and must not call the breaker.
func NewBreaker(cfg BreakerConfig, now func() time.Time, onChange func(from, to BreakerState)) *Breaker {
	if now == nil {
		now = time.Now
	}
	return &Breaker{cfg: cfg.withDefaults(), now: now, onChange: onChange}
}

// Allow asks to deliver. When refused, retryAt says when the breaker may
// allow again: the end of the cool-down, or of the probe now out.
func (b *Breaker) Allow() (t Ticket, retryAt time.Time, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.advance(now)
	switch b.state {
	case BreakerClosed:
		return Ticket{gen: b.gen}, time.Time{}, true
	case BreakerOpen:
		return Ticket{}, b.openUntil, false
	}
	if b.probeOut && now.Before(b.probeUntil) {
		// Come back after a cool-down, not at the probe timeout: the probe
		// usually answers within one request, and the timeout (a minute)
		// would hold the whole backlog back long after the portal is up.
		return Ticket{}, minTime(b.probeUntil, now.Add(b.cfg.Cooldown)), false
	}
	// No probe out, or it was lost: send one, and ignore the lost one's
	// result should it come after all.
	b.gen++
	b.probeOut = true
	b.probeUntil = now.Add(b.cfg.ProbeTimeout)
	return Ticket{gen: b.gen, probe: true}, time.Time{}, true
}

// Success reports that the portal answered (delivered or refused for good:
// either way it is up). A probe's success closes the breaker.
func (b *Breaker) Success(t Ticket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.gen != b.gen {
		return
	}
	switch b.state {
	case BreakerClosed:
		b.failures = 0
	case BreakerHalfOpen:
		b.set(BreakerClosed)
	}
}

// Failure reports that the portal failed (no answer, or a retryable
// status). wait is the portal's Retry-After, 0 if none: if the breaker
// opens, it stays open at least that long. A result from before the
// breaker opened (a delivery still out then) does not change the state,
// but its wait is honoured all the same: an open breaker stays open until
// the latest wait the portal asked for has passed.
func (b *Breaker) Failure(t Ticket, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.gen != b.gen {
		now := b.now()
		b.advance(now)
		if b.state == BreakerOpen && now.Add(wait).After(b.openUntil) {
			b.openUntil = now.Add(wait)
		}
		return
	}
	switch b.state {
	case BreakerClosed:
		b.failures++
		if b.failures >= b.cfg.Failures {
			b.open(wait)
		}
	case BreakerHalfOpen:
		b.open(wait)
	}
}

// Release gives a ticket back without a verdict: the delivery was not
// made or its result says nothing about the portal (our own context
// ended). A probe's release lets the next caller probe.
func (b *Breaker) Release(t Ticket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.gen == b.gen && t.probe && b.state == BreakerHalfOpen {
		b.probeOut = false
	}
}

// State returns the current state.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(b.now())
	return b.state
}

// advance moves an open breaker whose cool-down is over to half-open.
func (b *Breaker) advance(now time.Time) {
	if b.state == BreakerOpen && !now.Before(b.openUntil) {
		b.set(BreakerHalfOpen)
	}
}

func (b *Breaker) open(wait time.Duration) {
	b.openUntil = b.now().Add(max(b.cfg.Cooldown, wait))
	b.set(BreakerOpen)
}

func (b *Breaker) set(to BreakerState) {
	from := b.state
	b.state = to
	b.gen++
	b.failures = 0
	b.probeOut = false
	if b.onChange != nil && from != to {
		b.onChange(from, to)
	}
}
