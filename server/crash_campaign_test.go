package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver the store uses, for the checks on the file

	"github.com/reportit/reportit/internal/intakesim"
)

// The crash campaign (issue 7, "acknowledged means kept"): under steady
// load from clients that behave like the extension, the real server
// (SQLite, pushing to intake-sim) is killed with SIGKILL again and again,
// at random moments, and restarted on the same data dir. Afterwards every
// report that got a 202 must be stored, answerable by its receipt and
// delivered, under the one id its 202 named; the database must be sound.
//
//	REPORTIT_CRASH_KILLS  number of kills (default 20; the full round is 200)
//	REPORTIT_CRASH_SEED   seed of the kill schedule (default random, logged)
//
// Full round:
//
//	REPORTIT_CRASH_KILLS=200 go test -run TestCrashCampaign -count=1 -timeout 30m ./server/

// Where a kill lands.
const (
	// crashPhaseStartup: 0–25 ms after the process was started, before or
	// around the ready line (secret, keys, migrations, lease release).
	crashPhaseStartup = "startup"
	// crashPhaseJustReady: 0–20 ms after the ready line, while the backlog of the
	// previous run is claimed and the clients' retries pour in.
	crashPhaseJustReady = "just_ready"
	// crashPhaseIntake: 50–1200 ms after ready, under steady intake.
	crashPhaseIntake = "intake"
	// crashPhaseDelivery: 0–30 ms after the portal saw a delivery attempt from
	// this process, so that pushes are in flight.
	crashPhaseDelivery = "delivery"
)

var crashPhases = []struct {
	name   string
	weight float64
}{{crashPhaseStartup, 0.2}, {crashPhaseJustReady, 0.2}, {crashPhaseIntake, 0.35}, {crashPhaseDelivery, 0.25}}

func crashPickPhase(rng *rand.Rand) string {
	f := rng.Float64()
	for _, p := range crashPhases {
		if f < p.weight {
			return p.name
		}
		f -= p.weight
	}
	return crashPhases[len(crashPhases)-1].name
}

func crashEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number >= 0", name, v)
	}
	return n
}

// crashKill is one kill of the campaign.
type crashKill struct {
	phase      string
	at         time.Time
	afterReady bool  // the ready line had been printed
	posts      int64 // client requests in flight at the kill
}

func TestCrashCampaign(t *testing.T) {
	kills := crashEnvInt(t, "REPORTIT_CRASH_KILLS", 20)
	if testing.Short() && os.Getenv("REPORTIT_CRASH_KILLS") == "" {
		kills = 5
	}
	seed := rand.Uint64() >> 1
	if v := os.Getenv("REPORTIT_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("REPORTIT_CRASH_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("crash campaign: %d kills, seed %d (REPORTIT_CRASH_SEED=%d repeats the schedule)", kills, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	began := time.Now()

	s := startSim(t, "-latency", "15ms", "-jitter", "30ms")
	data := t.TempDir()
	addr := crashAddr(t)
	env := func() []string { return append(s.env(), "REPORTIT_ADDR="+addr) }

	c := newCrashLoad(t, seed)
	defer c.abortAll()
	c.base.Store(crashPtr("http://" + addr))
	const workers = 8
	c.startWorkers(workers)

	var (
		record   []crashKill
		leases   int // jobs whose lease a restart released
		restarts int
	)
	for k := 0; k < kills; k++ {
		phase := crashPickPhase(rng)
		if k == 0 {
			phase = crashPhaseStartup // the first start, on an empty data dir
		}
		lp := crashLaunch(t, data, env())
		restarts++
		kr := crashKill{phase: phase}
		readyBy := func(d time.Duration) bool {
			select {
			case base := <-lp.ready:
				c.base.Store(crashPtr(base))
				kr.afterReady = true
				return true
			case err := <-lp.done:
				lp.exited(err)
				t.Fatalf("kill %d (%s): the server exited by itself before it was ready: %v; stderr: %s", k+1, phase, err, tail(lp.stderr.String(), 3000))
			case <-time.After(d):
			}
			return false
		}
		switch phase {
		case crashPhaseStartup:
			delay := time.Duration(rng.Int64N(int64(25 * time.Millisecond)))
			readyBy(delay)
		default:
			if !readyBy(30 * time.Second) {
				t.Fatalf("kill %d (%s): server not ready within 30 s; stderr: %s", k+1, phase, tail(lp.stderr.String(), 3000))
			}
			var wait time.Duration
			switch phase {
			case crashPhaseJustReady:
				wait = time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
			case crashPhaseIntake:
				wait = 50*time.Millisecond + time.Duration(rng.Int64N(int64(1150*time.Millisecond)))
			case crashPhaseDelivery:
				// Wait until this process has pushed something.
				before := s.stats(t).Attempts
				deadline := time.Now().Add(10 * time.Second)
				for s.stats(t).Attempts == before && time.Now().Before(deadline) {
					time.Sleep(2 * time.Millisecond)
				}
				wait = time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
			}
			select {
			case err := <-lp.done:
				lp.exited(err)
				t.Fatalf("kill %d (%s): the server exited by itself: %v; stderr: %s", k+1, phase, err, tail(lp.stderr.String(), 3000))
			case <-time.After(wait):
			}
		}
		kr.posts = c.inflight.Load()
		kr.at = time.Now()
		if err := lp.sigkill(); err != nil {
			t.Fatalf("kill %d (%s): %v; stderr: %s", k+1, phase, err, tail(lp.stderr.String(), 3000))
		}
		if !kr.afterReady {
			// The ready line may have come just before the kill.
			select {
			case base := <-lp.ready:
				c.base.Store(crashPtr(base))
				kr.afterReady = true
			default:
			}
		}
		leases += crashReleasedLeases(lp.stderr.String())
		record = append(record, kr)
		// Down for a moment: the clients meet refused connections.
		time.Sleep(time.Duration(rng.Int64N(int64(150 * time.Millisecond))))
	}
	campaignDone := time.Now()

	// The last start: no more kills. The clients finish the report each
	// has under way (retrying it until its 202) and stop.
	lp := crashLaunch(t, data, env())
	restarts++
	select {
	case base := <-lp.ready:
		c.base.Store(crashPtr(base))
	case err := <-lp.done:
		lp.exited(err)
		t.Fatalf("final start: exited: %v; stderr: %s", err, tail(lp.stderr.String(), 3000))
	case <-time.After(30 * time.Second):
		t.Fatalf("final start: not ready; stderr: %s", tail(lp.stderr.String(), 3000))
	}
	p := lp.proc(*c.base.Load())
	c.stopWorkers(60 * time.Second)
	reports, errs := c.results()
	for i, e := range errs {
		if i == 20 {
			t.Errorf("… %d client errors in all", len(errs))
			break
		}
		t.Errorf("client: %s", e)
	}
	if len(reports) == 0 {
		t.Fatal("no report was acknowledged")
	}
	leases += crashReleasedLeases(lp.stderr.String())

	// (a) and (d): every 202 is stored, answerable by its reference and
	// receipt, and delivered.
	acks := make([]accepted, len(reports))
	for i, r := range reports {
		acks[i] = r.acc
	}
	waitUntil(t, 180*time.Second, fmt.Sprintf("the portal has all %d acknowledged reports", len(acks)), func() bool {
		return s.stats(t).Received >= uint64(len(acks))
	})
	p.waitStatuses(t, acks, "delivered", 120*time.Second)
	drained := time.Now()

	// (c) One client report, one id: at the portal, by the marker in its
	// comment; and that id is the one its 202 named.
	deliveries := s.received(t)
	byMarker := map[string][]string{}
	redeliveries, redelivered := 0, 0
	for _, d := range deliveries {
		var pl struct {
			ID      string `json:"id"`
			Comment string `json:"comment"`
		}
		if err := json.Unmarshal(d.Payload, &pl); err != nil || pl.ID != d.ID {
			t.Errorf("portal delivery %s: payload id %q, %v", d.ID, pl.ID, err)
			continue
		}
		m := crashMarkerOf(pl.Comment)
		byMarker[m] = append(byMarker[m], d.ID)
		if d.Times > 1 {
			redeliveries += d.Times - 1
			redelivered++
		}
	}
	want := map[string]bool{}
	for _, r := range reports {
		want[r.marker] = true
		ids := byMarker[r.marker]
		switch {
		case len(ids) == 0:
			t.Errorf("report %s (%s, key %s) got a 202 but is not at the portal", r.acc.ID, r.acc.Reference, r.key)
		case len(ids) > 1:
			t.Errorf("client report %s reached the portal under %d ids %v: one report delivered as several", r.key, len(ids), ids)
		case ids[0] != r.acc.ID:
			t.Errorf("client report %s: 202 named id %s, the portal has it as %s", r.key, r.acc.ID, ids[0])
		}
	}
	for m, ids := range byMarker {
		if !want[m] {
			t.Errorf("the portal has %v (marker %q), which no client got a 202 for", ids, m)
		}
	}
	st := s.stats(t)
	if st.Duplicates != uint64(redeliveries) || st.Received != uint64(len(deliveries)) {
		t.Errorf("portal stats (received %d, duplicates %d) disagree with /received (%d, %d)", st.Received, st.Duplicates, len(deliveries), redeliveries)
	}
	if st.Conflicts != 0 {
		t.Errorf("%d redeliveries carried another body than the first delivery of their id", st.Conflicts)
	}
	if st.RejectedSignature+st.RejectedTimestamp+st.RejectedPayload != 0 || st.Evicted != 0 || st.AttemptsEvicted != 0 {
		t.Errorf("portal rejected or dropped deliveries: %+v", st)
	}
	var m metrics
	waitUntil(t, 15*time.Second, "queue depth 0", func() bool {
		m = p.metrics(t)
		return m.has("reportit_delivery_queue_depth") && m.sum("reportit_delivery_queue_depth") == 0
	})
	if v := m.sum("reportit_delivery_dead_letters"); v != 0 {
		t.Errorf("%v dead letters", v)
	}

	// Deliveries in flight at each delivery-phase kill, from the portal's
	// attempt log: the attempt arrived before the kill and ended after it.
	attempts := simAttemptLog(t, s)
	inFlightKills, inFlight := 0, 0
	for _, kr := range record {
		n := 0
		for _, a := range attempts {
			if !a.At.After(kr.at) && a.AnsweredAt.After(kr.at) {
				n++
			}
		}
		inFlight += n
		if n > 0 {
			inFlightKills++
		}
	}

	// (b) The database, after one more SIGKILL (its WAL not checkpointed):
	// sound, and holding exactly the acknowledged reports, each delivered.
	if err := lp.sigkill(); err != nil {
		t.Fatal(err)
	}
	crashCheckDatabase(t, filepath.Join(data, "reportit.db"), reports)

	// Figures.
	byPhase := map[string]int{}
	beforeReady, posts, postKills := 0, int64(0), 0
	for _, kr := range record {
		byPhase[kr.phase]++
		if !kr.afterReady {
			beforeReady++
		}
		posts += kr.posts
		if kr.posts > 0 {
			postKills++
		}
	}
	retries, replays, maxTries := 0, 0, 0
	for _, r := range reports {
		retries += r.tries - 1
		maxTries = max(maxTries, r.tries)
		if r.replayed {
			replays++
		}
	}
	t.Logf("kills: %d (startup %d, of which %d before the ready line; just_ready %d; intake %d; delivery %d); restarts %d",
		len(record), byPhase[crashPhaseStartup], beforeReady, byPhase[crashPhaseJustReady], byPhase[crashPhaseIntake], byPhase[crashPhaseDelivery], restarts)
	t.Logf("kills with client requests in flight: %d (%d requests cut in all); kills with pushes in flight: %d (%d pushes cut)",
		postKills, posts, inFlightKills, inFlight)
	t.Logf("reports: %d acknowledged by %d clients; %d client retries (max %d tries for one report); %d 202s were replays of a report stored before its answer was lost; %d client requests in all",
		len(reports), workers, retries, maxTries, replays, c.posts.Load())
	t.Logf("portal: %d reports, each under one id; %d redeliveries of an id it had (%d ids), %d attempts in all; %d jobs' leases released at restarts",
		len(deliveries), redeliveries, redelivered, st.Attempts, leases)
	t.Logf("time: campaign %s, drained %s after it, %s in all",
		campaignDone.Sub(began).Round(time.Millisecond), drained.Sub(campaignDone).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// crashMarkerOf finds the client's marker in a delivered comment.
var crashMarkerRe = regexp.MustCompile(`\[crash-marker ([^\]]+)\]`)

func crashMarkerOf(comment string) string {
	if m := crashMarkerRe.FindStringSubmatch(comment); m != nil {
		return m[1]
	}
	return "(none: " + comment + ")"
}

var crashLeasesRe = regexp.MustCompile(`"msg":"released delivery leases of a previous run","count":(\d+)`)

func crashReleasedLeases(log string) int {
	n := 0
	for _, m := range crashLeasesRe.FindAllStringSubmatch(log, -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

// crashAddr picks a fixed loopback address for every start, as the
// extension always calls the same one. The port is below the ephemeral
// range, so that no other test's outgoing connection or port-0 listener
// takes it while the server is down.
func crashAddr(t *testing.T) string {
	t.Helper()
	for i := 0; i < 50; i++ {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return ln.Addr().String()
		}
	}
	t.Fatal("no free port in 20000..31999")
	return ""
}

func crashPtr[T any](v T) *T { return &v }

// crashProc is a server process that may not be ready yet.
type crashProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	ready  chan string // the base URL, once printed
	done   chan error
	exit   error
	gone   bool
}

// crashLaunch starts the server without waiting for it. The process is
// killed at the test's end if it still runs.
func crashLaunch(t *testing.T, dataDir string, env []string) *crashProc {
	t.Helper()
	cmd := serveCmd(t, dataDir, nil, env...) // env's REPORTIT_ADDR wins: exec keeps the last of a name
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	l := &crashProc{cmd: cmd, stderr: &lockedBuffer{}, ready: make(chan string, 1), done: make(chan error, 1)}
	cmd.Stderr = l.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !l.gone {
			l.sigkill()
		}
	})
	go func() {
		br := bufio.NewReader(stdout)
		if line, err := br.ReadString('\n'); err == nil {
			l.ready <- strings.TrimSpace(strings.TrimPrefix(line, "reportit listening on "))
		}
		io.Copy(io.Discard, br)
		l.done <- cmd.Wait()
	}()
	return l
}

func (l *crashProc) exited(err error) { l.gone, l.exit = true, err }

// sigkill kills the process and waits for it. A process that had already
// exited by itself is an error.
func (l *crashProc) sigkill() error {
	if l.gone {
		return fmt.Errorf("already exited: %v", l.exit)
	}
	l.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case err := <-l.done:
		l.exited(err)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				return nil
			}
		}
		return fmt.Errorf("exited by itself before the kill: %v", err)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("did not exit within 30 s of SIGKILL")
	}
}

// proc gives the ready process, listening on base, the e2e helpers
// (view, waitStatuses, metrics).
func (l *crashProc) proc(base string) *proc {
	return &proc{cmd: l.cmd, base: base, stderr: l.stderr, done: l.done}
}

// crashReport is one report as a client sent it.
type crashReport struct {
	key, marker string
	acc         accepted
	tries       int
	replayed    bool
}

// crashLoad is the load: workers that each send reports one after another,
// like the extension: a report's body and Idempotency-Key are fixed when
// it is made, and it is sent again, unchanged, after a network error, 408,
// 425, 429 or 5xx, until a 202.
type crashLoad struct {
	t    *testing.T
	seed uint64
	base atomic.Pointer[string]
	http *http.Client
	// thinkMin and thinkSpread: a worker waits thinkMin plus up to
	// thinkSpread between reports.
	thinkMin, thinkSpread time.Duration
	stop                  chan struct{} // finish the report under way, start no other
	abort                 chan struct{} // give up at once
	once                  sync.Once
	wg                    sync.WaitGroup

	inflight, posts atomic.Int64

	mu      sync.Mutex
	reports []crashReport
	errs    []string
}

func newCrashLoad(t *testing.T, seed uint64) *crashLoad {
	return &crashLoad{
		t:    t,
		seed: seed,
		http: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
		},
		thinkMin:    2 * time.Millisecond,
		thinkSpread: 8 * time.Millisecond,
		stop:        make(chan struct{}),
		abort:       make(chan struct{}),
	}
}

func (c *crashLoad) startWorkers(n int) {
	for w := 0; w < n; w++ {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.worker(w) }()
	}
}

// stopWorkers lets each worker finish its report and waits for them.
func (c *crashLoad) stopWorkers(timeout time.Duration) {
	close(c.stop)
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		c.abortAll()
		<-done
		c.fail("the clients did not finish their last reports within %s", timeout)
	}
}

func (c *crashLoad) abortAll() {
	c.once.Do(func() { close(c.abort) })
	c.wg.Wait()
	c.http.CloseIdleConnections()
}

func (c *crashLoad) fail(format string, args ...any) {
	c.mu.Lock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *crashLoad) results() ([]crashReport, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]crashReport(nil), c.reports...), append([]string(nil), c.errs...)
}

// pause waits d, or less if the campaign is aborted; false then.
func (c *crashLoad) pause(d time.Duration) bool {
	select {
	case <-c.abort:
		return false
	case <-time.After(d):
		return true
	}
}

func (c *crashLoad) worker(w int) {
	rng := rand.New(rand.NewPCG(c.seed, uint64(w)+1))
	backoff := func() time.Duration {
		return 10*time.Millisecond + time.Duration(rng.Int64N(int64(40*time.Millisecond)))
	}
	tok := ""
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		case <-c.abort:
			return
		default:
		}
		key := fmt.Sprintf("crash-%d-%d-%d", c.seed, w, i)
		body := fmt.Sprintf(`{"url":"https://example.com/crash-campaign/%d/%d/%d","content_type":"page","category":"csam","country":"NL","comment":"seen while testing [crash-marker %s]","client":{"name":"crash-campaign","version":"1"}}`,
			c.seed, w, i, key)
		r := crashReport{key: key, marker: key}
		for {
			if tok == "" {
				if tok = c.installation(); tok == "" {
					if !c.pause(backoff()) {
						return
					}
					continue
				}
			}
			r.tries++
			status, hdr, b, err := c.post(tok, key, body)
			if err == nil && status == http.StatusAccepted {
				if json.Unmarshal(b, &r.acc) != nil || r.acc.ID == "" || r.acc.Reference == "" || r.acc.Receipt == "" {
					c.fail("report %s: 202 without id, reference and receipt: %s", key, b)
					break
				}
				r.replayed = hdr.Get("Idempotent-Replayed") == "true"
				c.mu.Lock()
				c.reports = append(c.reports, r)
				c.mu.Unlock()
				break
			}
			retry := err != nil || status == 408 || status == 425 || status == 429 || status >= 500
			if !retry {
				// 401 included: a new installation would make the retry a
				// new report (keys are per installation), so it is a
				// failure here; tokens live an hour.
				c.fail("report %s: status %d %s", key, status, b)
				break
			}
			wait := backoff()
			if ra, ok := crashRetryAfter(hdr); ok {
				wait = max(wait, min(ra, time.Second))
			}
			if !c.pause(wait) {
				return
			}
		}
		if !c.pause(c.thinkMin + time.Duration(rng.Int64N(int64(c.thinkSpread)+1))) {
			return
		}
	}
}

func crashRetryAfter(h http.Header) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// installation gets a token, "" if the server does not answer.
func (c *crashLoad) installation() string {
	r, err := c.http.Post(*c.base.Load()+"/v1/installations", "", nil)
	if err != nil {
		return ""
	}
	defer r.Body.Close()
	var v struct{ Token string }
	if r.StatusCode != http.StatusCreated || json.NewDecoder(r.Body).Decode(&v) != nil {
		return ""
	}
	return v.Token
}

func (c *crashLoad) post(tok, key, body string) (int, http.Header, []byte, error) {
	req, _ := http.NewRequest("POST", *c.base.Load()+"/v1/reports", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	c.inflight.Add(1)
	defer c.inflight.Add(-1)
	c.posts.Add(1)
	r, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, nil, nil, err // an answer cut off: as good as none
	}
	return r.StatusCode, r.Header, b, nil
}

// simAttemptLog pages through the portal's attempt log.
func simAttemptLog(t *testing.T, s *sim) []intakesim.Attempt {
	t.Helper()
	var all []intakesim.Attempt
	since := uint64(0)
	for {
		var page struct {
			Attempts  []intakesim.Attempt `json:"attempts"`
			NextSince uint64              `json:"next_since"`
			More      bool                `json:"more"`
		}
		getJSON(t, fmt.Sprintf("%s/attempts?since=%d&limit=10000", s.base, since), &page)
		all = append(all, page.Attempts...)
		if !page.More {
			return all
		}
		if page.NextSince <= since {
			t.Fatalf("/attempts: next_since %d does not advance past %d", page.NextSince, since)
		}
		since = page.NextSince
	}
}

// crashCheckDatabase opens the stopped server's database with the store's own
// driver and checks that it is sound and holds exactly the acknowledged
// reports, once each, each delivered with its job.
func crashCheckDatabase(t *testing.T, path string, reports []crashReport) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func(q string) []string {
		t.Helper()
		rs, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		var out []string
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.TrimSpace(fmt.Sprintln(vals...)))
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	if got := rows("PRAGMA integrity_check"); len(got) != 1 || got[0] != "ok" {
		t.Errorf("PRAGMA integrity_check: %v", got)
	}
	if got := rows("PRAGMA foreign_key_check"); len(got) != 0 {
		t.Errorf("PRAGMA foreign_key_check: %d violations, e.g. %v", len(got), got[0])
	}
	one := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	n := len(reports)
	if got := one("SELECT count(*) FROM reports"); got != n {
		t.Errorf("%d reports in the database, %d acknowledged: a retry stored a second report, or one is missing", got, n)
	}
	if got := one("SELECT count(*) FROM (SELECT url FROM reports GROUP BY url HAVING count(*) > 1)"); got != 0 {
		t.Errorf("%d URLs stored more than once (one client report under two ids)", got)
	}
	if got := one("SELECT count(*) FROM idempotency"); got != n {
		t.Errorf("%d idempotency records for %d reports", got, n)
	}
	if got := one("SELECT count(*) FROM deliveries WHERE state = 'delivered'"); got != n {
		t.Errorf("%d delivered jobs for %d reports: %v", got, n, rows("SELECT state, count(*) FROM deliveries GROUP BY state"))
	}
	if got := one("SELECT count(*) FROM reports WHERE status <> 'delivered' OR delivered_at IS NULL"); got != 0 {
		t.Errorf("%d reports not marked delivered", got)
	}
	ids := map[string]bool{}
	rs, err := db.Query("SELECT id FROM reports")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id string
		rs.Scan(&id)
		ids[id] = true
	}
	rs.Close()
	var missing []string
	for _, r := range reports {
		if !ids[r.acc.ID] {
			missing = append(missing, r.acc.ID)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d acknowledged reports not in the database, e.g. %v", len(missing), missing[0])
	}
	if !t.Failed() {
		t.Logf("database: integrity_check ok, foreign_key_check clean, %d reports, %d idempotency records, every job delivered", n, n)
	}
}
