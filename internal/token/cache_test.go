package token

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestCacheEntryEndsAtExp(t *testing.T) {
	e := newEnv(t)
	tok, exp, _ := e.iss.Issue(Installation, "s")
	if _, err := e.ver.Verify(Installation, tok); err != nil {
		t.Fatal(err)
	}
	got, ok := e.ver.cache.get(tok)
	if !ok || !got.until.Equal(exp) || got.kid != e.kr.ActiveKID() || got.kind != Installation {
		t.Fatalf("cache entry %+v, %v; want until %v", got, ok, exp)
	}
	// Within the leeway, the cold path still accepts, but nothing past exp
	// goes back into the cache.
	e.clock.Set(exp.Add(time.Second))
	e.ver.cache.m = map[string]cacheEntry{}
	if _, err := e.ver.Verify(Installation, tok); err != nil {
		t.Fatal(err)
	}
	if e.ver.cache.len() != 0 {
		t.Error("a token past exp was cached")
	}
}

// TestCacheNotServedPastUntil plants an entry for a string that would not
// verify: it is served while good, and never after its until, nor for
// another kind, nor once its key is gone.
func TestCacheNotServedPastUntil(t *testing.T) {
	e := newEnv(t)
	const raw = "not-a-token"
	want := Claims{Subject: "planted"}
	until := t0.Add(time.Minute)
	e.ver.cache.put(raw, cacheEntry{kind: Installation, kid: e.kr.ActiveKID(), claims: want, until: until}, t0)

	if c, err := e.ver.Verify(Installation, raw); err != nil || c != want {
		t.Fatalf("planted entry not served: %+v, %v", c, err)
	}
	if _, err := e.ver.Verify(Hotline, raw); err == nil {
		t.Error("entry served for another kind")
	}
	e.clock.Set(until.Add(-time.Nanosecond))
	if _, err := e.ver.Verify(Installation, raw); err != nil {
		t.Errorf("refused before until: %v", err)
	}
	e.clock.Set(until)
	if _, err := e.ver.Verify(Installation, raw); err == nil {
		t.Error("served at until")
	}

	e.clock.Set(t0)
	e.ver.cache.put(raw, cacheEntry{kind: Installation, kid: "gone-kid", claims: want, until: until}, t0)
	if _, err := e.ver.Verify(Installation, raw); err == nil {
		t.Error("served with a key that is not in the keyring")
	}
}

func TestCacheBounded(t *testing.T) {
	e := newEnv(t)
	v, _ := NewVerifier(e.kr, testIssuer, e.clock.Now, WithCacheSize(16))
	for i := range 200 {
		tok := e.issue(t, Installation, fmt.Sprint("s", i))
		if _, err := v.Verify(Installation, tok); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.len(); n > 16 {
			t.Fatalf("cache holds %d entries, max 16", n)
		}
	}
	// Stale entries go first.
	c := newCache(4)
	for i := range 4 {
		c.put(fmt.Sprint("old", i), cacheEntry{until: t0}, t0)
	}
	c.put("new", cacheEntry{until: t0.Add(time.Hour)}, t0.Add(time.Second))
	if c.len() != 1 {
		t.Errorf("%d entries after evicting 4 stale ones", c.len())
	}
}

func TestCachedVerifyDoesNotAllocate(t *testing.T) {
	e := newEnv(t)
	tok := e.issue(t, Installation, "s")
	if _, err := e.ver.Verify(Installation, tok); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { e.ver.Verify(Installation, tok) }); n != 0 {
		t.Errorf("cached Verify: %v allocations", n)
	}
}

// TestOversizeRefusedWithoutWork: a huge bearer value is refused before
// anything looks at it.
func TestOversizeRefusedWithoutWork(t *testing.T) {
	e := newEnv(t)
	huge := string(make([]byte, 1<<20))
	var err error
	if n := testing.AllocsPerRun(100, func() { _, err = e.cold.Verify(Installation, huge) }); n != 0 {
		t.Errorf("oversize Verify: %v allocations", n)
	}
	if !errors.Is(err, errTooLong) {
		t.Errorf("err %v", err)
	}
}
