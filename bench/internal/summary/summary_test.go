package summary

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestQuantiles(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: Quantiles must sort
	}
	thousand := make([]int, 1000)
	for i := range thousand {
		thousand[i] = i + 1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"empty", nil, Latency{}},
		{"one", ms(7), Latency{N: 1, Mean: 7 * time.Millisecond, P50: 7 * time.Millisecond, P90: 7 * time.Millisecond,
			P99: 7 * time.Millisecond, P999: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		{"two", ms(1, 3), Latency{N: 2, Mean: 2 * time.Millisecond, P50: 1 * time.Millisecond, P90: 3 * time.Millisecond,
			P99: 3 * time.Millisecond, P999: 3 * time.Millisecond, Max: 3 * time.Millisecond}},
		{"hundred", ms(hundred...), Latency{N: 100, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond,
			P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, P999: 100 * time.Millisecond, Max: 100 * time.Millisecond}},
		{"thousand", ms(thousand...), Latency{N: 1000, Mean: 500500 * time.Microsecond, P50: 500 * time.Millisecond,
			P90: 900 * time.Millisecond, P99: 990 * time.Millisecond, P999: 999 * time.Millisecond, Max: 1000 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quantiles(tc.in); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTallyClasses(t *testing.T) {
	tl := NewTally()
	tl.ByStatus[0] = 2
	tl.ByStatus[202] = 10
	tl.ByStatus[204] = 1
	tl.ByStatus[400] = 3
	tl.ByStatus[422] = 4
	tl.ByStatus[503] = 5
	tl.Unexpected["bad_scheme 202"] = 1
	tl.Unexpected["fresh 500"] = 2
	for _, tc := range []struct {
		lo, hi, want int
	}{{200, 300, 11}, {400, 500, 7}, {500, 600, 5}, {300, 400, 0}} {
		if got := tl.Class(tc.lo, tc.hi); got != tc.want {
			t.Errorf("Class(%d, %d) = %d, want %d", tc.lo, tc.hi, got, tc.want)
		}
	}
	if tl.TransportErrors() != 2 || tl.UnexpectedTotal() != 3 {
		t.Errorf("errors %d, unexpected %d", tl.TransportErrors(), tl.UnexpectedTotal())
	}
}

func TestRates(t *testing.T) {
	s := Summary{Elapsed: 2 * time.Second, Measured: NewTally()}
	s.Measured.Requests = 100
	s.Measured.ByStatus[202] = 80
	s.Measured.ByStatus[400] = 20
	if s.Rate() != 50 || s.SuccessRate() != 40 {
		t.Errorf("Rate %v, SuccessRate %v", s.Rate(), s.SuccessRate())
	}
	if (&Summary{}).Rate() != 0 {
		t.Error("rate of an empty window is not 0")
	}
}

func TestWriteRead(t *testing.T) {
	s := &Summary{Target: "reportit", Scenario: "sat-64", Conns: 64, Elapsed: time.Second, Measured: NewTally(), Warmup: NewTally()}
	s.Measured.ByStatus[202] = 3
	s.Measured.Errors["connection refused"] = 1
	s.Latency = Quantiles([]time.Duration{time.Millisecond, 2 * time.Millisecond})
	p := filepath.Join(t.TempDir(), "s.json")
	if err := Write(p, s); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("read back %+v\nwant %+v", got, s)
	}
}
