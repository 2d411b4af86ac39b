package ratelimit

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	libredis "github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/redis"
)

// redisAddr is the Redis that make test uses when it is there (.ci/run
// starts it).
const redisAddr = "127.0.0.1:6379"

// redisClient connects to addr, or skips the test when no Redis answers
// at redisAddr. It is closed with the test.
func redisClient(t *testing.T, addr string) *libredis.Client {
	t.Helper()
	probe, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err != nil {
		t.Skipf("no Redis on %s: %v", redisAddr, err)
	}
	probe.Close()
	c := libredis.NewClient(&libredis.Options{
		Addr:        addr,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, // a down store must fail fast, not retry
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// redisStore is ulule's Redis store under a prefix of its own, whose keys
// are deleted when the test ends.
func redisStore(t *testing.T, c *libredis.Client) (limiter.Store, string) {
	t.Helper()
	prefix := "reportit-test-" + rand.Text()
	s, err := redis.NewStoreWithOptions(c, limiter.StoreOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A fresh client: c may be the one the test broke.
		admin := libredis.NewClient(&libredis.Options{Addr: redisAddr})
		defer admin.Close()
		ctx := context.Background()
		keys, _ := admin.Keys(ctx, prefix+":*").Result()
		if len(keys) > 0 {
			admin.Del(ctx, keys...)
		}
	})
	return s, prefix
}

func TestRedisStore(t *testing.T) {
	c := redisClient(t, redisAddr)
	store, prefix := redisStore(t, c)
	l := New(store, secret)
	p := policy(t, "tokens", "3-H")
	const id = "192.0.2.1/32"

	for i := range 3 {
		d, h := allow(t, l, p, id)
		if !d.Allowed || d.Fallback || d.Limit != 3 || d.Remaining != int64(2-i) {
			t.Fatalf("request %d: %+v", i+1, d)
		}
		if h.Get("RateLimit-Policy") != `"tokens";q=3;w=3600` || !strings.HasPrefix(h.Get("RateLimit"), fmt.Sprintf(`"tokens";r=%d;t=`, 2-i)) {
			t.Fatalf("request %d headers %v", i+1, h)
		}
	}
	d, h := allow(t, l, p, id)
	if d.Allowed || d.Fallback || d.Remaining != 0 {
		t.Fatalf("4th: %+v", d)
	}
	// Redis keeps its own time; the wait is within the window.
	if s := d.ResetIn(); s <= 0 || s > time.Hour || h.Get("Retry-After") == "" {
		t.Fatalf("4th: reset in %v, headers %v", s, h)
	}

	// What Redis holds is one HMAC key with the window as TTL: no address.
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := prefix + ":" + l.Key(time.Now(), "tokens", id); len(keys) != 1 || keys[0] != want {
		t.Fatalf("Redis keys %q, want [%q]", keys, want)
	}
	if strings.Contains(keys[0], "192.0.2") {
		t.Fatalf("raw id in key %q", keys[0])
	}
	if ttl, err := c.TTL(ctx, keys[0]).Result(); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("TTL %v, %v", ttl, err)
	}
	if n, err := c.Get(ctx, keys[0]).Int(); err != nil || n != 4 {
		t.Fatalf("count %d, %v", n, err)
	}
}

// proxy forwards TCP connections to a target until Close, which drops
// every connection: a Redis that goes away while the service runs.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(out, in); out.Close() })
			p.wg.Go(func() { io.Copy(in, out); in.Close() })
		}
	})
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestRedisGoingDownFallsBack(t *testing.T) {
	redisClient(t, redisAddr) // skip without Redis
	px := newProxy(t, redisAddr)
	c := redisClient(t, px.Addr())
	store, _ := redisStore(t, c)
	var storeErrs []error
	l := New(store, secret, WithFallbackHook(func(_ string, err error) { storeErrs = append(storeErrs, err) }))
	p := policy(t, "reports", "4-H")

	if d, _ := allow(t, l, p, "inst"); !d.Allowed || d.Fallback || d.Remaining != 3 {
		t.Fatalf("with Redis: %+v", d)
	}
	px.Close()
	// Two fallback requests allowed (4 / 2), the third refused; no error.
	for i := range 3 {
		d, err := l.Allow(context.Background(), p, "inst")
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		if !d.Fallback || d.Allowed != (i < 2) || d.Limit != 2 {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	if l.Fallbacks() != 3 || len(storeErrs) != 3 || storeErrs[0] == nil || storeErrs[1] != nil {
		t.Fatalf("fallbacks %d, store errors %v", l.Fallbacks(), storeErrs)
	}
}
