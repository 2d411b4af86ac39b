package token

import (
	"strings"
	"sync"
	"time"
)

// cache remembers verified tokens by their exact string, so that a client
// sending the same token with every request costs a map lookup rather than
// an Ed25519 verification. Only tokens that passed every check get in,
// which is also what bounds how fast an attacker can fill it.
type cache struct {
	mu  sync.RWMutex
	max int
	m   map[string]cacheEntry
}

type cacheEntry struct {
	kind   Kind
	kid    string
	claims Claims
	until  time.Time // exp, or the end of the key's grace if sooner
}

func newCache(max int) *cache {
	return &cache{max: max, m: make(map[string]cacheEntry)}
}

// get returns the entry for raw; the caller checks it is still good.
func (c *cache) get(raw string) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[raw]
	c.mu.RUnlock()
	return e, ok
}

func (c *cache) put(raw string, e cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[raw]; !ok && len(c.m) >= c.max {
		c.evict(now)
	}
	// A copy: raw is usually a slice of a request header we must not pin.
	c.m[strings.Clone(raw)] = e
}

// evict makes room when the cache is full: it drops every stale entry and,
// if that is not an eighth of the cache, arbitrary ones (map order) up to an
// eighth. One pass per max/8 insertions keeps the cost per insertion O(1).
func (c *cache) evict(now time.Time) {
	target := c.max/8 + 1
	removed := 0
	for k, e := range c.m {
		if !now.Before(e.until) {
			delete(c.m, k)
			removed++
		}
	}
	for k := range c.m {
		if removed >= target {
			break
		}
		delete(c.m, k)
		removed++
	}
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
