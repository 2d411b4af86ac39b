// Package summary is what the load generator reports about one scenario and
// the driver reads back: counts by status and by request kind, exact
// latency quantiles, and the rate achieved. It is the JSON contract between
// the two processes.
package summary

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
)

// Summary describes one scenario as the load generator saw it.
type Summary struct {
	Target   string        `json:"target"`   // what was measured: "reportit" or "baseline"
	Scenario string        `json:"scenario"` // e.g. "rate-2000", "sat-64"
	Offered  float64       `json:"offered"`  // requests/s asked for; 0 at saturation
	Conns    int           `json:"conns"`    // closed-loop workers; 0 for a fixed rate
	Elapsed  time.Duration `json:"elapsed"`  // first request sent to last answer received

	Measured Tally `json:"measured"`
	// Warmup is the traffic sent before the measured window. It is not in
	// the figures, but its reports are stored, so verification counts it.
	Warmup Tally `json:"warmup"`

	Latency         Latency `json:"latency"`          // every request
	AcceptedLatency Latency `json:"accepted_latency"` // 202s only: durable reports

	GeneratorCPU time.Duration `json:"generator_cpu"` // user+system CPU of the load generator
}

// Tally counts answers.
type Tally struct {
	Requests int            `json:"requests"`
	ByStatus map[int]int    `json:"by_status"` // 0 is a transport error
	Errors   map[string]int `json:"errors"`    // transport errors by message
	// Accepted is the number of 202s that were not replays: new durable
	// reports, primaries and sightings.
	Accepted int `json:"accepted"`
	// Sightings is how many of Accepted the server called duplicates.
	Sightings int `json:"sightings"`
	// Replayed is the number of 202s answered from an idempotency record.
	Replayed int `json:"replayed"`
	// Unexpected counts answers that do not fit the request's kind, such as
	// a 202 for an invalid report, by "kind status".
	Unexpected map[string]int `json:"unexpected"`
	// ByKind counts requests sent by kind.
	ByKind map[string]int `json:"by_kind"`
}

// NewTally returns an empty Tally ready to count.
func NewTally() Tally {
	return Tally{ByStatus: map[int]int{}, Errors: map[string]int{}, Unexpected: map[string]int{}, ByKind: map[string]int{}}
}

// Class counts the answers whose status is in [lo, hi).
func (t *Tally) Class(lo, hi int) int {
	n := 0
	for s, c := range t.ByStatus {
		if s >= lo && s < hi {
			n += c
		}
	}
	return n
}

// TransportErrors is the number of requests that got no HTTP answer.
func (t *Tally) TransportErrors() int { return t.ByStatus[0] }

// UnexpectedTotal is the number of answers that did not fit their request.
func (t *Tally) UnexpectedTotal() int {
	n := 0
	for _, c := range t.Unexpected {
		n += c
	}
	return n
}

// Rate is requests per second over the measured window.
func (s *Summary) Rate() float64 { return perSecond(s.Measured.Requests, s.Elapsed) }

// SuccessRate is 2xx answers per second over the measured window: for
// reportit, durable acknowledged reports (and replays) per second.
func (s *Summary) SuccessRate() float64 { return perSecond(s.Measured.Class(200, 300), s.Elapsed) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Latency holds exact quantiles of a set of latencies.
type Latency struct {
	N    int           `json:"n"`
	Mean time.Duration `json:"mean"`
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	Max  time.Duration `json:"max"`
}

// Quantiles computes the quantiles of ds by the nearest-rank method. It
// sorts ds. A benchmark run holds at most a few million latencies, so
// keeping them all and sorting is cheap and exact, where a histogram would
// round.
func Quantiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(q float64) time.Duration {
		// Nearest rank: the smallest value with at least q of the set at
		// or below it.
		i := int(q*float64(len(ds))+0.999999999) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return Latency{
		N:    len(ds),
		Mean: sum / time.Duration(len(ds)),
		P50:  rank(0.50),
		P90:  rank(0.90),
		P99:  rank(0.99),
		P999: rank(0.999),
		Max:  ds[len(ds)-1],
	}
}

// Write stores s as JSON at path.
func Write(path string, s *Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Read loads a Summary written by Write.
func Read(path string) (*Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}
