package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/intakesim"
	"github.com/reportit/reportit/internal/webhook"
)

// End-to-end delivery tests: the real reportit binary delivers to the real
// intake simulator (reportit intake-sim), both as separate processes over
// loopback. They prove the delivery guarantees of issue 3: every report
// that got a 202 reaches its hotline, through portal faults, outages and a
// SIGKILL, and the operator tools and metrics work.
//
// Waits have generous deadlines and fail only when they pass; nothing
// asserts how long something took.

// Hotlines of the seeded directory the tests report to: NL goes to the
// intake portal (push), DE's default hotline is made a pull hotline.
const (
	pushHotline  = "nl-meldpunt-kinderporno"
	pullHotline  = "de-eco-beschwerdestelle"
	otherHotline = "de-fsm-beschwerdestelle"
)

// fastRetries shortens the retry schedule and the breaker's cool-down so
// that retries happen within a test's time; the defaults (15 s base, 30 s
// cool-down) are for production.
var fastRetries = []string{
	"REPORTIT_DELIVERY_BACKOFF_BASE=200ms",
	"REPORTIT_DELIVERY_BACKOFF_MAX=2s",
	"REPORTIT_DELIVERY_BREAKER_COOLDOWN=500ms",
}

// sim is a running intake simulator.
type sim struct {
	base    string // http://127.0.0.1:PORT
	intake  string // base + /intake
	secret  string
	cmd     *exec.Cmd
	done    chan error
	stopped bool
}

func startSim(t *testing.T, args ...string) *sim {
	t.Helper()
	return startSimAt(t, "127.0.0.1:0", webhook.NewSecret(), args...)
}

// startSimAt runs intake-sim on addr with secret, so that a portal stopped
// during a test can come back where the server expects it.
func startSimAt(t *testing.T, addr, secret string, args ...string) *sim {
	t.Helper()
	s := &sim{secret: secret, done: make(chan error, 1)}
	cmd := exec.Command(binary, append([]string{"intake-sim", "-addr", addr, "-secret", secret}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "intake-sim listening on ") {
		cmd.Process.Kill()
		t.Fatalf("intake-sim: no address line (%q, %v); stderr: %s", line, err, stderr.String())
	}
	s.intake = strings.TrimSpace(strings.TrimPrefix(line, "intake-sim listening on "))
	u, err := url.Parse(s.intake)
	if err != nil {
		t.Fatal(err)
	}
	s.base = u.Scheme + "://" + u.Host
	go func() { io.Copy(io.Discard, stdout); s.done <- cmd.Wait() }()
	t.Cleanup(s.stop)
	return s
}

// stop kills the portal process and waits for it; again, it does nothing.
func (s *sim) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.cmd.Process.Kill()
	<-s.done
}

// env is what a server needs to push to s, with fast retries.
func (s *sim) env() []string {
	return append([]string{"REPORTIT_INTAKE_URL=" + s.intake, "REPORTIT_INTAKE_SECRET=" + s.secret}, fastRetries...)
}

// setFaults merges body into the simulator's faults (POST /faults).
func (s *sim) setFaults(t *testing.T, body string) {
	t.Helper()
	if err := s.trySetFaults(body); err != nil {
		t.Fatal(err)
	}
}

func (s *sim) trySetFaults(body string) error {
	r, err := client.Post(s.base+"/faults", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		return fmt.Errorf("POST /faults %s: %d %s", body, r.StatusCode, b)
	}
	return nil
}

func (s *sim) clearFaults(t *testing.T) {
	t.Helper()
	req, _ := http.NewRequest("DELETE", s.base+"/faults", nil)
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("DELETE /faults: %d", r.StatusCode)
	}
}

func (s *sim) stats(t *testing.T) intakesim.Stats {
	t.Helper()
	var st intakesim.Stats
	getJSON(t, s.base+"/stats", &st)
	return st
}

// received pages through GET /received and returns every delivery kept.
func (s *sim) received(t *testing.T) []intakesim.Delivery {
	t.Helper()
	var all []intakesim.Delivery
	since := uint64(0)
	for {
		var page struct {
			Deliveries []intakesim.Delivery `json:"deliveries"`
			NextSince  uint64               `json:"next_since"`
			More       bool                 `json:"more"`
		}
		getJSON(t, fmt.Sprintf("%s/received?since=%d&limit=250", s.base, since), &page)
		all = append(all, page.Deliveries...)
		if !page.More {
			return all
		}
		if page.NextSince <= since {
			t.Fatalf("/received: next_since %d does not advance past %d", page.NextSince, since)
		}
		since = page.NextSince
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	r, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("GET %s: %d %s", u, r.StatusCode, b)
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// sendReport submits one report for country; URLs differ by n, so that
// no two reports of a test are duplicates of each other.
func (p *proc) sendReport(tok, country string, n int) (accepted, error) {
	body := fmt.Sprintf(`{"url":"https://example.com/delivery-e2e/%s/%d","content_type":"page","category":"csam","country":%q,"client":{"name":"e2e","version":"1"}}`,
		strings.ToLower(country), n, country)
	req, _ := http.NewRequest("POST", p.base+"/v1/reports", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("delivery-e2e-%s-%d-%d", country, n, time.Now().UnixNano()))
	r, err := client.Do(req)
	if err != nil {
		return accepted{}, err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	var a accepted
	if r.StatusCode != http.StatusAccepted {
		return accepted{}, fmt.Errorf("status %d: %s", r.StatusCode, b)
	}
	if err := json.Unmarshal(b, &a); err != nil || a.ID == "" || a.Reference == "" || a.Receipt == "" {
		return accepted{}, fmt.Errorf("202 without id, reference and receipt: %s", b)
	}
	return a, nil
}

// submitAll sends n reports (numbered from first) from several workers;
// every one must be accepted: the server is up and the limits are high.
func (p *proc) submitAll(t *testing.T, tok, country string, first, n int) []accepted {
	t.Helper()
	var (
		mu   sync.Mutex
		acks = make([]accepted, 0, n)
		errs []error
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				a, err := p.sendReport(tok, country, i)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					acks = append(acks, a)
				}
				mu.Unlock()
			}
		}()
	}
	for i := first; i < first+n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d reports not accepted; first: %v", len(errs), n, errs[0])
	}
	seen := map[string]bool{}
	for _, a := range acks {
		if seen[a.ID] {
			t.Fatalf("two 202s with report id %s: the test's URLs should not be duplicates", a.ID)
		}
		seen[a.ID] = true
	}
	return acks
}

// statusView is the answer of GET /v1/reports/{reference}.
type statusView struct {
	Reference string `json:"reference"`
	Status    string `json:"status"`
	Hotline   struct {
		ID        string `json:"id"`
		ReportURL string `json:"report_url"`
	} `json:"hotline"`
	DeliveredAt *time.Time `json:"delivered_at"`
}

func (p *proc) view(t *testing.T, a accepted) statusView {
	t.Helper()
	req, _ := http.NewRequest("GET", p.base+"/v1/reports/"+a.Reference, nil)
	req.Header.Set("Report-Receipt", a.Receipt)
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var v statusView
	if r.StatusCode != 200 {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("status of %s: %d %s", a.Reference, r.StatusCode, b)
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// waitStatuses waits until every report in acks has status want. A
// report in another final state fails at once.
func (p *proc) waitStatuses(t *testing.T, acks []accepted, want string, timeout time.Duration) {
	t.Helper()
	pending := acks
	deadline := time.Now().Add(timeout)
	for {
		var still []accepted
		for _, a := range pending {
			v := p.view(t, a)
			switch {
			case v.Status == want:
				if want == "delivered" && v.DeliveredAt == nil {
					t.Fatalf("%s is delivered without delivered_at", a.Reference)
				}
			case v.Status == "accepted":
				still = append(still, a)
			default:
				t.Fatalf("%s: status %q, want %q", a.Reference, v.Status, want)
			}
		}
		if pending = still; len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d reports still not %s after %s (e.g. %s); server log tail: %s",
				len(pending), len(acks), want, timeout, pending[0].Reference, tail(p.stderr.String(), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitUntil polls cond until it holds, failing after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// metrics scrapes GET /metrics: series ("name{labels}") to value.
type metrics map[string]float64

var seriesName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)

func (p *proc) metrics(t *testing.T) metrics {
	t.Helper()
	r, err := client.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", r.StatusCode)
	}
	m := metrics{}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("metrics line %q", line)
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// has reports whether a series of the metric name exists.
func (m metrics) has(name string) bool {
	for s := range m {
		if seriesName.FindString(s) == name {
			return true
		}
	}
	return false
}

// sum adds the series of name whose labels include every one of labels
// (each `key="value"`).
func (m metrics) sum(name string, labels ...string) float64 {
	total := 0.0
next:
	for s, v := range m {
		if seriesName.FindString(s) != name {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(s, l) {
				continue next
			}
		}
		total += v
	}
	return total
}

// checkReceived proves the portal got exactly the reports in acks: each
// id listed once, no id missing, none that we never acknowledged, and
// every resend byte-identical. It returns the deliveries by id.
func checkReceived(t *testing.T, s *sim, acks []accepted) map[string]intakesim.Delivery {
	t.Helper()
	got := map[string]intakesim.Delivery{}
	resends := 0
	for _, d := range s.received(t) {
		if _, dup := got[d.ID]; dup {
			t.Errorf("report %s listed twice by the portal: two distinct deliveries of one id", d.ID)
		}
		if d.Times < 1 {
			t.Errorf("report %s: times_delivered %d", d.ID, d.Times)
		}
		resends += d.Times - 1
		got[d.ID] = d
	}
	want := map[string]bool{}
	for _, a := range acks {
		want[a.ID] = true
		if _, ok := got[a.ID]; !ok {
			t.Errorf("report %s (%s) got a 202 but never reached the portal", a.ID, a.Reference)
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("the portal received id %s, which is no report we acknowledged (a new id per attempt?)", id)
		}
	}
	st := s.stats(t)
	if st.Received != uint64(len(got)) || st.Duplicates != uint64(resends) {
		t.Errorf("portal stats (received %d, duplicates %d) disagree with /received (%d ids, %d resends)",
			st.Received, st.Duplicates, len(got), resends)
	}
	if st.Conflicts != 0 {
		t.Errorf("%d resends carried another body than the first delivery of their id", st.Conflicts)
	}
	if st.RejectedSignature+st.RejectedTimestamp+st.RejectedPayload != 0 {
		t.Errorf("portal rejected deliveries: %+v", st)
	}
	if st.Evicted != 0 {
		t.Fatalf("portal evicted %d deliveries: the checks above are incomplete", st.Evicted)
	}
	return got
}

// 1. 1,000 reports pushed while the portal fails 30% of requests with
// mixed 503/429 (Retry-After 1 s), adds latency and cuts some connections
// after storing the report.
func TestDeliveryThroughFaultyPortal(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	s := startSim(t, "-failure-rate", "0.3", "-retry-after", "1s", "-latency", "20ms", "-jitter", "20ms", "-reset-rate", "0.05")
	p := start(t, t.TempDir(), s.env()...)
	tok := p.token(t)
	acks := p.submitAll(t, tok, "NL", 0, n)

	waitUntil(t, 240*time.Second, fmt.Sprintf("the portal has all %d reports", n), func() bool {
		return s.stats(t).Received >= uint64(n)
	})
	p.waitStatuses(t, acks, "delivered", 120*time.Second)
	checkReceived(t, s, acks)

	st := s.stats(t)
	if st.Faults.Failures[503] == 0 || st.Faults.Failures[429] == 0 || st.Faults.Resets == 0 {
		t.Fatalf("the faults did not happen, so this test proved nothing: %+v", st.Faults)
	}
	// A report is sent again only when the sender could not know the
	// portal had it: here, only after a cut connection.
	if st.Duplicates > st.Faults.Resets {
		t.Errorf("%d resends of reports the portal had, but only %d cut connections: delivered reports are sent again", st.Duplicates, st.Faults.Resets)
	}

	// 6. The delivery metrics.
	var m metrics
	waitUntil(t, 10*time.Second, "queue depth 0", func() bool {
		m = p.metrics(t)
		return m.has("reportit_delivery_queue_depth") && m.sum("reportit_delivery_queue_depth") == 0
	})
	for _, name := range []string{"reportit_delivery_queue_depth", "reportit_delivery_oldest_undelivered_seconds",
		"reportit_delivery_dead_letters", "reportit_delivery_attempts_total", "reportit_delivery_failures_total",
		"reportit_delivery_duration_seconds_count"} {
		if !m.has(name) {
			t.Errorf("metric %s missing", name)
		}
	}
	hl := `hotline="` + pushHotline + `"`
	if got := m.sum("reportit_delivery_attempts_total", hl, `outcome="delivered"`); got != float64(n) {
		t.Errorf("attempts with outcome delivered: %v, want exactly %d (one per report)", got, n)
	}
	if m.sum("reportit_delivery_attempts_total", hl, `outcome="retry"`) == 0 {
		t.Error("no attempt counted with outcome retry")
	}
	for _, reason := range []string{"http_5xx", "http_429", "reset"} {
		if m.sum("reportit_delivery_failures_total", hl, `reason="`+reason+`"`) == 0 {
			t.Errorf("no failure counted with reason %s", reason)
		}
	}
	if v := m.sum("reportit_delivery_oldest_undelivered_seconds"); v != 0 {
		t.Errorf("oldest undelivered %v s with nothing undelivered", v)
	}
	if v := m.sum("reportit_delivery_dead_letters"); v != 0 {
		t.Errorf("%v dead letters", v)
	}
	t.Logf("%d reports delivered; portal: %d injected failures %v, %d resets, %d resends; attempts: %v",
		n, st.Faults.Injected, st.Faults.Failures, st.Faults.Resets, st.Duplicates,
		m.sum("reportit_delivery_attempts_total"))
}

// 2. The portal refuses connections, then answers 503 for a while, then
// comes back: the backlog drains with no one's help.
func TestDeliveryBacklogDrainsAfterOutage(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 40
	}
	s := startSim(t, "-latency", "20ms")
	p := start(t, t.TempDir(), s.env()...)
	tok := p.token(t)

	s.setFaults(t, `{"down_s":5,"down_mode":"refuse"}`)
	acks := p.submitAll(t, tok, "NL", 0, n)
	depth := p.metrics(t).sum("reportit_delivery_queue_depth")

	// The portal listens again when the refusal ends; make it answer 503
	// at once for a further period.
	waitUntil(t, 30*time.Second, "the portal listens again", func() bool {
		return s.trySetFaults(`{"down_s":3,"down_mode":"503"}`) == nil
	})
	// The queue holds whatever the portal does not have yet.
	if rec := s.stats(t).Received; depth < float64(n)-float64(rec) {
		t.Fatalf("queue depth %v during the outage, but the portal has only %d of %d reports", depth, rec, n)
	}
	m := p.metrics(t)
	if rec := s.stats(t).Received; rec < uint64(n) && m.sum("reportit_delivery_oldest_undelivered_seconds") <= 0 {
		t.Errorf("oldest undelivered age 0 with %d reports undelivered", uint64(n)-rec)
	}

	p.waitStatuses(t, acks, "delivered", 120*time.Second)
	checkReceived(t, s, acks)
	waitUntil(t, 10*time.Second, "queue depth and oldest age back to 0", func() bool {
		m = p.metrics(t)
		return m.has("reportit_delivery_queue_depth") && m.sum("reportit_delivery_queue_depth") == 0 &&
			m.sum("reportit_delivery_oldest_undelivered_seconds") == 0
	})
	hl := `hotline="` + pushHotline + `"`
	if m.sum("reportit_delivery_failures_total", hl, `reason="refused"`)+m.sum("reportit_delivery_failures_total", hl, `reason="reset"`) == 0 {
		t.Errorf("no delivery failed while the portal refused connections")
	}
	if s.stats(t).Faults.Down == 0 || m.sum("reportit_delivery_failures_total", hl, `reason="http_5xx"`) == 0 {
		t.Errorf("no delivery met the 503 period")
	}
	t.Logf("%d reports drained after the outage; depth during it %v; failures refused %v, reset %v, 5xx %v, breaker_open %v",
		n, depth, m.sum("reportit_delivery_failures_total", hl, `reason="refused"`), m.sum("reportit_delivery_failures_total", hl, `reason="reset"`),
		m.sum("reportit_delivery_failures_total", hl, `reason="http_5xx"`), m.sum("reportit_delivery_failures_total", hl, `reason="breaker_open"`))
}

// 3. SIGKILL while deliveries are in flight; the restarted server on the
// same data dir delivers everything.
func TestDeliverySurvivesSIGKILL(t *testing.T) {
	n := 120
	if testing.Short() {
		n = 60
	}
	data := t.TempDir()
	s := startSim(t, "-latency", "100ms", "-jitter", "100ms")
	p := start(t, data, s.env()...)
	tok := p.token(t)
	acks := p.submitAll(t, tok, "NL", 0, n)

	waitUntil(t, 60*time.Second, "deliveries under way", func() bool { return s.stats(t).Received >= 10 })
	p.kill(t, syscall.SIGKILL)
	before := s.stats(t).Received
	if before >= uint64(n) {
		t.Fatalf("all %d reports delivered before the kill: nothing was in flight", n)
	}

	p2 := start(t, data, s.env()...)
	p2.waitStatuses(t, acks, "delivered", 120*time.Second)
	checkReceived(t, s, acks)
	st := s.stats(t)
	t.Logf("killed with %d of %d reports at the portal; after restart all delivered (%d resends); restart log: %s",
		before, n, st.Duplicates, grepLines(p2.stderr.String(), "released delivery leases"))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// 4. With no channel for the hotline, the reporter is sent to its form.
func TestDeliveryUseHotlineFormWithoutIntake(t *testing.T) {
	p := start(t, t.TempDir(), fastRetries...)
	tok := p.token(t)
	acks := p.submitAll(t, tok, "NL", 0, 3)
	p.waitStatuses(t, acks, "use_hotline_form", 30*time.Second)

	var dir struct {
		Hotlines []struct {
			ID        string `json:"id"`
			ReportURL string `json:"report_url"`
		} `json:"hotlines"`
	}
	getJSON(t, p.base+"/v1/hotlines", &dir)
	want := ""
	for _, h := range dir.Hotlines {
		if h.ID == pushHotline {
			want = h.ReportURL
		}
	}
	if want == "" {
		t.Fatalf("no report_url for %s in GET /v1/hotlines", pushHotline)
	}
	for _, a := range acks {
		v := p.view(t, a)
		if v.Hotline.ID != pushHotline || v.Hotline.ReportURL != want {
			t.Errorf("%s: hotline %q report_url %q, want %q %q", a.Reference, v.Hotline.ID, v.Hotline.ReportURL, pushHotline, want)
		}
	}
	m := p.metrics(t)
	if v := m.sum("reportit_delivery_queue_depth"); v != 0 {
		t.Errorf("queue depth %v: use-the-form reports should leave the queue", v)
	}
	if v := m.sum("reportit_delivery_attempts_total", `outcome="use_form"`); v != float64(len(acks)) {
		t.Errorf("attempts with outcome use_form: %v, want %d", v, len(acks))
	}
}

// hotlineClientCreate runs "reportit hotline-client create" and returns
// the client id and secret it prints.
func hotlineClientCreate(t *testing.T, data, hotlineID string) (id, secret string) {
	t.Helper()
	out := runCommand(t, "hotline-client", "create", "-data-dir", data, hotlineID, "e2e "+hotlineID)
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		switch v = strings.TrimSpace(v); {
		case ok && k == "client_id":
			id = v
		case ok && k == "client_secret":
			secret = v
		}
	}
	if id == "" || secret == "" {
		t.Fatalf("hotline-client create printed no client_id/client_secret: %s", out)
	}
	return id, secret
}

func runCommand(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reportit %s: %v; stderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (p *proc) hotlineToken(t *testing.T, id, secret string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", p.base+"/v1/hotline/token", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth(id, secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || r.StatusCode != 200 || v.AccessToken == "" || v.TokenType != "Bearer" {
		t.Fatalf("hotline token: %d %+v %v", r.StatusCode, v, err)
	}
	return v.AccessToken
}

type pulled struct {
	ID        string     `json:"id"`
	Reference string     `json:"reference"`
	Hotline   string     `json:"hotline"`
	AckedAt   *time.Time `json:"acked_at"`
	HotlineRe string     `json:"hotline_reference"`
}

// pullAll lists every report for the token's hotline, limit per page.
func (p *proc) pullAll(t *testing.T, tok string, limit int) []pulled {
	t.Helper()
	var all []pulled
	after := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pull: the cursor never reaches the end")
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/hotline/reports?limit=%d&after=%s", p.base, limit, url.QueryEscape(after)), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Reports []pulled `json:"reports"`
			Next    string   `json:"next"`
		}
		err = json.NewDecoder(r.Body).Decode(&page)
		r.Body.Close()
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("pull: %d %v", r.StatusCode, err)
		}
		if len(page.Reports) > limit {
			t.Fatalf("pull: %d reports in a page of %d", len(page.Reports), limit)
		}
		all = append(all, page.Reports...)
		if len(page.Reports) == 0 {
			if page.Next != after {
				t.Fatalf("pull: an empty page moved the cursor from %q to %q", after, page.Next)
			}
			return all
		}
		after = page.Next
	}
}

func (p *proc) ack(tok, id, reference string) int {
	req, _ := http.NewRequest("POST", p.base+"/v1/hotline/reports/"+url.PathEscape(id)+"/ack",
		strings.NewReader(fmt.Sprintf(`{"reference":%q}`, reference)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	r, err := client.Do(req)
	if err != nil {
		return 0
	}
	r.Body.Close()
	return r.StatusCode
}

// 5. A pull hotline's reports are not pushed; its client lists and
// acknowledges them, and they become delivered. Another hotline's client
// sees none of them.
func TestPullHotlineListsAndAcknowledges(t *testing.T) {
	data := t.TempDir()
	s := startSim(t)
	p := start(t, data, append(s.env(), "REPORTIT_PULL_HOTLINES="+pullHotline)...)
	tok := p.token(t)
	pullAcks := p.submitAll(t, tok, "DE", 0, 7)
	pushAcks := p.submitAll(t, tok, "NL", 100, 3)
	for _, a := range pullAcks {
		if v := p.view(t, a); v.Hotline.ID != pullHotline {
			t.Fatalf("a DE report went to %s, not %s: the test's routing assumption is wrong", v.Hotline.ID, pullHotline)
		}
	}
	p.waitStatuses(t, pushAcks, "delivered", 30*time.Second)
	// Depth 0: the runner has seen every job, the pull ones too (they
	// wait for the hotline outside the queue).
	waitUntil(t, 30*time.Second, "queue depth 0", func() bool {
		m := p.metrics(t)
		return m.has("reportit_delivery_queue_depth") && m.sum("reportit_delivery_queue_depth") == 0
	})
	checkReceived(t, s, pushAcks) // the pushed ones, and nothing else
	for _, a := range pullAcks {
		if v := p.view(t, a); v.Status != "accepted" {
			t.Errorf("%s: status %q before the hotline acknowledged it", a.Reference, v.Status)
		}
	}

	id, secret := hotlineClientCreate(t, data, pullHotline)
	htok := p.hotlineToken(t, id, secret)
	list := p.pullAll(t, htok, 3) // three pages and an empty one
	want := map[string]accepted{}
	for _, a := range pullAcks {
		want[a.ID] = a
	}
	if len(list) != len(pullAcks) {
		t.Errorf("pulled %d reports, want %d", len(list), len(pullAcks))
	}
	for _, r := range list {
		if _, ok := want[r.ID]; !ok || r.Hotline != pullHotline {
			t.Errorf("pulled report %s of hotline %q, not one of ours for %s", r.ID, r.Hotline, pullHotline)
		}
		if r.AckedAt != nil {
			t.Errorf("%s acknowledged before its ack", r.ID)
		}
	}

	otherID, otherSecret := hotlineClientCreate(t, data, otherHotline)
	otok := p.hotlineToken(t, otherID, otherSecret)
	if other := p.pullAll(t, otok, 100); len(other) != 0 {
		t.Errorf("%s's client sees %d reports of %s", otherHotline, len(other), pullHotline)
	}
	if code := p.ack(otok, pullAcks[0].ID, "FSM-1"); code != http.StatusNotFound {
		t.Errorf("%s acknowledging %s's report: %d, want 404", otherHotline, pullHotline, code)
	}

	for i, a := range pullAcks {
		if code := p.ack(htok, a.ID, fmt.Sprintf("ECO-%d", i)); code != 200 {
			t.Fatalf("ack %s: %d", a.ID, code)
		}
	}
	p.waitStatuses(t, pullAcks, "delivered", 10*time.Second)
	for _, r := range p.pullAll(t, htok, 100) {
		if r.AckedAt == nil || !strings.HasPrefix(r.HotlineRe, "ECO-") {
			t.Errorf("%s after its ack: acked_at %v, hotline_reference %q", r.ID, r.AckedAt, r.HotlineRe)
		}
	}
	for _, d := range s.received(t) {
		if _, ok := want[d.ID]; ok {
			t.Errorf("pull hotline report %s was pushed", d.ID)
		}
	}
}

// 7. A report the portal refuses for good goes to the dead letters; an
// operator lists it and, once the portal is fixed, retries it.
func TestDeadLetterListAndRetry(t *testing.T) {
	data := t.TempDir()
	s := startSim(t)
	s.setFaults(t, `{"failure_rate":1,"failure_statuses":[400]}`)
	p := start(t, data, s.env()...)
	tok := p.token(t)
	acks := p.submitAll(t, tok, "NL", 0, 2)

	waitUntil(t, 30*time.Second, "two dead letters in the metrics", func() bool {
		return p.metrics(t).sum("reportit_delivery_dead_letters") == 2
	})
	out := runCommand(t, "dead-letter", "list", "-data-dir", data)
	for _, a := range acks {
		line := grepLines(out, a.ID)
		if line == "" || !strings.Contains(line, a.Reference) || !strings.Contains(line, pushHotline) {
			t.Fatalf("dead-letter list does not show %s (%s) for %s:\n%s", a.ID, a.Reference, pushHotline, out)
		}
		if v := p.view(t, a); v.Status != "accepted" {
			t.Fatalf("%s: status %q while dead", a.Reference, v.Status)
		}
	}
	if st := s.stats(t); st.Received != 0 || st.Faults.Failures[400] < 2 {
		t.Fatalf("portal stats %+v: want two refusals and nothing received", st)
	}
	m := p.metrics(t)
	if v := m.sum("reportit_delivery_failures_total", `reason="http_4xx"`); v < 2 {
		t.Errorf("failures with reason http_4xx: %v, want at least 2", v)
	}
	if v := m.sum("reportit_delivery_attempts_total", `outcome="dead"`); v != 2 {
		t.Errorf("attempts with outcome dead: %v, want 2 (a 400 is not retried)", v)
	}

	s.clearFaults(t)
	out = runCommand(t, "dead-letter", "retry", "-data-dir", data, acks[0].ID, acks[1].ID)
	if strings.Count(out, "due again") != 2 {
		t.Fatalf("dead-letter retry: %s", out)
	}
	p.waitStatuses(t, acks, "delivered", 30*time.Second)
	checkReceived(t, s, acks)
	waitUntil(t, 10*time.Second, "no dead letters in the metrics", func() bool {
		return p.metrics(t).sum("reportit_delivery_dead_letters") == 0
	})
	if out := runCommand(t, "dead-letter", "list", "-data-dir", data); strings.Contains(out, acks[0].ID) || strings.Contains(out, acks[1].ID) {
		t.Errorf("dead-letter list still shows retried reports:\n%s", out)
	}
}
