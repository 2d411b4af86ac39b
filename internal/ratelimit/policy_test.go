package ratelimit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name, spec string
		limit      int64
		period     time.Duration
		formatted  string
		wantErr    string
	}{
		{name: "tokens", spec: "30-H", limit: 30, period: time.Hour, formatted: "30-H"},
		{name: "reports", spec: " 60-h ", limit: 60, period: time.Hour, formatted: "60-H"},
		{name: "global", spec: "2000-S", limit: 2000, period: time.Second, formatted: "2000-S"},
		{name: "a.b_c-1", spec: "5-M", limit: 5, period: time.Minute, formatted: "5-M"},
		{name: "daily", spec: "+7-D", limit: 7, period: 24 * time.Hour, formatted: "7-D"},
		{name: "x", spec: "0-H", wantErr: `limit in "0-H" must be at least 1`},
		{name: "x", spec: "-1-H", wantErr: "is not N-PERIOD"},
		{name: "x", spec: "60-W", wantErr: `"60-W" is not N-PERIOD with PERIOD one of S, M, H, D`},
		{name: "x", spec: "60", wantErr: "is not N-PERIOD"},
		{name: "x", spec: "", wantErr: "is not N-PERIOD"},
		{name: "x", spec: "sixty-H", wantErr: "is not N-PERIOD"},
		{name: "x", spec: "1.5-H", wantErr: "is not N-PERIOD"},
		{name: "x", spec: "99999999999999999999-H", wantErr: "is not N-PERIOD"},
		{name: "", spec: "1-H", wantErr: "must be 1 to 32 characters"},
		{name: strings.Repeat("n", 33), spec: "1-H", wantErr: "must be 1 to 32 characters"},
		{name: `re"ports`, spec: "1-H", wantErr: "may only hold"},
		{name: "rep orts", spec: "1-H", wantErr: "may only hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.spec, func(t *testing.T) {
			p, err := ParsePolicy(tt.name, tt.spec)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePolicy(%q, %q) = %v, %v; want error containing %q", tt.name, tt.spec, p, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.name || p.Rate.Limit != tt.limit || p.Rate.Period != tt.period || p.Rate.Formatted != tt.formatted {
				t.Errorf("ParsePolicy(%q, %q) = %+v", tt.name, tt.spec, p)
			}
			if p.Window() != int64(tt.period/time.Second) {
				t.Errorf("Window() = %d", p.Window())
			}
		})
	}
}

func TestDivide(t *testing.T) {
	for _, tt := range []struct {
		spec string
		n    int64
		want string
	}{
		{"60-H", 2, "30-H"},
		{"61-H", 2, "30-H"},
		{"1-S", 2, "1-S"},
		{"10-M", 3, "3-M"},
		{"10-D", 1, "10-D"},
		{"10-D", 100, "1-D"},
	} {
		p, err := ParsePolicy("p", tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		r := divide(p.Rate, tt.n)
		if r.Formatted != tt.want || r.Period != p.Rate.Period {
			t.Errorf("divide(%s, %d) = %+v, want %s", tt.spec, tt.n, r, tt.want)
		}
	}
}
