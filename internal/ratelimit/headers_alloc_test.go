package ratelimit

import (
	"net/http"
	"net/textproto"
	"testing"
	"time"
)

func TestSetHeadersCanonicalKeys(t *testing.T) {
	for _, k := range []string{headerPolicy, headerLimit, headerRetryAfter} {
		if c := textproto.CanonicalMIMEHeaderKey(k); c != k {
			t.Errorf("header key %q is not canonical (%q): Header.Get would not find it", k, c)
		}
	}
}

// TestSetHeadersAllocations: the fields of every limited request cost two
// allocations, refused or not.
func TestSetHeadersAllocations(t *testing.T) {
	at := time.Now()
	reports, global := policy(t, "reports", "100000000-H"), policy(t, "global", "2000-S")
	ok := []Decision{
		{Policy: reports, Allowed: true, Limit: reports.Rate.Limit, Remaining: 99999999, Reset: at.Add(time.Hour), at: at},
		{Policy: global, Allowed: true, Limit: 2000, Remaining: 1234, Reset: at.Add(time.Second), at: at},
	}
	refused := []Decision{ok[0], {Policy: global, Allowed: false, Limit: 2000, Reset: at.Add(time.Second), at: at}}
	h := http.Header{headerPolicy: nil, headerLimit: nil, headerRetryAfter: nil}
	for _, ds := range [][]Decision{ok, refused} {
		if n := testing.AllocsPerRun(100, func() { SetHeaders(h, ds...) }); n > 2 {
			t.Errorf("SetHeaders(%d decisions, allowed %v) allocates %v times, want 2", len(ds), ds[1].Allowed, n)
		}
	}
	if got := h.Get("RateLimit"); got != `"reports";r=99999999;t=3600, "global";r=0;t=1` {
		t.Errorf("RateLimit = %q", got)
	}
}
