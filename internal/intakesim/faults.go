package intakesim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// DownMode says how the portal behaves during a down period.
type DownMode string

const (
	// DownUnavailable answers every intake request 503 with Retry-After set
	// to the seconds left, like a portal in maintenance.
	DownUnavailable DownMode = "503"
	// DownClose closes each intake connection without an answer.
	DownClose DownMode = "close"
	// DownRefuse makes Serve close its listener, so connections are refused
	// by the kernel, and listen again when the period ends. Requests that
	// still reach the handler (Serve not used, or a connection opened
	// before) are closed as with DownClose.
	DownRefuse DownMode = "refuse"
	// DownHang holds each intake request without an answer until the
	// sender gives up or the period ends, then closes the connection: a
	// portal that accepts connections but never answers. A sender whose
	// timeout is shorter than the period sees a timeout; one still waiting
	// when the period ends, a connection closed without an answer.
	DownHang DownMode = "hang"
)

// Faults are the failures the portal injects into intake requests. The zero
// value injects none.
type Faults struct {
	// FailureRate is the share (0..1) of intake requests answered with one
	// of FailureStatuses, before the request is read or verified.
	FailureRate float64
	// FailureStatuses are drawn from uniformly; empty means 503 and 429.
	FailureStatuses []int
	// RetryAfter goes in the Retry-After header (whole seconds, rounded up)
	// of injected failures.
	RetryAfter time.Duration
	// Latency is added to every intake request, plus a uniform draw in
	// [0, Jitter).
	Latency, Jitter time.Duration
	// ResetRate is the share (0..1) of intake requests that are processed
	// (stored, or counted as a duplicate) and then get their connection cut
	// part-way through the status line: the sender sees a network error
	// although the hotline has the report, and its retry must come back as
	// a duplicate.
	ResetRate float64
	// Down, if positive, makes the portal down for that long from when the
	// faults are set, in DownMode (default DownUnavailable). Faults() reports
	// the time left.
	Down     time.Duration
	DownMode DownMode
}

// Bounds on fault settings: a typo should not hang a test run for a day.
const (
	maxLatency    = 5 * time.Minute
	maxRetryAfter = 24 * time.Hour
	maxDown       = 24 * time.Hour
)

var defaultFailureStatuses = []int{503, 429}

// ErrBadFaults is returned for fault settings out of range.
var ErrBadFaults = errors.New("intakesim: invalid faults")

// normalise fills defaults and checks ranges.
func (f Faults) normalise() (Faults, error) {
	bad := func(format string, args ...any) (Faults, error) {
		return Faults{}, fmt.Errorf("%w: %s", ErrBadFaults, fmt.Sprintf(format, args...))
	}
	if !(f.FailureRate >= 0 && f.FailureRate <= 1) { // also rejects NaN
		return bad("failure_rate %v is not in 0..1", f.FailureRate)
	}
	if !(f.ResetRate >= 0 && f.ResetRate <= 1) {
		return bad("reset_rate %v is not in 0..1", f.ResetRate)
	}
	if len(f.FailureStatuses) == 0 {
		f.FailureStatuses = defaultFailureStatuses
	}
	if len(f.FailureStatuses) > 16 {
		return bad("at most 16 failure_statuses")
	}
	for _, s := range f.FailureStatuses {
		if s < 400 || s > 599 {
			return bad("failure status %d is not a 4xx or 5xx", s)
		}
	}
	f.FailureStatuses = append([]int(nil), f.FailureStatuses...)
	if f.Latency < 0 || f.Jitter < 0 || f.Latency+f.Jitter > maxLatency {
		return bad("latency and jitter must be >= 0 and add up to at most %s", maxLatency)
	}
	if f.RetryAfter < 0 || f.RetryAfter > maxRetryAfter {
		return bad("retry_after must be in 0..%s", maxRetryAfter)
	}
	if f.Down < 0 || f.Down > maxDown {
		return bad("down must be in 0..%s", maxDown)
	}
	switch f.DownMode {
	case "":
		f.DownMode = DownUnavailable
	case DownUnavailable, DownClose, DownRefuse, DownHang:
	default:
		return bad("down_mode %q is not one of 503, close, refuse, hang", f.DownMode)
	}
	return f, nil
}

// faultsJSON is the wire form of Faults for /faults: durations in whole
// units so that curl users need not know Go's duration syntax.
type faultsJSON struct {
	FailureRate     float64  `json:"failure_rate"`
	FailureStatuses []int    `json:"failure_statuses"`
	RetryAfterS     int64    `json:"retry_after_s"`
	LatencyMS       int64    `json:"latency_ms"`
	JitterMS        int64    `json:"jitter_ms"`
	ResetRate       float64  `json:"reset_rate"`
	DownS           *int64   `json:"down_s,omitempty"`
	DownMode        DownMode `json:"down_mode"`
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

func (f Faults) wire() faultsJSON {
	down := ceilSeconds(f.Down)
	return faultsJSON{
		FailureRate:     f.FailureRate,
		FailureStatuses: f.FailureStatuses,
		RetryAfterS:     ceilSeconds(f.RetryAfter),
		LatencyMS:       f.Latency.Milliseconds(),
		JitterMS:        f.Jitter.Milliseconds(),
		ResetRate:       f.ResetRate,
		DownS:           &down,
		DownMode:        f.DownMode,
	}
}

// mergeFaults applies a /faults request body to cur: fields present in the
// body replace the current ones, absent fields stay. down_s, when present,
// starts (or, with 0, ends) a down period from now; when absent the current
// period goes on.
func mergeFaults(cur Faults, body []byte) (Faults, bool, error) {
	w := cur.wire()
	w.DownS = nil
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Faults{}, false, fmt.Errorf("%w: %v", ErrBadFaults, err)
	}
	if dec.More() {
		return Faults{}, false, fmt.Errorf("%w: trailing data after the JSON object", ErrBadFaults)
	}
	// Bound the integers before multiplying them into durations, so that an
	// overflow cannot wrap a huge value into a valid one.
	for _, v := range []int64{w.RetryAfterS, w.LatencyMS, w.JitterMS} {
		if v < 0 || v > int64(maxDown/time.Millisecond) {
			return Faults{}, false, fmt.Errorf("%w: durations must be in 0..%d", ErrBadFaults, int64(maxDown/time.Millisecond))
		}
	}
	f := Faults{
		FailureRate:     w.FailureRate,
		FailureStatuses: w.FailureStatuses,
		RetryAfter:      time.Duration(w.RetryAfterS) * time.Second,
		Latency:         time.Duration(w.LatencyMS) * time.Millisecond,
		Jitter:          time.Duration(w.JitterMS) * time.Millisecond,
		ResetRate:       w.ResetRate,
		DownMode:        w.DownMode,
	}
	setDown := w.DownS != nil
	if setDown {
		if *w.DownS < 0 || *w.DownS > int64(maxDown/time.Second) {
			return Faults{}, false, fmt.Errorf("%w: down_s must be in 0..%d", ErrBadFaults, int64(maxDown/time.Second))
		}
		f.Down = time.Duration(*w.DownS) * time.Second
	}
	f, err := f.normalise()
	return f, setDown, err
}
