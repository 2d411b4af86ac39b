package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"
	"github.com/ulule/limiter/v3/drivers/store/memory"
)

// Defaults for the store fallback.
const (
	// DefaultFallbackDivisor divides a policy's limit while the store is
	// failing: each process then counts on its own, so several replicas
	// together would otherwise allow several times the limit.
	DefaultFallbackDivisor = 2
	// DefaultStoreCooldown is how long requests skip a store that has just
	// failed, so that a Redis that times out does not add its timeout to
	// every request.
	DefaultStoreCooldown = 5 * time.Second
	// MinSecretLen is the shortest base secret New accepts.
	MinSecretLen = 16
	// KeyLen is the length of a store key: 22 base64url characters carry
	// 132 bits of the HMAC, ample against collisions between identifiers.
	KeyLen = 22
)

// fallbackCleanEvery is how often the fallback counters are swept of
// expired entries, by whichever request comes first after that time.
const fallbackCleanEvery = time.Minute

// ErrStorePanic wraps a panic recovered from a store, which is then
// treated like any other store failure.
var ErrStorePanic = errors.New("rate-limit store panicked")

// Limiter applies policies to identifiers over a limiter.Store. It is safe
// for concurrent use and starts no goroutine, so there is nothing to close.
type Limiter struct {
	store    limiter.Store
	secret   []byte
	now      func() time.Time
	divisor  int64
	cooldown time.Duration
	onFall   func(policy string, storeErr error)

	day       atomic.Pointer[daySecret]
	downUntil atomic.Int64 // UnixNano on l.now's clock; 0 when the store is believed up
	fallbacks atomic.Uint64
	fallback  fallbackStore
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithClock sets the clock that picks the day of the key secret, times the
// store cool-down and measures the time to reset. Default time.Now.
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithFallbackDivisor sets the divisor applied to a policy's limit while the
// store fails (at least 1; the fallback limit is never below 1). Default
// DefaultFallbackDivisor.
func WithFallbackDivisor(n int64) Option {
	return func(l *Limiter) {
		if n >= 1 {
			l.divisor = n
		}
	}
}

// WithStoreCooldown sets how long requests go straight to the fallback
// after a store failure before the store is tried again; 0 tries the store
// on every request. Default DefaultStoreCooldown.
func WithStoreCooldown(d time.Duration) Option {
	return func(l *Limiter) {
		if d >= 0 {
			l.cooldown = d
		}
	}
}

// WithFallbackHook sets a function called, synchronously, for every decision
// made by the fallback (but those for requests whose context had ended),
// for metrics and logs. storeErr is the store's error,
// or nil when the store was skipped because it failed less than the
// cool-down ago. It must be quick and must not log identifiers (it is given
// none).
func WithFallbackHook(fn func(policy string, storeErr error)) Option {
	return func(l *Limiter) { l.onFall = fn }
}

// New returns a Limiter over store (memory or Redis; the caller owns and
// closes it) with keys derived from secret, which must hold at least
// MinSecretLen bytes and stay secret: with it, a stored key can be matched
// against a guessed identifier. New panics on a nil store or a short
// secret: both are wiring mistakes that must not reach production.
//
// When the store fails (an error or a panic), Allow does not: it answers
// from in-process counters under the same keys with the policy's limit
// divided by the fallback divisor, counts the fallback (Fallbacks and
// WithFallbackHook), and skips the store for the cool-down. A store error
// caused by the request's own context ending does not start a cool-down and
// is not counted.
func New(store limiter.Store, secret []byte, opts ...Option) *Limiter {
	if store == nil {
		panic("ratelimit: New with a nil store")
	}
	if len(secret) < MinSecretLen {
		panic(fmt.Sprintf("ratelimit: secret of %d bytes, need at least %d", len(secret), MinSecretLen))
	}
	l := &Limiter{
		store:    store,
		secret:   append([]byte(nil), secret...),
		now:      time.Now,
		divisor:  DefaultFallbackDivisor,
		cooldown: DefaultStoreCooldown,
		fallback: fallbackStore{cache: memory.NewCache(0)},
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Allow counts one request by id against p and says whether it may go
// ahead. The error is non-nil only for an unusable policy (a zero Policy,
// say): store failures are absorbed by the fallback described at New.
func (l *Limiter) Allow(ctx context.Context, p Policy, id string) (Decision, error) {
	if err := p.check(); err != nil {
		return Decision{}, err
	}
	now := l.now()
	key := l.Key(now, p.Name, id)
	var storeErr error
	if now.UnixNano() >= l.downUntil.Load() {
		c, err := l.get(ctx, key, p.Rate)
		if err == nil {
			return decide(p, c, now, false), nil
		}
		storeErr = err
	}
	// A request whose client went away says nothing about the store: it
	// neither starts a cool-down nor counts as a fallback (it would raise
	// store alarms on every hang-up).
	if ctx.Err() == nil {
		if storeErr != nil && l.cooldown > 0 {
			l.downUntil.Store(now.Add(l.cooldown).UnixNano())
		}
		l.fallbacks.Add(1)
		if l.onFall != nil {
			l.onFall(p.Name, storeErr)
		}
	}
	fp := Policy{Name: p.Name, Rate: divide(p.Rate, l.divisor)}
	return decide(fp, l.fallback.get(key, fp.Rate, now), now, true), nil
}

// get asks the store, turning a panic into an error.
func (l *Limiter) get(ctx context.Context, key string, r limiter.Rate) (c limiter.Context, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", ErrStorePanic, v)
		}
	}()
	return l.store.Get(ctx, key, r)
}

// Fallbacks is the number of decisions made by the fallback since New,
// not counting requests whose context had ended.
func (l *Limiter) Fallbacks() uint64 { return l.fallbacks.Load() }

func decide(p Policy, c limiter.Context, now time.Time, fallback bool) Decision {
	return Decision{
		Policy:    p,
		Allowed:   !c.Reached,
		Limit:     c.Limit,
		Remaining: c.Remaining,
		Reset:     time.Unix(c.Reset, 0),
		Fallback:  fallback,
		at:        now,
	}
}

// divide returns r with its limit divided by n, never below 1.
func divide(r limiter.Rate, n int64) limiter.Rate {
	lim := max(r.Limit/n, 1)
	unit := "S"
	switch r.Period {
	case time.Minute:
		unit = "M"
	case time.Hour:
		unit = "H"
	case 24 * time.Hour:
		unit = "D"
	}
	return limiter.Rate{Formatted: strconv.FormatInt(lim, 10) + "-" + unit, Period: r.Period, Limit: lim}
}

// daySecret is the key secret of one UTC day, with a pool of HMACs keyed
// by it (an HMAC's pads are computed once per key, not per request).
type daySecret struct {
	day  int64 // days since the Unix epoch, UTC
	pool sync.Pool
}

type keyer struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
	enc [43]byte // base64.RawURLEncoding.EncodedLen(sha256.Size)
}

func (l *Limiter) daySecret(now time.Time) *daySecret {
	day := now.Unix() / 86400
	if now.Unix() < 0 && now.Unix()%86400 != 0 {
		day-- // floor, for clocks before 1970 in tests
	}
	if d := l.day.Load(); d != nil && d.day == day {
		return d
	}
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte("reportit ratelimit day " + time.Unix(day*86400, 0).UTC().Format(time.DateOnly)))
	k := m.Sum(nil)
	d := &daySecret{day: day}
	d.pool.New = func() any { return &keyer{mac: hmac.New(sha256.New, k)} }
	// Racing requests at midnight may each build one; any of them is right.
	l.day.Store(d)
	return d
}

// Key is the store key of (policy, id) at time now: the first KeyLen
// characters of base64url(HMAC-SHA256(day secret, policy NUL id)), where
// the day secret is an HMAC of the base secret and the UTC date of now. It
// is exported for tests and operators; callers only need Allow.
func (l *Limiter) Key(now time.Time, policy, id string) string {
	d := l.daySecret(now)
	k := d.pool.Get().(*keyer)
	k.in = append(append(append(k.in[:0], policy...), 0), id...)
	k.mac.Reset()
	k.mac.Write(k.in)
	k.mac.Sum(k.sum[:0])
	base64.RawURLEncoding.Encode(k.enc[:], k.sum[:])
	key := string(k.enc[:KeyLen])
	clear(k.in) // the id must not outlive the request in a pooled buffer
	d.pool.Put(k)
	return key
}

// fallbackStore is the in-process counter used while the store fails. It
// is ulule's memory cache without the cleaner goroutine memory.NewStore
// starts (which only a garbage-collection finalizer can stop): expired
// entries are swept instead by a request, at most every
// fallbackCleanEvery, so that a long outage does not grow it without bound
// and nothing needs closing.
type fallbackStore struct {
	cache     *memory.CacheWrapper
	nextClean atomic.Int64 // UnixNano
}

func (f *fallbackStore) get(key string, r limiter.Rate, now time.Time) limiter.Context {
	if n, next := now.UnixNano(), f.nextClean.Load(); n >= next &&
		f.nextClean.CompareAndSwap(next, now.Add(fallbackCleanEvery).UnixNano()) {
		f.cache.Clean()
	}
	// The memory cache keeps time with time.Now, like memory.Store.Get.
	count, exp := f.cache.Increment(key, 1, r.Period)
	return common.GetContextFromState(time.Now(), r, exp, count)
}
