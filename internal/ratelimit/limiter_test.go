package ratelimit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
)

var secret = bytes.Repeat([]byte{7}, 32)

func policy(t testing.TB, name, spec string) Policy {
	t.Helper()
	p, err := ParsePolicy(name, spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// memStore is ulule's memory store without its cleaner goroutine, which
// only a GC finalizer stops (and which would never let a synctest bubble
// end).
func memStore() limiter.Store {
	return memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: "test", CleanUpInterval: 0})
}

func allow(t *testing.T, l *Limiter, p Policy, id string) (Decision, http.Header) {
	t.Helper()
	d, err := l.Allow(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	d.SetHeaders(h)
	return d, h
}

func wantHeaders(t *testing.T, h http.Header, policy, ratelimit, retryAfter string) {
	t.Helper()
	if got := h.Get("RateLimit-Policy"); got != policy {
		t.Errorf("RateLimit-Policy = %q, want %q", got, policy)
	}
	if got := h.Get("RateLimit"); got != ratelimit {
		t.Errorf("RateLimit = %q, want %q", got, ratelimit)
	}
	if got := h.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
}

// The tests below run in a synctest bubble: ulule's memory store reads
// time.Now itself, and in a bubble that clock is fake and only moves when
// the test sleeps, so reset times are exact.

func TestAllowThreeThenDenied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(memStore(), secret)
		p := policy(t, "tokens", "3-H")

		d, h := allow(t, l, p, "192.0.2.1/32")
		if !d.Allowed || d.Limit != 3 || d.Remaining != 2 || d.Fallback {
			t.Fatalf("1st: %+v", d)
		}
		wantHeaders(t, h, `"tokens";q=3;w=3600`, `"tokens";r=2;t=3600`, "")

		_, h = allow(t, l, p, "192.0.2.1/32")
		wantHeaders(t, h, `"tokens";q=3;w=3600`, `"tokens";r=1;t=3600`, "")

		time.Sleep(10 * time.Minute)
		d, h = allow(t, l, p, "192.0.2.1/32")
		if !d.Allowed || d.Remaining != 0 {
			t.Fatalf("3rd: %+v", d)
		}
		wantHeaders(t, h, `"tokens";q=3;w=3600`, `"tokens";r=0;t=3000`, "")

		d, h = allow(t, l, p, "192.0.2.1/32")
		if d.Allowed || d.Remaining != 0 {
			t.Fatalf("4th: %+v", d)
		}
		wantHeaders(t, h, `"tokens";q=3;w=3600`, `"tokens";r=0;t=3000`, "3000")

		// Another identifier has its own bucket.
		if d, _ := allow(t, l, p, "192.0.2.2/32"); !d.Allowed || d.Remaining != 2 {
			t.Fatalf("other id: %+v", d)
		}

		time.Sleep(50*time.Minute - time.Second)
		d, h = allow(t, l, p, "192.0.2.1/32")
		if d.Allowed {
			t.Fatalf("one second before reset: %+v", d)
		}
		wantHeaders(t, h, `"tokens";q=3;w=3600`, `"tokens";r=0;t=1`, "1")

		time.Sleep(time.Second + time.Nanosecond)
		d, h = allow(t, l, p, "192.0.2.1/32")
		if !d.Allowed || d.Remaining != 2 {
			t.Fatalf("after reset: %+v", d)
		}
		wantHeaders(t, h, `"tokens";q=3;w=3600`, `"tokens";r=2;t=3600`, "")
	})
}

func TestAllowPolicyAndGlobalTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(memStore(), secret)
		reports, global := policy(t, "reports", "2-H"), policy(t, "global", "3-M")
		check := func(id string) ([]Decision, http.Header) {
			var ds []Decision
			for _, c := range []struct {
				p  Policy
				id string
			}{{reports, id}, {global, "global"}} {
				d, err := l.Allow(context.Background(), c.p, c.id)
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, d)
			}
			h := http.Header{}
			SetHeaders(h, ds...)
			return ds, h
		}
		_, h := check("inst-a")
		wantHeaders(t, h, `"reports";q=2;w=3600, "global";q=3;w=60`, `"reports";r=1;t=3600, "global";r=2;t=60`, "")
		check("inst-a")
		// inst-a is over its own limit (wait an hour); the global one took
		// its last request.
		ds, h := check("inst-a")
		if ds[0].Allowed || !ds[1].Allowed {
			t.Fatalf("decisions %+v", ds)
		}
		wantHeaders(t, h, `"reports";q=2;w=3600, "global";q=3;w=60`, `"reports";r=0;t=3600, "global";r=0;t=60`, "3600")
		// inst-b has its own allowance left, but not the global one.
		ds, h = check("inst-b")
		if !ds[0].Allowed || ds[1].Allowed {
			t.Fatalf("decisions %+v", ds)
		}
		wantHeaders(t, h, `"reports";q=2;w=3600, "global";q=3;w=60`, `"reports";r=1;t=3600, "global";r=0;t=60`, "60")
	})
}

func TestAllowRejectsUnusablePolicy(t *testing.T) {
	l := New(memStore(), secret)
	for _, p := range []Policy{
		{},
		{Name: "x"},
		{Name: "x", Rate: limiter.Rate{Limit: 0, Period: time.Hour}},
		{Name: "x", Rate: limiter.Rate{Limit: 1, Period: time.Millisecond}},
		{Name: `"x"`, Rate: limiter.Rate{Limit: 1, Period: time.Hour}},
	} {
		if _, err := l.Allow(context.Background(), p, "id"); !errors.Is(err, ErrPolicy) {
			t.Errorf("Allow(%+v) error = %v", p, err)
		}
	}
}

func TestNewPanicsOnWiringMistakes(t *testing.T) {
	for name, f := range map[string]func(){
		"nil store":    func() { New(nil, secret) },
		"short secret": func() { New(memStore(), secret[:MinSecretLen-1]) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// recordingStore remembers the keys a store was asked about.
type recordingStore struct {
	limiter.Store
	mu   sync.Mutex
	keys []string
}

func (s *recordingStore) Get(ctx context.Context, key string, r limiter.Rate) (limiter.Context, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.Store.Get(ctx, key, r)
}

// wantKey is the documented derivation, written out independently.
func wantKey(base []byte, date, policy, id string) string {
	m := hmac.New(sha256.New, base)
	m.Write([]byte("reportit ratelimit day " + date))
	day := m.Sum(nil)
	m = hmac.New(sha256.New, day)
	m.Write([]byte(policy + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:22]
}

func TestKeys(t *testing.T) {
	now := time.Date(2026, 11, 25, 23, 59, 59, 999999999, time.UTC)
	rec := &recordingStore{Store: memStore()}
	l := New(rec, secret, WithClock(func() time.Time { return now }))
	p := policy(t, "tokens", "3-H")
	const id = "192.0.2.1/32"

	d, h := allow(t, l, p, id)
	if len(rec.keys) != 1 {
		t.Fatalf("store asked %d times", len(rec.keys))
	}
	key := rec.keys[0]
	if want := wantKey(secret, "2026-11-25", "tokens", id); key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	if len(key) != KeyLen || strings.Contains(key, "192") || strings.Contains(key, id) {
		t.Fatalf("key %q", key)
	}
	if strings.Contains(fmt.Sprint(h), "192.0.2") || strings.Contains(fmt.Sprint(h), key) || strings.Contains(fmt.Sprintf("%+v", d), key) {
		t.Fatalf("identifier or key in headers or decision: %v %+v", h, d)
	}

	keys := map[string]string{"tokens/id day1": key}
	add := func(what, k string) {
		t.Helper()
		for w, other := range keys {
			if other == k {
				t.Errorf("%s and %s share key %q", what, w, k)
			}
		}
		keys[what] = k
	}
	add("reports/id day1", l.Key(now, "reports", id))
	add("tokens/other id day1", l.Key(now, "tokens", "192.0.2.2/32"))
	// The separator keeps (ab, c) and (a, bc) apart.
	add("tokens/ab", l.Key(now, "tokens", "ab"))
	add("tokensa/b", l.Key(now, "tokensa", "b"))
	next := now.Add(time.Nanosecond) // 00:00:00 on the 26th
	add("tokens/id day2", l.Key(next, "tokens", id))
	if got, want := l.Key(next, "tokens", id), wantKey(secret, "2026-11-26", "tokens", id); got != want {
		t.Errorf("day-2 key %q, want %q", got, want)
	}
	add("other secret", New(memStore(), bytes.Repeat([]byte{8}, 32)).Key(now, "tokens", id))

	// Stable within the day, whatever the clock's time zone.
	paris := time.FixedZone("UTC+1", 3600)
	if l.Key(now.Add(-23*time.Hour), "tokens", id) != key || l.Key(now.In(paris), "tokens", id) != key {
		t.Error("key changed within the UTC day")
	}
	// The base secret was copied: changing the caller's slice changes nothing.
	s := bytes.Clone(secret)
	l2 := New(memStore(), s)
	before := l2.Key(now, "tokens", id)
	s[0] ^= 1
	if l2.Key(now, "tokens", id) != before {
		t.Error("secret not copied")
	}
}

func TestDayRotationStartsFreshCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The bubble's clock starts at midnight UTC on 2000-01-01.
		time.Sleep(24*time.Hour - time.Second) // 23:59:59
		rec := &recordingStore{Store: memStore()}
		l := New(rec, secret)
		p := policy(t, "daily", "1-D")
		if d, _ := allow(t, l, p, "inst"); !d.Allowed {
			t.Fatal("first request refused")
		}
		if d, _ := allow(t, l, p, "inst"); d.Allowed {
			t.Fatal("second request allowed on the same day")
		}
		time.Sleep(time.Second)
		if d, _ := allow(t, l, p, "inst"); !d.Allowed {
			t.Fatal("first request of the next day refused")
		}
		if rec.keys[0] != rec.keys[1] || rec.keys[1] == rec.keys[2] {
			t.Fatalf("keys %q", rec.keys)
		}
	})
}

func TestConcurrentAllowAdmitsExactlyN(t *testing.T) {
	const n, callers, perCaller = 50, 16, 25
	l := New(memStore(), secret)
	p := policy(t, "reports", fmt.Sprintf("%d-H", n))
	var allowed, denied atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range perCaller {
				d, err := l.Allow(context.Background(), p, "inst")
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				} else {
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != n || denied.Load() != callers*perCaller-n {
		t.Fatalf("allowed %d, denied %d; want %d, %d", allowed.Load(), denied.Load(), n, callers*perCaller-n)
	}
}

// failingStore fails (or panics) while down is set, and counts calls.
type failingStore struct {
	limiter.Store
	down  atomic.Bool
	panic bool
	calls atomic.Int64
}

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (s *failingStore) Get(ctx context.Context, key string, r limiter.Rate) (limiter.Context, error) {
	s.calls.Add(1)
	if s.down.Load() {
		if s.panic {
			panic("nil client")
		}
		return limiter.Context{}, errDown
	}
	return s.Store.Get(ctx, key, r)
}

type fallbackEvent struct {
	policy string
	err    error
}

func TestStoreFailureFallsBackToStricterLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failingStore{Store: memStore()}
		store.down.Store(true)
		var events []fallbackEvent
		l := New(store, secret, WithFallbackHook(func(p string, err error) { events = append(events, fallbackEvent{p, err}) }))
		p := policy(t, "reports", "10-H")

		for i := range 5 {
			d, h := allow(t, l, p, "inst")
			if !d.Allowed || !d.Fallback || d.Limit != 5 || d.Remaining != int64(4-i) {
				t.Fatalf("request %d: %+v", i+1, d)
			}
			wantHeaders(t, h, `"reports";q=5;w=3600`, fmt.Sprintf(`"reports";r=%d;t=3600`, 4-i), "")
		}
		d, h := allow(t, l, p, "inst")
		if d.Allowed || !d.Fallback || d.Policy.Rate.Limit != 5 || d.Policy.Name != "reports" {
			t.Fatalf("6th: %+v", d)
		}
		wantHeaders(t, h, `"reports";q=5;w=3600`, `"reports";r=0;t=3600`, "3600")
		if l.Fallbacks() != 6 || len(events) != 6 {
			t.Fatalf("fallbacks %d, events %d", l.Fallbacks(), len(events))
		}
		// The store was tried once; then it cooled down.
		if store.calls.Load() != 1 || !errors.Is(events[0].err, errDown) || events[1].err != nil || events[0].policy != "reports" {
			t.Fatalf("store calls %d, events %v", store.calls.Load(), events)
		}

		// Past the cool-down the store is tried again, and used once it is back.
		store.down.Store(false)
		time.Sleep(DefaultStoreCooldown - time.Nanosecond)
		if d, _ := allow(t, l, p, "inst"); !d.Fallback || store.calls.Load() != 1 {
			t.Fatalf("within cool-down: %+v, calls %d", d, store.calls.Load())
		}
		time.Sleep(time.Nanosecond)
		d, h = allow(t, l, p, "inst")
		if !d.Allowed || d.Fallback || d.Limit != 10 || d.Remaining != 9 || store.calls.Load() != 2 {
			t.Fatalf("store back: %+v, calls %d", d, store.calls.Load())
		}
		wantHeaders(t, h, `"reports";q=10;w=3600`, `"reports";r=9;t=3600`, "")
		if l.Fallbacks() != 7 {
			t.Fatalf("fallbacks %d", l.Fallbacks())
		}
	})
}

func TestStorePanicFallsBack(t *testing.T) {
	store := &failingStore{Store: memStore(), panic: true}
	store.down.Store(true)
	var got error
	l := New(store, secret, WithFallbackHook(func(_ string, err error) { got = err }))
	d, err := l.Allow(context.Background(), policy(t, "tokens", "4-H"), "a")
	if err != nil || !d.Allowed || !d.Fallback || d.Limit != 2 {
		t.Fatalf("%+v, %v", d, err)
	}
	if !errors.Is(got, ErrStorePanic) {
		t.Fatalf("hook error %v", got)
	}
}

func TestFallbackOptions(t *testing.T) {
	store := &failingStore{Store: memStore()}
	store.down.Store(true)
	l := New(store, secret, WithFallbackDivisor(3), WithStoreCooldown(0))
	p := policy(t, "tokens", "10-H")
	for i := range 4 {
		if d, _ := allow(t, l, p, "a"); d.Allowed != (i < 3) || d.Limit != 3 {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	if store.calls.Load() != 4 {
		t.Fatalf("with no cool-down the store is tried every time: %d calls", store.calls.Load())
	}
	// A divisor larger than the limit still lets one request through.
	l = New(store, secret, WithFallbackDivisor(100), WithFallbackDivisor(0))
	if d, _ := allow(t, l, policy(t, "tiny", "3-H"), "a"); !d.Allowed || d.Limit != 1 {
		t.Fatalf("%+v", d)
	}
}

// ctxStore fails the way a store does when the request's context ends.
type ctxStore struct{ limiter.Store }

func (s ctxStore) Get(ctx context.Context, key string, r limiter.Rate) (limiter.Context, error) {
	if err := ctx.Err(); err != nil {
		return limiter.Context{}, err
	}
	return s.Store.Get(ctx, key, r)
}

func TestCancelledRequestDoesNotCoolTheStore(t *testing.T) {
	l := New(ctxStore{memStore()}, secret)
	p := policy(t, "tokens", "10-H")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := l.Allow(ctx, p, "a")
	if err != nil || !d.Fallback || l.Fallbacks() != 0 {
		t.Fatalf("%+v, %v, %d fallbacks counted", d, err, l.Fallbacks())
	}
	if d, _ := allow(t, l, p, "a"); d.Fallback || d.Limit != 10 {
		t.Fatalf("store skipped after a cancelled request: %+v", d)
	}
}

func TestFallbackSweepsExpiredCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failingStore{Store: memStore()}
		store.down.Store(true)
		l := New(store, secret)
		p := policy(t, "tokens", "1-S")
		for i := range 100 {
			allow(t, l, p, fmt.Sprint(i))
		}
		count := func() (n int) {
			l.fallback.cache.Range(func(string, *memory.Counter) { n++ })
			return n
		}
		if count() != 100 {
			t.Fatalf("%d counters", count())
		}
		time.Sleep(fallbackCleanEvery)
		allow(t, l, p, "new")
		if count() != 1 {
			t.Fatalf("%d counters after sweep, want 1", count())
		}
	})
}

func BenchmarkAllow(b *testing.B) {
	l := New(memStore(), secret)
	p := policy(b, "reports", "1000000000-H")
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("installation-%04d", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Allow(ctx, p, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := New(memStore(), secret)
	p := policy(b, "reports", "1000000000-H")
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Allow(ctx, p, "installation-"+fmt.Sprint(i%1024)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
