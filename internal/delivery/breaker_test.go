package delivery

import (
	"sync"
	"testing"
	"time"
)

// clock is a settable clock.
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

type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(from, to BreakerState) {
	tr.mu.Lock()
	tr.got = append(tr.got, from.String()+">"+to.String())
	tr.mu.Unlock()
}

func (tr *transitions) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	g := tr.got
	tr.got = nil
	return g
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustAllow(t *testing.T, b *Breaker) Ticket {
	t.Helper()
	tk, _, ok := b.Allow()
	if !ok {
		t.Fatalf("refused in state %v", b.State())
	}
	return tk
}

func mustRefuse(t *testing.T, b *Breaker, until time.Time) {
	t.Helper()
	_, at, ok := b.Allow()
	if ok {
		t.Fatalf("allowed in state %v", b.State())
	}
	if !at.Equal(until) {
		t.Fatalf("refused until %v, want %v", at, until)
	}
}

func TestBreakerStateMachine(t *testing.T) {
	c := newClock()
	var tr transitions
	b := NewBreaker(BreakerConfig{Failures: 3, Cooldown: 30 * time.Second, ProbeTimeout: time.Minute}, c.Now, tr.record)

	// Closed: failures below the threshold, then a success resets the run.
	for range 2 {
		b.Failure(mustAllow(t, b), 0)
	}
	b.Success(mustAllow(t, b))
	for range 2 {
		b.Failure(mustAllow(t, b), 0)
	}
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("after a broken run of failures: %v", s)
	}

	// The third in a row opens it.
	b.Failure(mustAllow(t, b), 0)
	if s := b.State(); s != BreakerOpen {
		t.Fatalf("after 3 failures in a row: %v", s)
	}
	opened := c.Now()
	mustRefuse(t, b, opened.Add(30*time.Second))
	c.Add(29 * time.Second)
	mustRefuse(t, b, opened.Add(30*time.Second))

	// Cool-down over: half-open, one probe at a time.
	c.Add(time.Second)
	if s := b.State(); s != BreakerHalfOpen {
		t.Fatalf("after the cool-down: %v", s)
	}
	probe := mustAllow(t, b)
	mustRefuse(t, b, c.Now().Add(30*time.Second)) // a cool-down, not the probe timeout

	// The probe fails: open again for a full cool-down.
	b.Failure(probe, 0)
	if s := b.State(); s != BreakerOpen {
		t.Fatalf("after a failed probe: %v", s)
	}
	mustRefuse(t, b, c.Now().Add(30*time.Second))

	// Next probe succeeds: closed, and the failure count starts afresh.
	c.Add(30 * time.Second)
	b.Success(mustAllow(t, b))
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("after a good probe: %v", s)
	}
	for range 2 {
		b.Failure(mustAllow(t, b), 0)
	}
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("2 failures after closing: %v", s)
	}

	want := []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}
	if got := tr.take(); !equal(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
}

func TestBreakerRetryAfterKeepsItOpen(t *testing.T) {
	c := newClock()
	b := NewBreaker(BreakerConfig{Failures: 1, Cooldown: 30 * time.Second}, c.Now, nil)
	b.Failure(mustAllow(t, b), 10*time.Minute)
	mustRefuse(t, b, c.Now().Add(10*time.Minute))

	// A Retry-After shorter than the cool-down does not shorten it.
	c.Add(10 * time.Minute)
	b.Failure(mustAllow(t, b), time.Second)
	mustRefuse(t, b, c.Now().Add(30*time.Second))
}

// A Retry-After in the answer of a delivery that was out when the breaker
// opened keeps it open that long: the whole lane waits as the portal
// asked, not just that report. A shorter one, or one after the cool-down,
// changes nothing.
func TestBreakerLateRetryAfter(t *testing.T) {
	c := newClock()
	var tr transitions
	b := NewBreaker(BreakerConfig{Failures: 2, Cooldown: time.Second}, c.Now, tr.record)
	slow1, slow2, slow3 := mustAllow(t, b), mustAllow(t, b), mustAllow(t, b)
	b.Failure(mustAllow(t, b), 0)
	b.Failure(mustAllow(t, b), 0)
	mustRefuse(t, b, c.Now().Add(time.Second))

	c.Add(100 * time.Millisecond)
	b.Failure(slow1, 10*time.Second)
	mustRefuse(t, b, c.Now().Add(10*time.Second))
	b.Failure(slow2, 3*time.Second) // shorter: does not shorten it
	mustRefuse(t, b, c.Now().Add(10*time.Second))

	c.Add(10 * time.Second)
	probe := mustAllow(t, b) // half-open now
	b.Failure(slow3, time.Minute)
	if s := b.State(); s != BreakerHalfOpen {
		t.Fatalf("a late failure after the cool-down changed the state to %v", s)
	}
	b.Success(probe)
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("after the probe succeeded: %v", s)
	}
	want := []string{"closed>open", "open>half-open", "half-open>closed"}
	if got := tr.take(); !equal(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
}

// A probe whose result never comes (its worker died) blocks the lane only
// for ProbeTimeout; if it does come later, it is ignored.
func TestBreakerLostProbe(t *testing.T) {
	c := newClock()
	var tr transitions
	b := NewBreaker(BreakerConfig{Failures: 1, Cooldown: time.Second, ProbeTimeout: time.Minute}, c.Now, tr.record)
	b.Failure(mustAllow(t, b), 0)
	c.Add(time.Second)
	lost := mustAllow(t, b)
	c.Add(59 * time.Second)
	mustRefuse(t, b, c.Now().Add(time.Second))
	c.Add(time.Second)
	second := mustAllow(t, b)

	b.Failure(lost, 0) // stale: ignored
	if s := b.State(); s != BreakerHalfOpen {
		t.Fatalf("a stale probe result changed the state to %v", s)
	}
	b.Success(second)
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("after the live probe succeeded: %v", s)
	}
}

// Release gives the probe back at once; results of tickets from before a
// state change are ignored.
func TestBreakerReleaseAndStaleTickets(t *testing.T) {
	c := newClock()
	b := NewBreaker(BreakerConfig{Failures: 2, Cooldown: time.Second}, c.Now, nil)

	slow := mustAllow(t, b) // a delivery still out when the breaker opens
	b.Failure(mustAllow(t, b), 0)
	b.Failure(mustAllow(t, b), 0)
	if b.State() != BreakerOpen {
		t.Fatal("not open")
	}
	b.Success(slow) // from the closed era: must not close it
	if s := b.State(); s != BreakerOpen {
		t.Fatalf("a stale success changed the state to %v", s)
	}

	c.Add(time.Second)
	probe := mustAllow(t, b)
	b.Release(probe)
	if s := b.State(); s != BreakerHalfOpen {
		t.Fatalf("after release: %v", s)
	}
	probe = mustAllow(t, b) // another probe may go at once
	b.Success(probe)
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("after the second probe: %v", s)
	}
	b.Release(mustAllow(t, b)) // a release in the closed state changes nothing
	if s := b.State(); s != BreakerClosed {
		t.Fatalf("after a closed release: %v", s)
	}
}

func TestBreakerDefaults(t *testing.T) {
	c := newClock()
	b := NewBreaker(BreakerConfig{}, c.Now, nil)
	for i := 1; i < DefaultBreakerFailures; i++ {
		b.Failure(mustAllow(t, b), 0)
	}
	if b.State() != BreakerClosed {
		t.Fatalf("open after %d failures", DefaultBreakerFailures-1)
	}
	b.Failure(mustAllow(t, b), 0)
	mustRefuse(t, b, c.Now().Add(DefaultBreakerCooldown))
}

// Many goroutines on one breaker: the race detector's test, and only one
// probe is ever out at a time.
func TestBreakerConcurrentProbe(t *testing.T) {
	c := newClock()
	b := NewBreaker(BreakerConfig{Failures: 1, Cooldown: time.Second}, c.Now, nil)
	b.Failure(mustAllow(t, b), 0)
	c.Add(time.Second)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, ok := b.Allow(); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 1 {
		t.Fatalf("%d probes let through at once, want 1", allowed)
	}
}
