package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reportit/reportit/bench/internal/mix"
	"github.com/reportit/reportit/bench/internal/procfs"
	"github.com/reportit/reportit/bench/internal/promtext"
	"github.com/reportit/reportit/internal/webhook"
)

// The delivery scenario of issue 6: a backlog of reports drained to the
// reference intake portal (target: 100,000 in under 60 s).
//
// A backlog is what a portal outage leaves behind, so it is built as one:
//
//  1. The portal (reportit intake-sim, a process of its own) starts, and is
//     told to take 5 minutes over each answer (its latency fault): it
//     accepts every delivery and does not answer.
//  2. reportit starts on a new data directory (and, in postgres mode, a new
//     database) with the portal as its intake (REPORTIT_INTAKE_URL), and
//     the backlog is submitted through POST /v1/reports: fresh reports only,
//     each a new delivery job. The delivery runner claims its first jobs and
//     they hang at the portal; it claims no more, its workers being busy.
//     A hanging delivery fails at the portal client's 10 s timeout, and a
//     failure means a backoff and, five in a row, an open circuit breaker,
//     which would spread the backlog over the next minutes. So the server is
//     stopped gracefully (SIGTERM: the hanging deliveries are abandoned, not
//     counted as attempts, and due again within 3 s) and started again on
//     the same data every few seconds until the backlog is in.
//  3. The portal comes back up (a new one on the same address), reportit
//     starts once more on the backlog, and the drain is timed from that
//     start until the server's queue is empty
//     (reportit_delivery_queue_depth 0) and the portal has received every
//     report.
//
// Nothing else is changed from production: the same binary, delivery
// settings and portal client; the portal checks every signature.

// deliveryResult is the delivery figure: how fast a backlog drains.
type deliveryResult struct {
	Backlog int `json:"backlog"`
	// The filling: how long submitting the backlog took, and how many
	// times the server was started for it.
	Fill         time.Duration `json:"fill"`
	FillRate     float64       `json:"fill_rate"`
	FillStarts   int           `json:"fill_starts"`
	FillConns    int           `json:"fill_conns"`
	QueuedBefore int           `json:"queued_before"` // queue depth when the filling ended
	// Drain is from the server's start on the backlog to an empty queue
	// and every report received; Ready, from the same start to /readyz 200.
	Drain      time.Duration `json:"drain"`
	Ready      time.Duration `json:"ready"`
	ReportsPer float64       `json:"reports_per_second"`
	Drained    bool          `json:"drained"`
	// Attempts are reportit_delivery_attempts_total over the drain, by
	// outcome; Failures, reportit_delivery_failures_total by reason.
	Attempts    map[string]float64 `json:"attempts"`
	Failures    map[string]float64 `json:"failures"`
	DeadLetters float64            `json:"dead_letters"`
	// What the portal counted (its /stats).
	Portal portalStats `json:"portal"`
	// The server's and the portal's peak RSS (VmHWM: each process lives
	// for the drain only), and CPU over the drain.
	PeakRSS       uint64        `json:"peak_rss"`
	PortalPeakRSS uint64        `json:"portal_peak_rss"`
	ServerCPU     time.Duration `json:"server_cpu"`
	PortalCPU     time.Duration `json:"portal_cpu"`
	OtherCPU      time.Duration `json:"other_cpu"`
	LoadStart     string        `json:"load_start"`
	LoadEnd       string        `json:"load_end"`
	// Progress is the portal's count of reports received, and
	// ServerCPUProgress the server's CPU time, once a second.
	Progress          []int           `json:"progress"`
	ServerCPUProgress []time.Duration `json:"server_cpu_progress"`
	Profile           string          `json:"profile,omitempty"`
	ProfileTop        string          `json:"-"`
	Verify            []finding       `json:"verify,omitempty"`
	Error             string          `json:"error,omitempty"`
}

// portalStats is the part of intake-sim's GET /stats the benchmark reads.
type portalStats struct {
	Received   uint64 `json:"received"`
	Duplicates uint64 `json:"duplicates"`
	Conflicts  uint64 `json:"conflicts"`
	Rejected   uint64 `json:"rejected"`
	Stored     int    `json:"stored"`
	Evicted    uint64 `json:"evicted"`
}

// fillChunk is how long one server start takes reports while the portal
// hangs: well under the portal client's 10 s timeout, so that no hanging
// delivery fails.
const fillChunk = 6 * time.Second

func runDelivery(ctx context.Context, r *runner) *deliveryResult {
	res := &deliveryResult{Backlog: r.o.backlog, FillConns: r.o.fillConns}
	if err := r.delivery(ctx, res); err != nil {
		fmt.Fprintf(os.Stderr, "delivery: %v\n", err)
		res.Error = err.Error()
	}
	return res
}

func (r *runner) delivery(ctx context.Context, res *deliveryResult) error {
	dataDir := filepath.Join(r.tmp, "delivery-data")
	dbURL, drop, err := r.database(ctx, "delivery")
	if err != nil {
		return err
	}
	defer drop()

	secret := webhook.NewSecret()
	portalEnv := childEnv(append(r.pprofEnv(), "REPORTIT_INTAKE_SECRET="+secret)...)
	sim, err := startProcess(ctx, "intake-sim", r.bin.reportit, []string{"intake-sim", "-addr", "127.0.0.1:0"},
		portalEnv, filepath.Join(r.tmp, "intake-sim.log"), "/stats")
	if err != nil {
		return err
	}
	defer sim.stop()
	// The longest latency the portal allows; a request it holds ends when
	// the sender gives up.
	if err := portalFaults(ctx, sim, http.MethodPost, `{"latency_ms": 300000}`); err != nil {
		return err
	}
	env := append(r.reportitEnv(dataDir, dbURL), "REPORTIT_INTAKE_URL="+sim.endpoint, "REPORTIT_INTAKE_SECRET="+secret)

	// 2. The backlog, submitted while the portal hangs.
	f := &filler{target: r.o.backlog, conns: r.o.fillConns, seed: r.o.seed}
	fmt.Fprintf(os.Stderr, "delivery: submitting a backlog of %d reports while the portal hangs…\n", r.o.backlog)
	t0 := time.Now()
	var fillTime time.Duration
	for len(f.ids) < f.target {
		res.FillStarts++
		srv, err := startServer(ctx, "reportit", r.bin.reportit, []string{"serve"}, env,
			filepath.Join(r.tmp, fmt.Sprintf("delivery-fill-%d.log", res.FillStarts)))
		if err != nil {
			return fmt.Errorf("filling: %w", err)
		}
		c0 := time.Now()
		ferr := f.chunk(ctx, srv.addr, time.Now().Add(fillChunk))
		fillTime += time.Since(c0)
		m, serr := scrape(ctx, srv.addr)
		if err := srv.stop(); err != nil && ferr == nil {
			ferr = err
		}
		if ferr == nil {
			ferr = serr
		}
		if ferr != nil {
			return fmt.Errorf("filling: %w", ferr)
		}
		if n, _ := m.Sum("reportit_delivery_failures_total", nil); n > 0 {
			res.Verify = append(res.Verify, warn("%d deliveries failed while the backlog was submitted (a server start outlasted the portal client's timeout?): those reports wait out a backoff, and the drain time includes it", int(n)))
		}
		depth, _ := m.Sum("reportit_delivery_queue_depth", nil)
		res.QueuedBefore = int(depth)
		fmt.Fprintf(os.Stderr, "delivery: %d of %d submitted (start %d), queue depth %d\n", len(f.ids), f.target, res.FillStarts, res.QueuedBefore)
	}
	res.Fill = time.Since(t0)
	res.FillRate = float64(len(f.ids)) / fillTime.Seconds()
	if err := writeLines(filepath.Join(r.tmp, "delivery-acked-ids.txt"), f.ids); err != nil {
		return err
	}
	if res.QueuedBefore != len(f.ids) {
		res.Verify = append(res.Verify, fail("%d reports acknowledged, but the queue holds %d delivery jobs", len(f.ids), res.QueuedBefore))
	}
	if st, err := readPortalStats(ctx, sim); err != nil {
		return err
	} else if st.Received != 0 {
		return fmt.Errorf("the portal received %d reports while it hung", st.Received)
	}
	// 3. The portal back up, and the drain. The hanging portal is replaced
	// by a new one on the same address: requests it still holds would wake
	// at the end of their latency (net/http does not notice a sender gone
	// before the body is read) and count as rejected (timestamps too old).
	addr := strings.TrimPrefix(sim.addr, "http://")
	if err := sim.stop(); err != nil {
		return fmt.Errorf("stopping the hanging portal: %w", err)
	}
	// The deliveries abandoned at the last stop are due again within 3 s
	// (the dispatcher's busy delay, jittered): let that pass, and the
	// machine settle.
	sleep(ctx, 3*time.Second)
	sim, err = startProcess(ctx, "intake-sim", r.bin.reportit, []string{"intake-sim", "-addr", addr},
		portalEnv, filepath.Join(r.tmp, "intake-sim-drain.log"), "/stats")
	if err != nil {
		return err
	}
	defer sim.stop()
	fmt.Fprintf(os.Stderr, "delivery: portal up; draining %d reports…\n", len(f.ids))
	m0, _ := procfs.ReadMachine()
	simCPU0, _ := procfs.ReadCPU(sim.pid())
	self0, _ := procfs.ReadCPU(os.Getpid())
	res.LoadStart, _ = loadAverage()
	start := time.Now()
	srv, err := startServer(ctx, "reportit", r.bin.reportit, []string{"serve"}, env, filepath.Join(r.tmp, "delivery-drain.log"))
	if err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	defer srv.stop()
	res.Ready = srv.ready

	var prof chan error
	if r.o.profileDir != "" && srv.pprofAddr != "" {
		res.Profile = filepath.Join(r.o.profileDir, "cpu-reportit-delivery.pprof")
		prof = make(chan error, 1)
		go func() {
			prof <- fetch(ctx, srv.pprofAddr+"/debug/pprof/profile?seconds=10", res.Profile)
		}()
	}

	err = r.awaitDrain(ctx, srv, sim, start, len(f.ids), res)
	end := time.Now()
	res.Drain = end.Sub(start)
	res.ServerCPU, _ = procfs.ReadCPU(srv.pid())
	simCPU1, _ := procfs.ReadCPU(sim.pid())
	self1, _ := procfs.ReadCPU(os.Getpid())
	m1, _ := procfs.ReadMachine()
	res.PortalCPU = simCPU1 - simCPU0
	res.OtherCPU = max(0, (m1.Busy-m0.Busy)-res.ServerCPU-res.PortalCPU-(self1-self0))
	res.LoadEnd, _ = loadAverage()
	if mem, err := procfs.ReadMemory(srv.pid()); err == nil {
		res.PeakRSS = mem.Peak
	}
	if mem, err := procfs.ReadMemory(sim.pid()); err == nil {
		res.PortalPeakRSS = mem.Peak
	}
	if err != nil {
		return err
	}
	res.ReportsPer = float64(len(f.ids)) / res.Drain.Seconds()

	final, err := scrape(ctx, srv.addr)
	if err != nil {
		return err
	}
	res.Attempts = byLabel(final, "reportit_delivery_attempts_total", "outcome")
	res.Failures = byLabel(final, "reportit_delivery_failures_total", "reason")
	res.DeadLetters, _ = final.Sum("reportit_delivery_dead_letters", nil)
	if prof != nil {
		if err := <-prof; err != nil {
			fmt.Fprintf(os.Stderr, "CPU profile: %v\n", err)
			res.Profile = ""
		} else {
			res.ProfileTop = pprofTop(ctx, r.bin, "reportit", res.Profile)
		}
	}
	res.Verify = append(res.Verify, r.verifyDelivered(ctx, sim, f.ids, res)...)
	return srv.stop()
}

// awaitDrain waits until the server's queue is empty and the portal has
// received n reports, noting the portal's count once a second.
func (r *runner) awaitDrain(ctx context.Context, srv, sim *server, start time.Time, n int, res *deliveryResult) error {
	deadline := start.Add(r.o.drainTimeout)
	next := start.Add(time.Second)
	for {
		st, err := readPortalStats(ctx, sim)
		if err != nil {
			return err
		}
		res.Portal = st
		now := time.Now()
		for !now.Before(next) {
			res.Progress = append(res.Progress, int(st.Received))
			cpu, _ := procfs.ReadCPU(srv.pid())
			res.ServerCPUProgress = append(res.ServerCPUProgress, cpu)
			if len(res.Progress)%5 == 0 {
				fmt.Fprintf(os.Stderr, "delivery: %d of %d received after %v\n", st.Received, n, next.Sub(start).Round(time.Second))
			}
			next = next.Add(time.Second)
		}
		if st.Received >= uint64(n) {
			// Every report is at the portal; the queue is empty once the
			// last outcomes are recorded.
			m, err := scrape(ctx, srv.addr)
			if err != nil {
				return err
			}
			if depth, ok := m.Sum("reportit_delivery_queue_depth", nil); ok && depth == 0 {
				res.Drained = true
				return nil
			}
		}
		select {
		case <-srv.exited:
			return fmt.Errorf("the server exited while draining: %v", srv.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not drained after %v: the portal received %d of %d", r.o.drainTimeout, st.Received, n)
		}
	}
}

// verifyDelivered checks that every acknowledged report reached the portal
// once, and nothing else did.
func (r *runner) verifyDelivered(ctx context.Context, sim *server, acked []string, res *deliveryResult) []finding {
	var out []finding
	st := res.Portal
	switch {
	case st.Received == uint64(len(acked)):
		out = append(out, ok("the portal received %d distinct reports: the whole backlog", st.Received))
	default:
		out = append(out, fail("the portal received %d distinct reports, the backlog was %d", st.Received, len(acked)))
	}
	if st.Rejected > 0 {
		out = append(out, fail("the portal rejected %d deliveries (signature, timestamp or payload)", st.Rejected))
	}
	if st.Duplicates > 0 {
		out = append(out, warn("the portal received %d reports more than once (delivery is at least once; %d with a different body)", st.Duplicates, st.Conflicts))
	}
	if d := res.Attempts["dead"]; d > 0 || res.DeadLetters > 0 {
		out = append(out, fail("%.0f deliveries were given up (dead letters: %.0f)", d, res.DeadLetters))
	}
	got, err := portalIDs(ctx, sim)
	if err != nil {
		return append(out, fail("reading the portal's deliveries: %v", err))
	}
	want := make(map[string]bool, len(acked))
	for _, id := range acked {
		want[id] = true
	}
	unknown, missing := 0, 0
	for id := range got {
		if !want[id] {
			unknown++
		}
	}
	for _, id := range acked {
		if !got[id] {
			missing++
		}
	}
	if unknown > 0 {
		out = append(out, fail("the portal holds %d reports that were not acknowledged to the client", unknown))
	}
	switch {
	case st.Evicted > 0:
		out = append(out, warn("the portal kept %d deliveries and dropped %d (its memory bounds): ids checked for those kept only", len(got), st.Evicted))
	case missing > 0:
		out = append(out, fail("%d acknowledged reports are not at the portal", missing))
	default:
		out = append(out, ok("every acknowledged report id is at the portal"))
	}
	return out
}

// byLabel sums a counter by one label's values.
func byLabel(ss promtext.Samples, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range ss {
		if s.Name == name {
			out[s.Labels[label]] += s.Value
		}
	}
	return out
}

var benchClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}

func portalFaults(ctx context.Context, sim *server, method, body string) error {
	req, err := http.NewRequestWithContext(ctx, method, sim.addr+"/faults", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		return fmt.Errorf("setting the portal's faults: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("setting the portal's faults: %s: %s", resp.Status, b)
	}
	return nil
}

func portalGet(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func readPortalStats(ctx context.Context, sim *server) (portalStats, error) {
	var v struct {
		portalStats
		RejectedSignature uint64 `json:"rejected_signature"`
		RejectedTimestamp uint64 `json:"rejected_timestamp"`
		RejectedPayload   uint64 `json:"rejected_payload"`
	}
	err := portalGet(ctx, sim.addr+"/stats", &v)
	st := v.portalStats
	st.Rejected = v.RejectedSignature + v.RejectedTimestamp + v.RejectedPayload
	return st, err
}

// portalIDs pages through the deliveries the portal kept.
func portalIDs(ctx context.Context, sim *server) (map[string]bool, error) {
	ids := map[string]bool{}
	since := uint64(0)
	for {
		var page struct {
			Deliveries []struct {
				ID string `json:"id"`
			} `json:"deliveries"`
			NextSince uint64 `json:"next_since"`
			More      bool   `json:"more"`
		}
		if err := portalGet(ctx, fmt.Sprintf("%s/received?since=%d&limit=10000", sim.addr, since), &page); err != nil {
			return nil, err
		}
		for _, d := range page.Deliveries {
			ids[d.ID] = true
		}
		if !page.More {
			return ids, nil
		}
		since = page.NextSince
	}
}

// filler submits fresh reports (each a new delivery job) until it has
// target acknowledged, over several server starts.
type filler struct {
	target, conns int
	seed          uint64

	client *http.Client
	gen    *mix.Generator
	mu     sync.Mutex
	sent   int
	ids    []string
}

// chunk submits reports to the server at addr until the target is reached
// or until; the tokens are obtained on the first call (they stay valid
// across restarts on the same data directory).
func (f *filler) chunk(ctx context.Context, addr string, until time.Time) error {
	if f.gen == nil {
		f.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: f.conns}}
		tokens, err := obtainTokens(ctx, f.client, addr, 200)
		if err != nil {
			return err
		}
		var b [6]byte
		rand.Read(b[:])
		if f.gen, err = mix.New(f.seed, hex.EncodeToString(b[:]), tokens, mix.Ratios{}); err != nil {
			return err
		}
	}
	defer f.client.CloseIdleConnections() // the next start is another server
	g, ctx := errgroup.WithContext(ctx)
	for range f.conns {
		g.Go(func() error {
			for {
				f.mu.Lock()
				if f.sent >= f.target || time.Now().After(until) {
					f.mu.Unlock()
					return nil
				}
				req := f.gen.Next()
				f.sent++
				f.mu.Unlock()
				id, err := f.submit(ctx, addr, req)
				if err != nil {
					return err
				}
				f.mu.Lock()
				f.ids = append(f.ids, id)
				f.mu.Unlock()
			}
		})
	}
	return g.Wait()
}

// submit sends one report, again (an idempotent retry: same key and body)
// if the first try got no answer.
func (f *filler) submit(ctx context.Context, addr string, r mix.Request) (string, error) {
	var last error
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+"/v1/reports", bytes.NewReader(r.Body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+r.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", r.Key)
		resp, err := f.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			last = err
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		if resp.StatusCode != http.StatusAccepted {
			return "", fmt.Errorf("submitting a report: %s: %.300s", resp.Status, body)
		}
		var v struct {
			ID        string `json:"id"`
			Duplicate bool   `json:"duplicate"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.ID == "" {
			return "", fmt.Errorf("submitting a report: 202 without an id: %.300s", body)
		}
		if v.Duplicate {
			// A sighting gets no delivery job of its own.
			return "", errors.New("submitting a report: a fresh report was taken as a duplicate")
		}
		return v.ID, nil
	}
	return "", fmt.Errorf("submitting a report: %w", last)
}

// obtainTokens gets n installation tokens, a few requests at a time.
func obtainTokens(ctx context.Context, client *http.Client, addr string, n int) ([]string, error) {
	tokens := make([]string, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range tokens {
		g.Go(func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+"/v1/installations", nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("obtaining a token: %w", err)
			}
			defer resp.Body.Close()
			var v struct {
				Token string `json:"token"`
			}
			if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&v) != nil || v.Token == "" {
				return fmt.Errorf("obtaining a token: %s", resp.Status)
			}
			tokens[i] = v.Token
			return nil
		})
	}
	return tokens, g.Wait()
}

func writeLines(path string, lines []string) error {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// print prints the delivery section.
func (d *deliveryResult) print(w io.Writer) {
	fmt.Fprintf(w, "\ndelivery: a backlog of %d reports drained to the reference intake portal (reportit intake-sim, own process)\n", d.Backlog)
	if d.Fill > 0 {
		fmt.Fprintf(w, "  backlog submitted while the portal hung: %.1f s (%.0f reports/s from %d connections, %d server starts), queue depth then %d\n",
			d.Fill.Seconds(), d.FillRate, d.FillConns, d.FillStarts, d.QueuedBefore)
	}
	if d.Drain > 0 {
		state := "drained"
		if !d.Drained {
			state = "NOT drained"
		}
		fmt.Fprintf(w, "  %s in %.2f s from the server's start on the backlog (ready after %s): %.0f reports/s delivered\n",
			state, d.Drain.Seconds(), ms(d.Ready), d.ReportsPer)
		fmt.Fprintf(w, "  attempts: %s; failures: %s; dead letters: %.0f\n", labels(d.Attempts), labels(d.Failures), d.DeadLetters)
		p := d.Portal
		fmt.Fprintf(w, "  portal: %d distinct reports received, %d duplicates (%d with another body), %d rejected, %d kept, %d dropped\n",
			p.Received, p.Duplicates, p.Conflicts, p.Rejected, p.Stored, p.Evicted)
		perReport := "-"
		if p.Received > 0 {
			perReport = fmt.Sprintf("%.0f", float64(d.ServerCPU.Microseconds())/float64(p.Received))
		}
		fmt.Fprintf(w, "  peak RSS: server %s, portal %s; CPU cores busy: server %s, portal %s, other %s; server µs CPU/report: %s\n",
			mb(d.PeakRSS), mb(d.PortalPeakRSS), cores(d.ServerCPU, d.Drain), cores(d.PortalCPU, d.Drain), cores(d.OtherCPU, d.Drain), perReport)
		fmt.Fprintf(w, "  load average %s -> %s\n", orNA(d.LoadStart), orNA(d.LoadEnd))
		fmt.Fprintf(w, "  each second: reports received: %s\n", rates(d.Progress))
		fmt.Fprintf(w, "               server cores busy: %s\n", coresEach(d.ServerCPUProgress))
	}
	for _, f := range d.Verify {
		fmt.Fprintf(w, "  %-4s %s\n", f.Level, f.Text)
	}
	if d.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", d.Error)
	}
	if d.Profile != "" {
		fmt.Fprintf(w, "\nCPU profile of reportit, first 10 s of the drain: %s\n", d.Profile)
		for i, l := range strings.Split(d.ProfileTop, "\n") {
			if i >= 26 {
				break
			}
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// labels formats counts by label value, largest first.
func labels(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.0f", k, m[k])
	}
	return b.String()
}

// coresEach turns cumulative CPU times, one a second, into cores busy.
func coresEach(cpu []time.Duration) string {
	var b strings.Builder
	var prev time.Duration
	for i, c := range cpu {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.2f", (c - prev).Seconds())
		prev = c
	}
	return b.String()
}

// rates turns cumulative counts, one a second, into counts per second.
func rates(progress []int) string {
	if len(progress) == 0 {
		return "-"
	}
	var b strings.Builder
	prev := 0
	for i, n := range progress {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d", n-prev)
		prev = n
	}
	return b.String()
}
