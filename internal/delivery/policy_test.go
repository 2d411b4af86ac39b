package delivery

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/portal"
)

func fixed(f float64) func() float64 { return func() float64 { return f } }

// below1 is the largest float64 below 1, the most rand.Float64 returns.
var below1 = math.Nextafter(1, 0)

func TestBackoff(t *testing.T) {
	const base, cap_ = time.Second, time.Minute
	tests := []struct {
		name    string
		attempt int
		base    time.Duration
		max     time.Duration
		rnd     float64
		want    time.Duration
	}{
		{"first attempt, top of the window", 1, base, cap_, 1, time.Second},
		{"second doubles", 2, base, cap_, 1, 2 * time.Second},
		{"third", 3, base, cap_, 1, 4 * time.Second},
		{"sixth", 6, base, cap_, 1, 32 * time.Second},
		{"seventh hits the cap", 7, base, cap_, 1, time.Minute},
		{"far beyond the cap", 1000, base, cap_, 1, time.Minute},
		{"huge attempt, no overflow", math.MaxInt, base, cap_, 1, time.Minute},
		{"huge cap, no overflow", math.MaxInt, time.Second, math.MaxInt64, 1, math.MaxInt64},
		{"huge cap, top draw", math.MaxInt, time.Second, math.MaxInt64, below1, math.MaxInt64 - 1023},
		{"full jitter reaches zero", 5, base, cap_, 0, 0},
		{"half", 3, base, cap_, 0.5, 2 * time.Second},
		{"attempt 0 is the first", 0, base, cap_, 1, time.Second},
		{"negative attempt is the first", -7, base, cap_, 1, time.Second},
		{"base above cap", 1, time.Hour, cap_, 1, time.Minute},
		{"zero base", 3, 0, cap_, 1, 0},
		{"zero cap", 3, base, 0, 1, 0},
		{"draw above 1 clamped", 2, base, cap_, 7, 2 * time.Second},
		{"negative draw clamped", 2, base, cap_, -1, 0},
		{"NaN draw", 2, base, cap_, math.NaN(), 0},
	}
	for _, tt := range tests {
		if got := Backoff(tt.attempt, tt.base, tt.max, fixed(tt.rnd)); got != tt.want {
			t.Errorf("%s: Backoff(%d, %v, %v, %v) = %v, want %v", tt.name, tt.attempt, tt.base, tt.max, tt.rnd, got, tt.want)
		}
	}
}

// With a real random source every draw lies in [0, ceiling] and the draws
// cover the window rather than bunch at one end.
func TestBackoffJitterWithinWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for attempt := 1; attempt <= 12; attempt++ {
		ceiling := min(time.Second<<(attempt-1), time.Minute)
		var low, high int
		for range 2000 {
			d := Backoff(attempt, time.Second, time.Minute, r.Float64)
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: %v outside [0, %v]", attempt, d, ceiling)
			}
			if d < ceiling/4 {
				low++
			}
			if d > ceiling*3/4 {
				high++
			}
		}
		// Uniform: about 500 each; a generous bound that a fixed or
		// one-sided draw fails.
		if low < 300 || high < 300 {
			t.Errorf("attempt %d: %d draws in the bottom quarter, %d in the top: not full jitter", attempt, low, high)
		}
	}
}

func TestNextAttempt(t *testing.T) {
	enq := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Policy{Base: 10 * time.Second, Max: time.Hour, MaxAge: 72 * time.Hour, Rand: fixed(1)}
	errBoom := errors.New("portal: report r1: portal unavailable: HTTP 503")
	retry := func(after time.Duration) Result {
		return Result{Kind: portal.Retry, Status: 503, RetryAfter: after, Err: errBoom}
	}
	tests := []struct {
		name    string
		res     Result
		attempt int
		now     time.Time
		kind    OutcomeKind
		at      time.Time
		ref     string
	}{
		{"delivered", Result{Kind: portal.Delivered, Status: 201, Reference: "HL-1"}, 1, enq.Add(time.Minute),
			OutcomeDelivered, enq.Add(time.Minute), "HL-1"},
		{"409 is delivered", Result{Kind: portal.Delivered, Status: 409}, 3, enq.Add(time.Hour),
			OutcomeDelivered, enq.Add(time.Hour), ""},
		{"permanent is dead at once", Result{Kind: portal.Permanent, Status: 400, Err: errBoom}, 1, enq,
			OutcomeDead, enq, ""},
		{"retry after backoff", retry(0), 3, enq.Add(time.Minute),
			OutcomeRetry, enq.Add(time.Minute + 40*time.Second), ""},
		{"Retry-After longer than backoff wins", retry(5 * time.Minute), 3, enq.Add(time.Minute),
			OutcomeRetry, enq.Add(6 * time.Minute), ""},
		{"Retry-After shorter than backoff loses", retry(5 * time.Second), 3, enq.Add(time.Minute),
			OutcomeRetry, enq.Add(time.Minute + 40*time.Second), ""},
		{"backoff capped", retry(0), 40, enq.Add(time.Hour),
			OutcomeRetry, enq.Add(2 * time.Hour), ""},
		{"unset kind is retried", Result{}, 1, enq,
			OutcomeRetry, enq.Add(10 * time.Second), ""},
		{"last retry clamped to max age", retry(6 * time.Hour), 40, enq.Add(71 * time.Hour),
			OutcomeRetry, enq.Add(72 * time.Hour), ""},
		{"at max age: dead", retry(0), 40, enq.Add(72 * time.Hour),
			OutcomeDead, enq.Add(72 * time.Hour), ""},
		{"past max age: dead", retry(0), 40, enq.Add(100 * time.Hour),
			OutcomeDead, enq.Add(100 * time.Hour), ""},
		{"delivered past max age is still delivered", Result{Kind: portal.Delivered}, 40, enq.Add(100 * time.Hour),
			OutcomeDelivered, enq.Add(100 * time.Hour), ""},
	}
	for _, tt := range tests {
		o := p.NextAttempt(tt.res, tt.attempt, enq, tt.now)
		if o.Kind != tt.kind || !o.At.Equal(tt.at) || o.Reference != tt.ref || !o.Attempted {
			t.Errorf("%s: got %v at %v ref %q attempted %v, want %v at %v ref %q",
				tt.name, o.Kind, o.At.Sub(enq), o.Reference, o.Attempted, tt.kind, tt.at.Sub(enq), tt.ref)
		}
		if o.Kind == OutcomeDead && o.Reason == "" {
			t.Errorf("%s: dead without a reason", tt.name)
		}
		if o.Kind != OutcomeDelivered && tt.res.Err != nil && o.Err != tt.res.Err {
			t.Errorf("%s: Err %v, want the result's", tt.name, o.Err)
		}
	}
}

func TestNextAttemptDefaults(t *testing.T) {
	enq := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var p Policy // defaults: 72 h max age, 15 s base
	o := p.NextAttempt(Result{Kind: portal.Retry}, 1, enq, enq.Add(72*time.Hour-time.Second))
	if o.Kind != OutcomeRetry || o.At.After(enq.Add(72*time.Hour)) {
		t.Errorf("just before 72 h: %+v", o)
	}
	if o := p.NextAttempt(Result{Kind: portal.Retry}, 1, enq, enq.Add(72*time.Hour)); o.Kind != OutcomeDead {
		t.Errorf("at 72 h: %+v", o)
	}
	for range 100 {
		o := p.NextAttempt(Result{Kind: portal.Retry}, 1, enq, enq)
		if d := o.At.Sub(enq); d < 0 || d > DefaultBase {
			t.Fatalf("first retry after %v, want within [0, %v]", d, DefaultBase)
		}
	}
}
