package intakesim

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzMergeFaults feeds arbitrary /faults bodies to the parser. It must not
// panic, and whatever it accepts must be within the documented bounds and
// survive a round trip through its own wire form unchanged.
func FuzzMergeFaults(f *testing.F) {
	f.Add([]byte(`{"failure_rate":0.3,"failure_statuses":[503,429],"retry_after_s":2,"latency_ms":50,"jitter_ms":20}`))
	f.Add([]byte(`{"down_s":30,"down_mode":"refuse"}`))
	f.Add([]byte(`{"reset_rate":1}`))
	f.Add([]byte(`{"latency_ms":9223372036854775807}`))
	f.Add([]byte(`{"failure_rate":NaN}`))
	f.Add([]byte(`{}`))
	cur := Faults{FailureRate: 0.1, Latency: time.Second, DownMode: DownUnavailable, FailureStatuses: []int{503, 429}}

	f.Fuzz(func(t *testing.T, body []byte) {
		got, setDown, err := mergeFaults(cur, body)
		if err != nil {
			return
		}
		if !(got.FailureRate >= 0 && got.FailureRate <= 1 && got.ResetRate >= 0 && got.ResetRate <= 1) {
			t.Fatalf("rates out of range: %+v", got)
		}
		if got.Latency < 0 || got.Jitter < 0 || got.Latency+got.Jitter > maxLatency ||
			got.RetryAfter < 0 || got.RetryAfter > maxRetryAfter || got.Down < 0 || got.Down > maxDown {
			t.Fatalf("durations out of range: %+v", got)
		}
		if len(got.FailureStatuses) == 0 {
			t.Fatalf("no failure statuses: %+v", got)
		}
		for _, s := range got.FailureStatuses {
			if s < 400 || s > 599 {
				t.Fatalf("status %d accepted", s)
			}
		}
		if !setDown && got.Down != 0 {
			t.Fatalf("down set without down_s: %+v", got)
		}
		// Durations on the wire are whole units: round-trip what survives that.
		wire, err := json.Marshal(got.wire())
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := mergeFaults(Faults{}, wire)
		if err != nil {
			t.Fatalf("own wire form %s refused: %v", wire, err)
		}
		if a, b := again.wire(), got.wire(); !sameWire(a, b) {
			t.Fatalf("round trip changed %+v into %+v", b, a)
		}
	})
}

func sameWire(a, b faultsJSON) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
