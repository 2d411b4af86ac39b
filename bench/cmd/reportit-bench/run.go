package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reportit/reportit/bench/internal/procfs"
	"github.com/reportit/reportit/bench/internal/promtext"
	"github.com/reportit/reportit/bench/internal/summary"
)

// runner carries one run's state.
type runner struct {
	o    options
	root string
	tmp  string
	bin  binaries
	rep  *report
	// redis is where the rate limits count in postgres mode.
	redis *redisDB
}

// Limits far above any load this machine can offer: the benchmark
// measures intake, not the limiter's refusals (the limiter's checks still
// run on every request).
const unlimited = "100000000-H"

func (r *runner) runAll(ctx context.Context) error {
	if r.o.baseline {
		if err := r.runBaseline(ctx); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	if len(r.o.scenarios()) > 0 {
		if err := r.runReportit(ctx); err != nil {
			return fmt.Errorf("reportit: %w", err)
		}
	}
	if r.o.delivery {
		r.rep.Delivery = runDelivery(ctx, r)
	}
	return nil
}

// database makes a new PostgreSQL database for one server's data in
// postgres mode, and returns its URL and a function that drops it (kept
// with -keep). In SQLite mode it returns "" and does nothing.
func (r *runner) database(ctx context.Context, purpose string) (string, func(), error) {
	if r.o.mode != "postgres" {
		return "", func() {}, nil
	}
	db, err := createDatabase(ctx, r.o.databaseURL)
	if err != nil {
		return "", nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: database %s\n", purpose, db.name)
	r.rep.Databases = append(r.rep.Databases, db.name)
	return db.url, func() {
		if r.o.keep {
			fmt.Fprintf(os.Stderr, "kept database %s\n", db.name)
			return
		}
		if err := db.drop(); err != nil {
			fmt.Fprintf(os.Stderr, "reportit-bench: dropping database %s: %v\n", db.name, err)
		}
	}, nil
}

// childEnv is this process's environment without REPORTIT_* variables,
// so that nothing set in the shell changes what is measured, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REPORTIT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func (r *runner) pprofEnv() []string {
	if r.o.profileDir == "" {
		return nil
	}
	return []string{"REPORTIT_BENCH_PPROF_ADDR=127.0.0.1:0"}
}

func (r *runner) runBaseline(ctx context.Context) error {
	srv, err := startServer(ctx, "baseline", r.bin.baseline, nil, childEnv(r.pprofEnv()...), filepath.Join(r.tmp, "baseline.log"))
	if err != nil {
		return err
	}
	defer srv.stop()
	for i, sc := range r.o.scenarios() {
		if i > 0 {
			sleep(ctx, r.o.pause)
		}
		m, err := r.measure(ctx, srv, "baseline", sc)
		if err != nil {
			return err
		}
		r.rep.Rows = append(r.rep.Rows, m)
	}
	return srv.stop()
}

// reportitEnv is the server's environment: data in dataDir, and in
// postgres mode in the database dbURL, with limits in the run's Redis
// database.
func (r *runner) reportitEnv(dataDir, dbURL string) []string {
	env := childEnv(
		"REPORTIT_ADDR=127.0.0.1:0",
		"REPORTIT_DATA_DIR="+dataDir,
		"REPORTIT_RATE_TOKENS="+unlimited,
		"REPORTIT_RATE_REPORTS="+unlimited,
		"REPORTIT_RATE_GLOBAL="+unlimited,
	)
	if r.o.mode == "postgres" {
		// A stable replica id: a restarted server ends the leases of the
		// one before it at once, as a restarted replica does.
		env = append(env, "REPORTIT_DATABASE_URL="+dbURL, "REPORTIT_REDIS_URL="+r.redis.url, "REPORTIT_REPLICA_ID=reportit-bench")
	}
	return append(env, r.pprofEnv()...)
}

func (r *runner) runReportit(ctx context.Context) error {
	dataDir := filepath.Join(r.tmp, "data")
	dbURL, drop, err := r.database(ctx, "intake")
	if err != nil {
		return err
	}
	defer drop()
	env := r.reportitEnv(dataDir, dbURL)
	srv, err := startServer(ctx, "reportit", r.bin.reportit, []string{"serve"}, env, filepath.Join(r.tmp, "reportit.log"))
	if err != nil {
		return err
	}
	r.rep.Startup.Cold = startupOf(srv)
	fmt.Fprintf(os.Stderr, "reportit ready in %v (cold: new keys, new database)\n", srv.ready.Round(time.Millisecond))
	defer srv.stop()

	for i, sc := range r.o.scenarios() {
		if i > 0 {
			sleep(ctx, r.o.pause)
		}
		m, err := r.measure(ctx, srv, "reportit", sc)
		if err != nil {
			return err
		}
		r.rep.Rows = append(r.rep.Rows, m)
	}

	final, err := scrape(ctx, srv.addr)
	if err != nil {
		return err
	}
	// Graceful stop: in-flight requests finish and their reports are
	// committed before the process exits. Then the database is read.
	if err := srv.stop(); err != nil {
		return err
	}
	r.rep.Verify = r.verifyStored(ctx, dataDir, dbURL, final)

	// A second start on the same data (keys and migrations exist, the
	// database holds the run's reports): the usual restart.
	srv2, err := startServer(ctx, "reportit", r.bin.reportit, []string{"serve"}, env, filepath.Join(r.tmp, "reportit-restart.log"))
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	r.rep.Startup.Warm = startupOf(srv2)
	return srv2.stop()
}

func startupOf(s *server) *startup {
	return &startup{Listening: s.listening, Ready: s.ready}
}

// snapshot is what is sampled at each edge of the measured window.
type snapshot struct {
	server, gen, self time.Duration
	machine           procfs.Machine
	metrics           promtext.Samples
}

func (r *runner) snap(ctx context.Context, srv *server, gen int, withMetrics bool) snapshot {
	var s snapshot
	s.machine, _ = procfs.ReadMachine()
	s.server, _ = procfs.ReadCPU(srv.pid())
	s.gen, _ = procfs.ReadCPU(gen)
	s.self, _ = procfs.ReadCPU(os.Getpid())
	if withMetrics {
		s.metrics, _ = scrape(ctx, srv.addr)
	}
	return s
}

// measure runs one scenario against srv and samples around it.
func (r *runner) measure(ctx context.Context, srv *server, target string, sc scenario) (*row, error) {
	isReportit := target == "reportit"
	out := filepath.Join(r.tmp, fmt.Sprintf("%s-%s.json", target, sc.name))
	args := []string{
		"-target", srv.addr, "-name", target, "-scenario", sc.name,
		"-rate", strconv.Itoa(sc.rate), "-conns", strconv.Itoa(sc.conns),
		"-duration", r.o.duration.String(), "-warmup", r.o.warmup.String(),
		"-tokens", strconv.Itoa(r.o.tokens), "-seed", strconv.FormatUint(r.o.seed, 10),
		"-out", out,
	}
	if isReportit {
		args = append(args, "-ids", filepath.Join(r.tmp, "acked-ids.txt"))
	}
	var before promtext.Samples
	if isReportit {
		var err error
		if before, err = scrape(ctx, srv.addr); err != nil {
			return nil, err
		}
	}

	fmt.Fprintf(os.Stderr, "%s %s…\n", target, sc.name)
	cmd := exec.CommandContext(ctx, r.bin.loadgen, args...)
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(r.tmp, fmt.Sprintf("loadgen-%s-%s.log", target, sc.name)))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = io.MultiWriter(logf, os.Stderr)
	if err := cmd.Start(); err != nil {
		return nil, err
	}

	m := &row{Target: target, Scenario: sc.name, Rate: sc.rate, Conns: sc.conns, MallocsPerRequest: -1}
	var a, b snapshot
	var allocs0 string
	var prof chan error
	sat := sc.rate == 0
	sc2 := bufio.NewScanner(stdout)
	for sc2.Scan() {
		switch sc2.Text() {
		case "phase measure":
			if err := procfs.ResetPeak(srv.pid()); err != nil {
				m.PeakRSSLifetime = true
			}
			a = r.snap(ctx, srv, cmd.Process.Pid, isReportit)
			m.LoadStart, _ = loadAverage()
			if sat && r.o.profileDir != "" && srv.pprofAddr != "" {
				allocs0 = filepath.Join(r.o.profileDir, fmt.Sprintf("allocs-%s-%s-before.pprof", target, sc.name))
				if err := fetch(ctx, srv.pprofAddr+"/debug/pprof/allocs", allocs0); err != nil {
					fmt.Fprintf(os.Stderr, "allocation profile: %v\n", err)
				}
				prof = make(chan error, 1)
				m.Profile = filepath.Join(r.o.profileDir, fmt.Sprintf("cpu-%s-%s.pprof", target, sc.name))
				secs := max(1, int((r.o.duration - 1500*time.Millisecond).Seconds()))
				go func() {
					sleep(ctx, 500*time.Millisecond)
					prof <- fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", srv.pprofAddr, secs), m.Profile)
				}()
			}
		case "phase done":
			b = r.snap(ctx, srv, cmd.Process.Pid, isReportit)
			if mem, err := procfs.ReadMemory(srv.pid()); err == nil {
				m.PeakRSS = mem.Peak
			}
			if allocs0 != "" {
				m.AllocsProfile = strings.TrimSuffix(allocs0, "-before.pprof") + "-after.pprof"
				if err := fetch(ctx, srv.pprofAddr+"/debug/pprof/allocs", m.AllocsProfile); err != nil {
					fmt.Fprintf(os.Stderr, "allocation profile: %v\n", err)
				}
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("load generator (%s %s): %w", target, sc.name, err)
	}
	if prof != nil {
		if err := <-prof; err != nil {
			fmt.Fprintf(os.Stderr, "CPU profile: %v\n", err)
			m.Profile = ""
		} else {
			m.ProfileTop = pprofTop(ctx, r.bin, target, m.Profile)
		}
	}
	s, err := summary.Read(out)
	if err != nil {
		return nil, err
	}
	m.Summary = s
	m.ServerCPU = b.server - a.server
	m.GeneratorCPU = b.gen - a.gen
	// The counters tick at 10 ms, so the difference can come out a little
	// below zero on an otherwise idle machine.
	m.OtherCPU = max(0, (b.machine.Busy-a.machine.Busy)-m.ServerCPU-m.GeneratorCPU-(b.self-a.self))
	m.Window = s.Elapsed
	m.LoadEnd, _ = loadAverage()
	// avg10 at the end of a 10 s window is that window's pressure.
	m.CPUPressure, _ = procfs.Pressure("cpu")
	m.IOPressure, _ = procfs.Pressure("io")
	if isReportit {
		if n := s.Measured.Requests; n > 0 {
			if d, ok := counterDelta(a.metrics, b.metrics, "go_memstats_mallocs_total", nil); ok {
				m.MallocsPerRequest = d / float64(n)
			}
		}
		after, err := scrape(ctx, srv.addr)
		if err != nil {
			return nil, err
		}
		m.Verify = verifyScenario(s, before, after)
	}
	return m, nil
}

// pprofTop is the head of "go tool pprof -top" for a profile, kept next to
// it as a .txt.
func pprofTop(ctx context.Context, bin binaries, target, profile string) string {
	exe := bin.reportit
	if target == "baseline" {
		exe = bin.baseline
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=40", exe, profile).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, out)
	}
	_ = os.WriteFile(strings.TrimSuffix(profile, ".pprof")+"-top.txt", out, 0o644)
	return string(out)
}

// scrape reads the server's /metrics.
func scrape(ctx context.Context, addr string) (promtext.Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping metrics: %s", resp.Status)
	}
	return promtext.Parse(resp.Body)
}

func counterDelta(a, b promtext.Samples, name string, match map[string]string) (float64, bool) {
	x, ok1 := a.Sum(name, match)
	y, ok2 := b.Sum(name, match)
	// A counter with no sample yet (no report accepted) is zero.
	if !ok1 && !ok2 {
		return 0, false
	}
	return y - x, true
}

func loadAverage() (string, error) { return procfs.LoadAverage() }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
