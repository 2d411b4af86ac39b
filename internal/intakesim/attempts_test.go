package intakesim

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestAttemptLog: every intake request is logged with its id, times,
// status, Retry-After and outcome, whatever the portal did with it.
func TestAttemptLog(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now})
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusCreated, "HL-000001", false)
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusOK, "HL-000001", true)
	if err := h.p.SetFaults(Faults{FailureRate: 1, FailureStatuses: []int{429}, RetryAfter: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, h.deliver("r2", payload("r2")), http.StatusTooManyRequests, "injected-failure")
	if err := h.p.SetFaults(Faults{Down: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, h.deliver("r2", payload("r2")), http.StatusServiceUnavailable, "down")
	if err := h.p.SetFaults(Faults{ResetRate: 1}); err != nil {
		t.Fatal(err)
	}
	if a := h.deliver("r3", payload("r3")); a.err == nil {
		t.Fatalf("reset: got status %d", a.status)
	}
	if err := h.p.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, h.deliverAt("r4", payload("r4"), c.Now().Add(-time.Hour)), http.StatusUnauthorized, "timestamp-too-old")
	if err := h.p.SetDown(time.Minute, DownClose); err != nil {
		t.Fatal(err)
	}
	if a := h.deliver("r5.x", payload("r5")); a.err == nil {
		t.Fatalf("close: got status %d", a.status)
	}

	want := []struct {
		id, outcome, retryAfter string
		status                  int
		kept                    bool
	}{
		{"r1", OutcomeStored, "", 201, true},
		{"r1", OutcomeDuplicate, "", 200, true},
		{"r2", OutcomeFailure, "3", 429, false},
		{"r2", OutcomeDown, "5", 503, false},
		{"r3", OutcomeReset, "", 0, true},
		{"r4", OutcomeRejected, "", 401, false},
		{"", OutcomeClosed, "", 0, false}, // "r5.x" is no valid webhook-id
	}
	var page attemptsPage
	h.get("/attempts", &page)
	if len(page.Attempts) != len(want) || page.More || page.NextSince != uint64(len(want)) {
		t.Fatalf("/attempts: %d attempts, more %v, next_since %d; want %d", len(page.Attempts), page.More, page.NextSince, len(want))
	}
	for i, w := range want {
		a := page.Attempts[i]
		if a.Seq != uint64(i+1) || a.ID != w.id || a.Outcome != w.outcome || a.Status != w.status || a.RetryAfter != w.retryAfter || a.Kept != w.kept {
			t.Errorf("attempt %d = %+v, want %+v", i+1, a, w)
		}
		if !a.At.Equal(c.Now()) || !a.AnsweredAt.Equal(c.Now()) {
			t.Errorf("attempt %d: at %v answered %v, want the clock's %v", i+1, a.At, a.AnsweredAt, c.Now())
		}
	}
	if got := h.p.Attempts(); len(got) != len(want) || got[2] != page.Attempts[2] {
		t.Fatalf("Attempts() disagrees with /attempts: %+v", got)
	}
	if st := h.p.Stats(); st.Attempts != uint64(len(want)) || st.AttemptsEvicted != 0 {
		t.Fatalf("stats = %+v", st)
	}

	// Paging.
	h.get("/attempts?since=2&limit=3", &page)
	if len(page.Attempts) != 3 || page.Attempts[0].Seq != 3 || page.NextSince != 5 || !page.More {
		t.Fatalf("page since=2 limit=3: %+v", page)
	}
	for _, q := range []string{"?since=x", "?limit=0", "?limit=10001"} {
		wantProblem(t, h.send("GET", "/attempts"+q, ""), http.StatusBadRequest, "bad-query")
	}
}

// TestAttemptTimes: At is the arrival, AnsweredAt the answer, after the
// injected latency.
func TestAttemptTimes(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now, Faults: Faults{Latency: 2 * time.Second}})
	h.p.sleep = func(ctx context.Context, d time.Duration) bool { c.Add(d); return true }
	start := c.Now()
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusCreated, "HL-000001", false)
	a := h.p.Attempts()[0]
	if !a.At.Equal(start) || !a.AnsweredAt.Equal(start.Add(2*time.Second)) {
		t.Fatalf("at %v answered %v; want %v and 2 s later", a.At, a.AnsweredAt, start)
	}
}

// TestAttemptLogBound: the oldest entries go beyond MaxAttempts.
func TestAttemptLogBound(t *testing.T) {
	h := newHarness(t, Config{MaxAttempts: 16})
	for i := range 40 {
		id := fmt.Sprint("r", i)
		h.deliver(id, payload(id))
	}
	got := h.p.Attempts()
	st := h.p.Stats()
	if len(got) > 16 || len(got) < 14 || got[len(got)-1].Seq != 40 || st.Attempts != 40 || st.AttemptsEvicted != uint64(40-len(got)) {
		t.Fatalf("%d attempts kept (last seq %d), stats %+v", len(got), got[len(got)-1].Seq, st)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("attempt log not contiguous: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	if _, err := New(Config{Secrets: []string{testSecret}, Path: "/attempts"}); err == nil {
		t.Fatal("intake path /attempts accepted: it is an admin endpoint")
	}
	if _, err := New(Config{Secrets: []string{testSecret}, MaxAttempts: -1}); err == nil {
		t.Fatal("negative MaxAttempts accepted")
	}
}

// TestDownHang: the portal holds the request for the rest of the down
// period, then closes the connection without an answer; a sender that
// gives up first leaves it at once.
func TestDownHang(t *testing.T) {
	h := newHarness(t, Config{})
	var (
		mu    sync.Mutex
		slept []time.Duration
	)
	h.p.sleep = func(ctx context.Context, d time.Duration) bool {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return true
	}
	if err := h.p.SetDown(time.Minute, DownHang); err != nil {
		t.Fatal(err)
	}
	if a := h.deliver("r1", payload("r1")); a.err == nil {
		t.Fatalf("hang: got status %d, want no answer", a.status)
	}
	mu.Lock()
	if len(slept) != 1 || slept[0] <= 55*time.Second || slept[0] > time.Minute {
		t.Fatalf("held for %v, want the minute left of the period", slept)
	}
	mu.Unlock()
	a := h.p.Attempts()
	if len(a) != 1 || a[0].Outcome != OutcomeHung || a[0].Status != 0 || a[0].ID != "r1" || a[0].Kept {
		t.Fatalf("attempts = %+v", a)
	}
	if st := h.p.Stats(); st.Faults.Down != 1 || st.Received != 0 {
		t.Fatalf("stats = %+v", st)
	}
	var f faultsJSON
	h.get("/faults", &f)
	if f.DownMode != DownHang {
		t.Fatalf("down_mode %q, want hang", f.DownMode)
	}
	if err := h.p.SetDown(0, DownHang); err != nil {
		t.Fatal(err)
	}
	wantReference(t, h.deliver("r1", payload("r1")), http.StatusCreated, "HL-000001", false)

	// Real time: a sender with a short timeout gives up; the portal's
	// handler returns with it.
	h = newHarness(t, Config{})
	if err := h.p.SetDown(time.Minute, DownHang); err != nil {
		t.Fatal(err)
	}
	client := *h.srv.Client()
	client.Timeout = 200 * time.Millisecond
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+h.p.Path(), bytes.NewReader(payload("r2")))
	h.signer.SetHeaders(req.Header, "r2", time.Now(), payload("r2"))
	start := time.Now()
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("hang: got status %d", resp.StatusCode)
	}
	waitAttempts := time.Now().Add(5 * time.Second)
	for len(h.p.Attempts()) == 0 {
		if time.Now().After(waitAttempts) {
			t.Fatal("the hung request was not logged after its sender left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("the handler held on for %v after its sender left", el)
	}
	if a := h.p.Attempts()[0]; a.Outcome != OutcomeHung || a.ID != "r2" {
		t.Fatalf("attempt = %+v", a)
	}
}
