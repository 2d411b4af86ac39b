package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/intakesim"
	"github.com/reportit/reportit/internal/webhook"
)

// TestLongOutageUnderLoad (issue 7): the hotline's portal is unavailable
// for a long stretch, in every way a portal fails, while reports keep
// coming in. Nothing may be lost, the backlog must drain by itself once the
// portal is back, and the portal's Retry-After must be honoured: a report
// answered 503 or 429 with "Retry-After: N" is not sent again before N
// seconds have passed, which the portal's own attempt log proves.
//
// The outage, one phase after another:
//
//	flaky 503              20% of pushes answered 503, Retry-After: 3, and
//	                       5% cut after the portal stored the report
//	flaky 429              30% of pushes answered 429, Retry-After: 2; 5% cut
//	503 + Retry-After: 3   every push refused
//	down, mode 503         maintenance: Retry-After is the seconds left
//	down, mode hang        pushes held unanswered, then cut
//	process gone           the portal process is killed: connections are
//	                       refused until it is started again on its port
//
// The flaky phases give many reports a Retry-After of their own to honour;
// in the total outage the circuit breaker holds the whole lane back for
// the Retry-After, so the portal sees few pushes then (logged per phase).
func TestLongOutageUnderLoad(t *testing.T) {
	began := time.Now()
	secret := webhook.NewSecret()
	addr := crashAddr(t)
	s1 := startSimAt(t, addr, secret, "-latency", "5ms")
	p := start(t, t.TempDir(), s1.env()...)

	load := newCrashLoad(t, rand.Uint64()>>1)
	defer load.abortAll()
	load.thinkMin, load.thinkSpread = 20*time.Millisecond, 30*time.Millisecond
	load.base.Store(crashPtr(p.base))
	load.startWorkers(4)

	type phase struct {
		name   string
		faults string
		last   time.Duration
	}
	phases := []phase{
		{"flaky: 20% 503 with Retry-After: 3", `{"failure_rate":0.2,"failure_statuses":[503],"retry_after_s":3,"reset_rate":0.05}`, 3 * time.Second},
		// Long enough that some 429'd report is retried even on a loaded
		// machine, where few pushes happen in a few seconds.
		{"flaky: 30% 429 with Retry-After: 2", `{"failure_rate":0.3,"failure_statuses":[429],"retry_after_s":2,"reset_rate":0.05}`, 5 * time.Second},
		{"every push 503 with Retry-After: 3", `{"failure_rate":1,"failure_statuses":[503],"retry_after_s":3,"reset_rate":0}`, 4 * time.Second},
		// Longer than the breaker stays open after the phase before (3 s),
		// so that a probe meets it.
		{"down for maintenance (503, Retry-After: seconds left)", `{"failure_rate":0,"down_s":5,"down_mode":"503"}`, 5 * time.Second},
		{"hanging (no answer, then the connection cut)", `{"down_s":3,"down_mode":"hang"}`, 3 * time.Second},
	}
	time.Sleep(time.Second) // a healthy start
	outage := time.Now()
	ackedBefore := len(crashAcks(load))
	starts := make([]time.Time, len(phases)+2)
	for i, ph := range phases {
		starts[i] = time.Now()
		s1.setFaults(t, ph.faults)
		t.Logf("%6.1fs portal: %s", time.Since(outage).Seconds(), ph.name)
		time.Sleep(ph.last)
	}

	// The process goes away. First stop it storing (close every intake
	// connection) and keep what it has; then kill it.
	starts[len(phases)] = time.Now()
	s1.setFaults(t, `{"down_s":600,"down_mode":"close"}`)
	time.Sleep(200 * time.Millisecond) // pushes past the fault check finish
	received1, attempts1 := s1.received(t), simAttemptLog(t, s1)
	stats1 := s1.stats(t)
	s1.stop()
	t.Logf("%6.1fs portal: process killed, connections refused", time.Since(outage).Seconds())
	time.Sleep(4 * time.Second)
	s2 := startSimAt(t, addr, secret, "-latency", "5ms")
	back := time.Now()
	starts[len(phases)+1] = back
	t.Logf("%6.1fs portal: started again on %s; outage over", back.Sub(outage).Seconds(), addr)
	ackedDuring := len(crashAcks(load)) - ackedBefore

	time.Sleep(2 * time.Second) // reports keep coming after the outage too
	load.stopWorkers(30 * time.Second)
	reports, errs := load.results()
	for _, e := range errs {
		t.Errorf("client: %s", e)
	}
	if ackedDuring < 50 {
		t.Fatalf("only %d reports accepted during the outage: the load did not go on", ackedDuring)
	}
	acks := make([]accepted, len(reports))
	for i, r := range reports {
		acks[i] = r.acc
	}

	// Nothing lost: every report delivered, under the id its 202 named,
	// to one portal process or the other.
	p.waitStatuses(t, acks, "delivered", 60*time.Second)
	drained := time.Now()
	var m metrics
	waitUntil(t, 15*time.Second, "queue depth and oldest undelivered back to 0", func() bool {
		m = p.metrics(t)
		return m.has("reportit_delivery_queue_depth") && m.sum("reportit_delivery_queue_depth") == 0 &&
			m.sum("reportit_delivery_oldest_undelivered_seconds") == 0
	})
	received2, attempts2 := s2.received(t), simAttemptLog(t, s2)
	stats2 := s2.stats(t)
	byMarker := map[string]map[string]bool{}
	resends := 0
	for _, d := range append(received1, received2...) {
		var pl struct {
			ID      string `json:"id"`
			Comment string `json:"comment"`
		}
		if err := json.Unmarshal(d.Payload, &pl); err != nil || pl.ID != d.ID {
			t.Fatalf("portal delivery %s: payload id %q, %v", d.ID, pl.ID, err)
		}
		mk := crashMarkerOf(pl.Comment)
		if byMarker[mk] == nil {
			byMarker[mk] = map[string]bool{}
		}
		if byMarker[mk][d.ID] {
			resends++ // at both processes: the first died before its answer was read
		}
		byMarker[mk][d.ID] = true
		resends += d.Times - 1
	}
	for _, r := range reports {
		ids := byMarker[r.marker]
		if len(ids) != 1 || !ids[r.acc.ID] {
			t.Errorf("report %s (key %s): at the portal under %v", r.acc.ID, r.key, ids)
		}
		delete(byMarker, r.marker)
	}
	for mk, ids := range byMarker {
		t.Errorf("the portal has %v (marker %q), which no client got a 202 for", ids, mk)
	}
	for _, st := range []intakesim.Stats{stats1, stats2} {
		if st.Conflicts+st.RejectedSignature+st.RejectedTimestamp+st.RejectedPayload+st.Evicted+st.AttemptsEvicted != 0 {
			t.Errorf("portal rejected or dropped deliveries: %+v", st)
		}
	}

	// Retry-After honoured, per report, from the portal's attempt log.
	const slack = 10 * time.Millisecond
	byID := map[string][]intakesim.Attempt{}
	outcomes := map[string]int{}
	for _, a := range append(attempts1, attempts2...) {
		outcomes[a.Outcome]++
		if a.ID != "" {
			byID[a.ID] = append(byID[a.ID], a)
		}
	}
	type honour struct {
		pairs   int
		minWait time.Duration // shortest wait past the Retry-After
	}
	checked := map[string]*honour{}
	for id, as := range byID {
		sort.Slice(as, func(i, j int) bool { return as[i].At.Before(as[j].At) })
		for i := 1; i < len(as); i++ {
			prev, next := as[i-1], as[i]
			if prev.Status != 503 && prev.Status != 429 || prev.RetryAfter == "" {
				continue
			}
			n, err := strconv.Atoi(prev.RetryAfter)
			if err != nil {
				t.Fatalf("Retry-After %q in the attempt log", prev.RetryAfter)
			}
			kind := fmt.Sprintf("%d %s, Retry-After %s", prev.Status, prev.Outcome, prev.RetryAfter)
			if prev.Outcome == intakesim.OutcomeDown {
				kind = "503 down, Retry-After = seconds left"
			}
			h := checked[kind]
			if h == nil {
				h = &honour{minWait: time.Hour}
				checked[kind] = h
			}
			h.pairs++
			past := next.At.Sub(prev.AnsweredAt) - time.Duration(n)*time.Second
			h.minWait = min(h.minWait, past)
			if past < -slack {
				t.Errorf("report %s sent again %v after a %d with Retry-After: %d (at %s, then %s)",
					id, next.At.Sub(prev.AnsweredAt).Round(time.Millisecond), prev.Status, n,
					prev.AnsweredAt.Format("15:04:05.000"), next.At.Format("15:04:05.000"))
			}
		}
	}
	for _, kind := range []string{"503 failure, Retry-After 3", "429 failure, Retry-After 2", "503 down, Retry-After = seconds left"} {
		h := checked[kind]
		if h == nil || h.pairs == 0 {
			t.Errorf("no report was retried after a %s: the test proved nothing for it", kind)
			continue
		}
		t.Logf("Retry-After honoured after %s: %d retries, the earliest %v after the wait asked for", kind, h.pairs, h.minWait.Round(time.Millisecond))
	}
	if outcomes[intakesim.OutcomeHung] == 0 {
		t.Errorf("the hang phase met no push: %v", outcomes)
	}
	all := append(attempts1, attempts2...)
	for i, ph := range append(phases, phase{name: "process gone (close, then killed)"}) {
		n := 0
		for _, a := range all {
			if !a.At.Before(starts[i]) && a.At.Before(starts[i+1]) {
				n++
			}
		}
		t.Logf("pushes the portal saw during %q (%v): %d", ph.name, starts[i+1].Sub(starts[i]).Round(100*time.Millisecond), n)
	}
	hl := `hotline="` + pushHotline + `"`
	if m.sum("reportit_delivery_failures_total", hl, `reason="refused"`) == 0 {
		t.Errorf("no push met the refused connections while the portal process was gone")
	}
	if v := m.sum("reportit_delivery_dead_letters"); v != 0 {
		t.Errorf("%v dead letters", v)
	}
	t.Logf("%d reports accepted (%d during the outage), all delivered; backlog drained %v after the portal came back; %d resends of a delivered id",
		len(reports), ackedDuring, drained.Sub(back).Round(time.Millisecond), resends)
	t.Logf("portal attempts by outcome %v; server failures by reason: 5xx %v, 429 %v, reset %v, refused %v, breaker_open %v; %s in all",
		outcomes, m.sum("reportit_delivery_failures_total", hl, `reason="http_5xx"`), m.sum("reportit_delivery_failures_total", hl, `reason="http_429"`),
		m.sum("reportit_delivery_failures_total", hl, `reason="reset"`), m.sum("reportit_delivery_failures_total", hl, `reason="refused"`),
		m.sum("reportit_delivery_failures_total", hl, `reason="breaker_open"`), time.Since(began).Round(time.Millisecond))
}

// crashAcks is what the load has had acknowledged so far.
func crashAcks(l *crashLoad) []crashReport {
	r, _ := l.results()
	return r
}
