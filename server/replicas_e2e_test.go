package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/outbox"
)

// Scale-out end-to-end tests (issue 5): two replicas of the real binary
// share the machine's PostgreSQL (a database of their own per test) and
// Redis, over loopback. Rate-limit keys in Redis are HMACs under the data
// directory's secret, and every test has a fresh data directory, so no two
// tests (nor any other user of that Redis) share a key; nothing is flushed.

const localRedis = "127.0.0.1:6379"

// needRedis skips when no Redis answers on the machine.
func needRedis(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", localRedis, time.Second)
	if err != nil {
		t.Skipf("no Redis on %s: %v", localRedis, err)
	}
	c.Close()
}

// startReplica runs one replica on the shared database, Redis and data
// directory (which holds the signing keys and the server secret, so that
// both replicas accept each other's tokens and derive the same limiter
// keys).
func startReplica(t *testing.T, data, dbURL, redisURL, id string, env ...string) *proc {
	t.Helper()
	return start(t, data, append([]string{
		"REPORTIT_DATABASE_URL=" + dbURL,
		"REPORTIT_REDIS_URL=" + redisURL,
		"REPORTIT_REPLICA_ID=" + id,
		"REPORTIT_RATE_GLOBAL=100000-S",
	}, env...)...)
}

func runID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// answer is one POST /v1/reports as a client sees it.
type answer struct {
	code   int
	a      accepted
	policy string // RateLimit-Policy
	body   string
	err    error // transport error: no answer at all
}

// post submits report n of the test tag with the given Idempotency-Key to
// base. Retrying with the same key and body must give the same report.
func post(base, tok, tag string, n int, key string) answer {
	body := fmt.Sprintf(`{"url":"https://example.com/replicas-e2e/%s/%d","content_type":"page","category":"csam","country":"NL","client":{"name":"e2e","version":"1"}}`, tag, n)
	req, _ := http.NewRequest("POST", base+"/v1/reports", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	r, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	ans := answer{code: r.StatusCode, policy: r.Header.Get("RateLimit-Policy"), body: string(b)}
	if r.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(b, &ans.a); err != nil || ans.a.ID == "" || ans.a.Reference == "" || ans.a.Receipt == "" {
			ans.err = fmt.Errorf("202 without id, reference and receipt: %s", b)
		}
	}
	return ans
}

// quota is the reports policy's q= in a RateLimit-Policy header: the full
// limit when Redis decided, half of it when the in-process fallback did.
func quota(policy string) string {
	for _, m := range strings.Split(policy, ",") {
		m = strings.TrimSpace(m)
		if rest, ok := strings.CutPrefix(m, `"reports";`); ok {
			for _, p := range strings.Split(rest, ";") {
				if v, ok := strings.CutPrefix(p, "q="); ok {
					return v
				}
			}
		}
	}
	return ""
}

// 1. Two replicas share the queue; one is SIGKILLed mid-run and restarted
// under its replica id. Every acknowledged report reaches the portal once
// by id, and nothing reaches it that was never acknowledged.
func TestReplicasShareQueueAndSurviveSIGKILL(t *testing.T) {
	needRedis(t)
	n := 2000
	if testing.Short() {
		n = 400
	}
	dbURL := testDatabaseURL(t)
	data := t.TempDir()
	// Latency at the portal keeps deliveries in flight when the kill comes.
	s := startSim(t, "-latency", "20ms", "-jitter", "20ms")
	redisURL := "redis://" + localRedis + "/0"
	p1 := startReplica(t, data, dbURL, redisURL, "replica-1", s.env()...)
	p2 := startReplica(t, data, dbURL, redisURL, "replica-2", s.env()...)
	tok := p1.token(t)

	var bases [2]atomic.Pointer[string]
	bases[0].Store(&p1.base)
	bases[1].Store(&p2.base)
	tag := runID()

	var (
		mu       sync.Mutex
		acks     = make([]accepted, 0, n)
		byIndex  = make(map[int]string, n)
		errs     []string
		retries  int
		next     atomic.Int64
		ackCount atomic.Int64
		wg       sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				key := fmt.Sprintf("replicas-%s-%d", tag, i)
				deadline := time.Now().Add(60 * time.Second)
				// Alternate between the replicas; a request that got no
				// answer (its replica was killed) is sent again, with the
				// same key, to the other one, as a load balancer would.
				for attempt := 0; ; attempt++ {
					ans := post(*bases[(i+attempt)%2].Load(), tok, tag, i, key)
					if ans.err == nil && ans.code == http.StatusAccepted {
						mu.Lock()
						acks = append(acks, ans.a)
						byIndex[i] = ans.a.ID
						retries += attempt
						mu.Unlock()
						ackCount.Add(1)
						break
					}
					if ans.err == nil {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("report %d: %d %s", i, ans.code, ans.body))
						mu.Unlock()
						break
					}
					if time.Now().After(deadline) {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("report %d: no answer within 60 s: %v", i, ans.err))
						mu.Unlock()
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}

	// SIGKILL replica 2 mid-run, while requests and deliveries are in
	// flight; restart it under the same replica id.
	waitUntil(t, 60*time.Second, "40% of the reports acknowledged", func() bool { return ackCount.Load() >= int64(n*2/5) })
	p2.kill(t, syscall.SIGKILL)
	killedAt := ackCount.Load()
	atPortal := s.stats(t).Received
	if atPortal >= uint64(n) {
		t.Fatalf("all %d reports at the portal before the kill: nothing was in flight", n)
	}
	time.Sleep(300 * time.Millisecond)
	p2b := startReplica(t, data, dbURL, redisURL, "replica-2", s.env()...)
	bases[1].Store(&p2b.base)
	wg.Wait()

	if len(errs) > 0 {
		t.Fatalf("%d of %d reports not accepted; first: %s", len(errs), n, errs[0])
	}
	if len(acks) != n {
		t.Fatalf("%d acknowledgements for %d reports", len(acks), n)
	}
	ids := map[string]int{}
	for i, id := range byIndex {
		if j, dup := ids[id]; dup {
			t.Fatalf("reports %d and %d (distinct URLs and keys) got the same id %s", i, j, id)
		}
		ids[id] = i
	}

	waitUntil(t, 90*time.Second, fmt.Sprintf("the portal has all %d reports", n), func() bool {
		return s.stats(t).Received >= uint64(n)
	})
	p1.waitStatuses(t, acks, "delivered", 60*time.Second)

	// Every id at the portal once, every acknowledged id there, and none
	// that was never acknowledged.
	got := map[string]bool{}
	resends := 0
	for _, d := range s.received(t) {
		if got[d.ID] {
			t.Errorf("report %s listed twice by the portal: two distinct deliveries of one id", d.ID)
		}
		got[d.ID] = true
		resends += d.Times - 1
	}
	for _, a := range acks {
		if !got[a.ID] {
			t.Errorf("report %s (%s) got a 202 but never reached the portal", a.ID, a.Reference)
		}
	}
	for id := range got {
		if _, ok := ids[id]; !ok {
			t.Errorf("the portal received id %s, which no 202 named (a retry with the same Idempotency-Key made a second report?)", id)
		}
	}
	st := s.stats(t)
	if st.Conflicts != 0 || st.Evicted != 0 || st.RejectedSignature+st.RejectedTimestamp+st.RejectedPayload != 0 {
		t.Errorf("portal stats: %+v", st)
	}
	// A report is sent twice only when the killed replica had sent it
	// without recording so: at most its deliveries in flight (the intake
	// lane's concurrency is the outbox's worker count, server/delivery.go).
	if resends > outbox.DefaultWorkers {
		t.Errorf("%d resends after one SIGKILL; at most %d deliveries were in flight on the killed replica", resends, outbox.DefaultWorkers)
	}
	for _, p := range []*proc{p1, p2b} {
		m := p.metrics(t)
		if v := m.sum("reportit_delivery_attempts_total", `outcome="delivered"`); v == 0 {
			t.Errorf("replica %s delivered nothing: the queue is not shared", p.base)
		}
	}
	t.Logf("%d reports over two replicas; killed replica 2 at %d acks (%d at the portal); %d requests resent to the other replica; "+
		"all delivered, %d portal resends; restart log: %s",
		n, killedAt, atPortal, retries, resends, grepLines(p2b.stderr.String(), "lease"))
}

// 2. Two replicas sharing Redis admit no more than the per-installation
// limit together.
func TestReplicasShareRateLimit(t *testing.T) {
	needRedis(t)
	dbURL := testDatabaseURL(t)
	data := t.TempDir()
	redisURL := "redis://" + localRedis + "/0"
	reps := []*proc{
		startReplica(t, data, dbURL, redisURL, "replica-1", "REPORTIT_RATE_REPORTS=50-H"),
		startReplica(t, data, dbURL, redisURL, "replica-2", "REPORTIT_RATE_REPORTS=50-H"),
	}
	tok := reps[0].token(t)
	tag := runID()

	const n = 120
	var (
		mu      sync.Mutex
		codes   = map[int]int{}
		per     [2]int
		notFull []string
		wg      sync.WaitGroup
		next    atomic.Int64
	)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ans := post(reps[i%2].base, tok, tag, i, fmt.Sprintf("rl-%s-%d", tag, i))
				mu.Lock()
				if ans.err != nil {
					codes[-1]++
				} else {
					codes[ans.code]++
					if ans.code == http.StatusAccepted {
						per[i%2]++
					}
					if q := quota(ans.policy); q != "50" {
						notFull = append(notFull, fmt.Sprintf("%d: q=%q (%s)", ans.code, q, ans.policy))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if codes[http.StatusAccepted] > 50 {
		t.Errorf("%d reports admitted by the two replicas together (%d + %d), limit 50", codes[http.StatusAccepted], per[0], per[1])
	}
	if len(notFull) > 0 {
		t.Fatalf("%d decisions not made in Redis with the full limit (Redis hiccup?), e.g. %s", len(notFull), notFull[0])
	}
	if codes[http.StatusAccepted] != 50 || codes[http.StatusTooManyRequests] != n-50 || len(codes) != 2 {
		t.Errorf("answers %v; want 50 × 202 and %d × 429", codes, n-50)
	}
	if per[0] == 0 || per[1] == 0 {
		t.Errorf("one replica admitted nothing (%d, %d): the test did not alternate", per[0], per[1])
	}
	t.Logf("120 reports alternately: %d + %d admitted, %d refused", per[0], per[1], codes[http.StatusTooManyRequests])
}

// tcpProxy forwards connections to a target; closing it refuses new
// connections and cuts the open ones, as a stopped Redis would.
type tcpProxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.open(t)
	t.Cleanup(func() { p.close(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) open(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	// The address of the first listener is reused: the replicas know it.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("proxy listen %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *tcpProxy) serve(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, u) {
		c.Close()
		u.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// close stops listening (connections are refused) and cuts every open
// connection.
func (p *tcpProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// 3. Redis goes away mid-run: the documented policy holds (each replica
// limits in-process at half the rate; no 5xx, reports still accepted),
// and once Redis is back the replicas count there together again.
func TestRedisDownMidRun(t *testing.T) {
	needRedis(t)
	dbURL := testDatabaseURL(t)
	data := t.TempDir()
	px := newTCPProxy(t, localRedis)
	redisURL := "redis://" + px.addr + "/0"
	reps := []*proc{
		startReplica(t, data, dbURL, redisURL, "replica-1", "REPORTIT_RATE_REPORTS=40-H"),
		startReplica(t, data, dbURL, redisURL, "replica-2", "REPORTIT_RATE_REPORTS=40-H"),
	}
	tag := runID()
	seq := 0
	var fivexx []string
	// send posts report seq to replica r and checks it got an answer
	// below 500.
	send := func(r int, tok string) answer {
		t.Helper()
		seq++
		ans := post(reps[r].base, tok, tag, seq, fmt.Sprintf("rd-%s-%d", tag, seq))
		if ans.err != nil {
			t.Fatalf("replica %d gave no answer: %v", r+1, ans.err)
		}
		if ans.code >= 500 {
			fivexx = append(fivexx, fmt.Sprintf("replica %d: %d %s", r+1, ans.code, ans.body))
		}
		return ans
	}
	tokA := reps[0].token(t)
	tokB := reps[1].token(t)

	// Phase 1, Redis up: 10 reports by A, counted in Redis.
	for i := 0; i < 10; i++ {
		if ans := send(i%2, tokA); ans.code != http.StatusAccepted || quota(ans.policy) != "40" {
			t.Fatalf("phase 1, report %d: %d q=%s; want 202 decided in Redis (q=40)", i, ans.code, quota(ans.policy))
		}
	}

	// Phase 2, Redis down: each replica limits on its own at 40/2.
	px.close()
	var per [2]int
	codes := map[int]int{}
	for i := 0; i < 60; i++ {
		ans := send(i%2, tokA)
		codes[ans.code]++
		switch ans.code {
		case http.StatusAccepted:
			per[i%2]++
			if q := quota(ans.policy); q != "20" {
				t.Errorf("phase 2: 202 with q=%s; want the fallback's 20", q)
			}
		case http.StatusTooManyRequests:
		default:
			t.Errorf("phase 2: %d %s", ans.code, ans.body)
		}
	}
	if per != [2]int{20, 20} {
		t.Errorf("Redis down: replicas admitted %v of A's 60 reports; want 20 each (half the limit, in-process)", per)
	}
	// Reports are still accepted, new installations too.
	tokC := reps[1].token(t)
	for i := 0; i < 4; i++ {
		if ans := send(i%2, tokC); ans.code != http.StatusAccepted {
			t.Errorf("Redis down: a new installation's report got %d %s", ans.code, ans.body)
		}
	}

	// Operators see the outage: each replica counts its fallback decisions.
	for r := range reps {
		resp, err := client.Get(reps[r].base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !regexp.MustCompile(`(?m)^reportit_ratelimit_fallbacks_total\{policy="reports"\} [1-9]`).Match(body) {
			t.Errorf("replica %d: no fallback counted in /metrics", r+1)
		}
	}

	down := per

	// Phase 3, Redis back: once the limiter's cool-down ends, each
	// replica decides in Redis again (probed with B).
	px.open(t)
	for r := range reps {
		waitUntil(t, 20*time.Second, fmt.Sprintf("replica %d decides in Redis again", r+1), func() bool {
			ans := send(r, tokB)
			if quota(ans.policy) == "40" {
				return true
			}
			time.Sleep(400 * time.Millisecond)
			return false
		})
	}
	// A had 10 counted in Redis before the outage: 30 more together.
	per = [2]int{}
	for i := 0; i < 60; i++ {
		ans := send(i%2, tokA)
		if q := quota(ans.policy); q != "40" {
			t.Errorf("phase 3: %d with q=%s; want decisions in Redis (q=40)", ans.code, q)
		}
		switch ans.code {
		case http.StatusAccepted:
			per[i%2]++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("phase 3: %d %s", ans.code, ans.body)
		}
	}
	if per[0]+per[1] != 30 {
		t.Errorf("Redis back: replicas admitted %d + %d of A's reports; want 30 together (40 in Redis, 10 used before the outage)", per[0], per[1])
	}
	if len(fivexx) > 0 {
		t.Errorf("%d answers 5xx, e.g. %s", len(fivexx), fivexx[0])
	}
	t.Logf("%d requests; Redis down: %v admitted of 60 (%v); Redis back: %v admitted of 60", seq, down, codes, per)
}
