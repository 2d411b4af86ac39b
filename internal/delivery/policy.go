package delivery

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/reportit/reportit/internal/portal"
)

// Defaults of Policy.
const (
	// DefaultBase is the backoff ceiling after the first failed attempt; it
	// doubles with each further attempt.
	DefaultBase = 15 * time.Second
	// DefaultMaxBackoff caps the ceiling. After about eight attempts a
	// report is retried every 30 minutes on average (full jitter), so a
	// backlog drains within the hour after a portal comes back.
	DefaultMaxBackoff = time.Hour
	// DefaultMaxAge is how long a report is retried before it goes to the
	// dead-letter state: three days, as Standard Webhooks and Stripe retry.
	DefaultMaxAge = 72 * time.Hour
)

// Policy decides when to try a report again and when to give up. The zero
// value uses the defaults.
type Policy struct {
	// Base and Max are Backoff's base and cap; defaults DefaultBase and
	// DefaultMaxBackoff.
	Base, Max time.Duration
	// MaxAge is how long after its first enqueueing a report is still
	// retried; default DefaultMaxAge. The last attempt happens at MaxAge.
	MaxAge time.Duration
	// Rand returns a uniform float in [0, 1) for the jitter; default
	// math/rand/v2's Float64.
	Rand func() float64
}

func (p Policy) withDefaults() Policy {
	p.Base = orDefault(p.Base, DefaultBase)
	p.Max = orDefault(p.Max, DefaultMaxBackoff)
	p.MaxAge = orDefault(p.MaxAge, DefaultMaxAge)
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

func (p Policy) check() error {
	if p.Base < 0 || p.Max < 0 || p.MaxAge < 0 {
		return fmt.Errorf("%w: negative backoff or max age", ErrConfig)
	}
	if p.Base > p.Max && p.Max > 0 {
		return fmt.Errorf("%w: backoff base above its cap", ErrConfig)
	}
	return nil
}

// Backoff returns the wait after failed attempt number attempt (1 for the
// first), with full jitter: a uniform draw in [0, ceiling], where the
// ceiling is base doubled attempt-1 times and capped at max. Full jitter
// spreads the retries of many reports that failed together (a portal
// outage) over the whole window instead of bunching them at its end.
//
// attempt < 1 counts as 1; base or max <= 0 gives 0; rnd values outside
// [0, 1] are clamped.
func Backoff(attempt int, base, max time.Duration, rnd func() float64) time.Duration {
	if base <= 0 || max <= 0 {
		return 0
	}
	ceiling := min(base, max)
	for i := 1; i < attempt && ceiling < max; i++ {
		if ceiling > max/2 {
			ceiling = max // doubling would pass max, or overflow
			break
		}
		ceiling *= 2
	}
	f := rnd()
	switch {
	case !(f > 0): // also NaN
		return 0
	case f >= 1:
		return ceiling
	}
	// f < 1 keeps the product below 2^63: no overflow in the conversion.
	return min(time.Duration(f*float64(ceiling)), ceiling)
}

// NextAttempt turns the result of attempt number attempt (1 for the first)
// of a report first enqueued at enqueuedAt into an Outcome:
//
//   - Delivered: delivered now, with the hotline's reference.
//   - Permanent: dead-lettered now.
//   - Retry (or an unset Kind): retried after Backoff, or after the portal's Retry-After when
//     that is longer; but never after enqueuedAt+MaxAge, and dead-lettered
//     once that time has come.
func (p Policy) NextAttempt(r Result, attempt int, enqueuedAt, now time.Time) Outcome {
	p = p.withDefaults()
	switch r.Kind {
	case portal.Delivered:
		return Outcome{Kind: OutcomeDelivered, At: now, Reference: r.Reference, Attempted: true}
	case portal.Permanent:
		return Outcome{Kind: OutcomeDead, At: now, Err: r.Err, Attempted: true,
			Reason: "refused: " + errText(r.Err)}
	default:
		// Retry, and any Kind a channel failed to set: when in doubt, the
		// report is kept and tried again rather than given up.
		deadline := enqueuedAt.Add(p.MaxAge)
		if !now.Before(deadline) {
			return Outcome{Kind: OutcomeDead, At: now, Err: r.Err, Attempted: true,
				Reason: fmt.Sprintf("not delivered within %s: %s", p.MaxAge, errText(r.Err))}
		}
		wait := max(Backoff(attempt, p.Base, p.Max, p.Rand), r.RetryAfter)
		return Outcome{Kind: OutcomeRetry, At: minTime(now.Add(wait), deadline), Err: r.Err, Attempted: true}
	}
}

func errText(err error) string {
	if err == nil {
		return "no reason given"
	}
	return err.Error()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
