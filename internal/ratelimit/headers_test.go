package ratelimit

import (
	"net/http"
	"testing"
	"time"
)

func TestSetHeaders(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tokens := policy(t, "tokens", "30-H")
	reports := policy(t, "reports", "60-H")
	global := policy(t, "global", "2000-S")
	dec := func(p Policy, allowed bool, remaining int64, resetIn time.Duration) Decision {
		return Decision{Policy: p, Allowed: allowed, Limit: p.Rate.Limit, Remaining: remaining, Reset: at.Add(resetIn), at: at}
	}
	tests := []struct {
		name                  string
		ds                    []Decision
		policy, rl, retryWant string
	}{
		{
			name:   "one allowed",
			ds:     []Decision{dec(tokens, true, 29, time.Hour)},
			policy: `"tokens";q=30;w=3600`, rl: `"tokens";r=29;t=3600`,
		},
		{
			name:   "one denied",
			ds:     []Decision{dec(tokens, false, 0, 1234*time.Second)},
			policy: `"tokens";q=30;w=3600`, rl: `"tokens";r=0;t=1234`, retryWant: "1234",
		},
		{
			name:   "partial seconds round up",
			ds:     []Decision{dec(tokens, false, 0, 1234*time.Second+time.Millisecond)},
			policy: `"tokens";q=30;w=3600`, rl: `"tokens";r=0;t=1235`, retryWant: "1235",
		},
		{
			name:   "denied at the reset instant still says 1 second",
			ds:     []Decision{dec(global, false, 0, 0)},
			policy: `"global";q=2000;w=1`, rl: `"global";r=0;t=0`, retryWant: "1",
		},
		{
			name:   "reset in the past is clamped",
			ds:     []Decision{dec(global, false, 0, -5*time.Second)},
			policy: `"global";q=2000;w=1`, rl: `"global";r=0;t=0`, retryWant: "1",
		},
		{
			name:   "reset beyond the window is clamped",
			ds:     []Decision{dec(global, true, 5, time.Hour)},
			policy: `"global";q=2000;w=1`, rl: `"global";r=5;t=1`,
		},
		{
			name:   "two allowed, in order",
			ds:     []Decision{dec(reports, true, 10, 30*time.Minute), dec(global, true, 1999, time.Second)},
			policy: `"reports";q=60;w=3600, "global";q=2000;w=1`, rl: `"reports";r=10;t=1800, "global";r=1999;t=1`,
		},
		{
			name:   "global denied, reports fine",
			ds:     []Decision{dec(reports, true, 10, 30*time.Minute), dec(global, false, 0, time.Second)},
			policy: `"reports";q=60;w=3600, "global";q=2000;w=1`, rl: `"reports";r=10;t=1800, "global";r=0;t=1`, retryWant: "1",
		},
		{
			name:   "both denied: the longer wait",
			ds:     []Decision{dec(global, false, 0, time.Second), dec(reports, false, 0, 30*time.Minute)},
			policy: `"global";q=2000;w=1, "reports";q=60;w=3600`, rl: `"global";r=0;t=1, "reports";r=0;t=1800`, retryWant: "1800",
		},
		{
			name:   "a policy named twice is written once, most restrictive",
			ds:     []Decision{dec(tokens, true, 5, time.Hour), dec(global, true, 7, time.Second), dec(tokens, false, 0, 10*time.Second)},
			policy: `"tokens";q=30;w=3600, "global";q=2000;w=1`, rl: `"tokens";r=0;t=10, "global";r=7;t=1`, retryWant: "10",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			SetHeaders(h, tt.ds...)
			wantHeaders(t, h, tt.policy, tt.rl, tt.retryWant)
			if len(h) != 2+map[bool]int{true: 1}[tt.retryWant != ""] {
				t.Errorf("unexpected headers: %v", h)
			}
		})
	}
}

func TestSetHeadersNoDecisions(t *testing.T) {
	h := http.Header{"Retry-After": {"7"}}
	SetHeaders(h)
	if len(h) != 1 || h.Get("Retry-After") != "7" {
		t.Fatalf("%v", h)
	}
}

func TestMostRestrictive(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	reports, global := policy(t, "reports", "60-H"), policy(t, "global", "2000-S")
	dec := func(p Policy, allowed bool, remaining int64, resetIn time.Duration) Decision {
		return Decision{Policy: p, Allowed: allowed, Limit: p.Rate.Limit, Remaining: remaining, Reset: at.Add(resetIn), at: at}
	}
	if _, ok := MostRestrictive(); ok {
		t.Fatal("ok with no decisions")
	}
	tests := []struct {
		name string
		ds   []Decision
		want string // policy name
	}{
		{"denied beats allowed", []Decision{dec(reports, true, 0, time.Hour), dec(global, false, 0, time.Second)}, "global"},
		{"longer wait among denied", []Decision{dec(global, false, 0, time.Second), dec(reports, false, 0, time.Minute)}, "reports"},
		{"fewest remaining among allowed", []Decision{dec(global, true, 3, time.Second), dec(reports, true, 5, time.Hour)}, "global"},
		{"tie on remaining: longer wait", []Decision{dec(global, true, 3, time.Second), dec(reports, true, 3, time.Hour)}, "reports"},
	}
	for _, tt := range tests {
		if d, ok := MostRestrictive(tt.ds...); !ok || d.Policy.Name != tt.want {
			t.Errorf("%s: got %s", tt.name, d.Policy.Name)
		}
	}
}

func TestResetInOfHandBuiltDecision(t *testing.T) {
	// No decision time: measured from now, so only the bounds are certain.
	d := Decision{Policy: policy(t, "p", "1-M"), Reset: time.Now().Add(time.Hour)}
	if d.ResetIn() != time.Minute {
		t.Fatalf("ResetIn = %v, want the window", d.ResetIn())
	}
	d.Reset = time.Now().Add(-time.Hour)
	if d.ResetIn() != 0 {
		t.Fatalf("ResetIn = %v, want 0", d.ResetIn())
	}
}
