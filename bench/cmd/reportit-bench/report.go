package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reportit/reportit/bench/internal/mix"
	"github.com/reportit/reportit/bench/internal/procfs"
	"github.com/reportit/reportit/bench/internal/summary"
)

// row is one scenario against one server.
type row struct {
	Target   string           `json:"target"`
	Scenario string           `json:"scenario"`
	Rate     int              `json:"rate,omitempty"`
	Conns    int              `json:"conns,omitempty"`
	Summary  *summary.Summary `json:"summary"`
	// PeakRSS is the server's VmHWM over the measured window (reset at its
	// start), or over the process's life if the reset was refused.
	PeakRSS         uint64 `json:"peak_rss"`
	PeakRSSLifetime bool   `json:"peak_rss_lifetime,omitempty"`
	// CPU time used during the measured window by the server, the load
	// generator, and everything else on the machine (other people's work).
	ServerCPU    time.Duration `json:"server_cpu"`
	GeneratorCPU time.Duration `json:"generator_cpu"`
	OtherCPU     time.Duration `json:"other_cpu"`
	Window       time.Duration `json:"window"`
	LoadStart    string        `json:"load_start"`
	LoadEnd      string        `json:"load_end"`
	CPUPressure  string        `json:"cpu_pressure"` // at the window's end
	IOPressure   string        `json:"io_pressure"`
	// MallocsPerRequest is the server's heap allocations per request over
	// the window, whole process (reportit only; -1 when unknown).
	MallocsPerRequest float64   `json:"mallocs_per_request"`
	Verify            []finding `json:"verify,omitempty"`
	Profile           string    `json:"profile,omitempty"`
	AllocsProfile     string    `json:"allocs_profile,omitempty"`
	ProfileTop        string    `json:"-"`
}

type startup struct {
	Listening time.Duration `json:"listening"`
	Ready     time.Duration `json:"ready"`
}

type environ struct {
	Date       string `json:"date"`
	Go         string `json:"go"`
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	Kernel     string `json:"kernel"`
	Commit     string `json:"commit"`
	LoadBefore string `json:"load_before"`
	// Pressure (PSI, "some") on CPU and disk before the run.
	CPUPressure string `json:"cpu_pressure"`
	IOPressure  string `json:"io_pressure"`
	DataDir     string `json:"data_dir"`
	DataFS      string `json:"data_fs"` // file system type and device: what fsync costs depends on it
}

type report struct {
	Mode string `json:"mode"`
	// ServerCommit is the revision the server was built from with -rev;
	// empty for the working tree.
	ServerCommit string `json:"server_commit,omitempty"`
	// ServerSource is the directory the server was built from with
	// -server-src.
	ServerSource string   `json:"server_source,omitempty"`
	Env          environ  `json:"env"`
	Rows         []*row   `json:"rows"`
	Startup      struct { // reportit's start-up to ready
		Cold *startup `json:"cold"` // empty data dir: keys, database, migrations
		Warm *startup `json:"warm"` // restart on the run's data
	} `json:"startup"`
	Verify           []finding       `json:"verify"`
	Delivery         *deliveryResult `json:"delivery,omitempty"`
	LoadAfter        string          `json:"load_after"`
	CPUPressureAfter string          `json:"cpu_pressure_after"`
	IOPressureAfter  string          `json:"io_pressure_after"`
	// Databases are the PostgreSQL databases made for the run (and dropped
	// after it unless -keep); RedisDB, the Redis database its limits used.
	Databases []string `json:"databases,omitempty"`
	RedisDB   int      `json:"redis_db,omitempty"`
}

func environment(ctx context.Context, root, dataDir string) environ {
	e := environ{
		Date:    time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Go:      runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:    runtime.NumCPU(),
		DataDir: dataDir,
		DataFS:  fileSystem(dataDir),
	}
	e.LoadBefore, _ = loadAverage()
	e.CPUPressure, _ = procfs.Pressure("cpu")
	e.IOPressure, _ = procfs.Pressure("io")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	git := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		out, _ := cmd.Output()
		return strings.TrimSpace(string(out))
	}
	if e.Commit = git("rev-parse", "--short", "HEAD"); e.Commit != "" && git("status", "--porcelain") != "" {
		e.Commit += " with uncommitted changes"
	}
	return e
}

func (rep *report) printHeader(w io.Writer, o options) {
	e := rep.Env
	fmt.Fprintf(w, "reportit-bench  %s  commit %s  %s\n", e.Date, orNA(e.Commit), e.Go)
	if rep.ServerSource != "" {
		fmt.Fprintf(w, "server built from %s, not the working tree\n", rep.ServerSource)
	}
	if rep.ServerCommit != "" {
		fmt.Fprintf(w, "server built from %s (%s), not the working tree\n", o.rev, rep.ServerCommit)
	}
	fmt.Fprintf(w, "machine: %d CPUs (%s), kernel %s; load average before: %s\n", e.CPUs, orNA(e.CPUModel), orNA(e.Kernel), orNA(e.LoadBefore))
	fmt.Fprintf(w, "pressure before (share of time something waited): cpu %s; io %s\n", orNA(e.CPUPressure), orNA(e.IOPressure))
	fmt.Fprintf(w, "data dir: %s on %s\n", e.DataDir, orNA(e.DataFS))
	fmt.Fprintln(w, "  The load generator runs on the same CPUs as the server, and so does anything else running on this")
	fmt.Fprintln(w, "  machine: read figures as noisy; see the load averages and the \"other\" CPU column.")
	store := "SQLite, WAL, synchronous=FULL, group commit (embedded defaults)"
	if o.mode == "postgres" {
		store = fmt.Sprintf("PostgreSQL + Redis (a new database reportit_bench_* per server on %s, dropped after; limits in Redis database %d of %s)",
			redactURL(o.databaseURL), rep.RedisDB, redactURL(o.redisURL))
	}
	r := mix.DefaultRatios
	fmt.Fprintf(w, "mode: %s; %v per scenario after %v warm-up; %d installations;\n", store, o.duration, o.warmup, o.tokens)
	fmt.Fprintf(w, "mix: %.0f%% new URLs, %.0f%% duplicates of recent URLs, %.0f%% idempotent retries, %.0f%% invalid (bad scheme, unknown field)\n\n",
		100*(1-r.Duplicate-r.Retry-r.Invalid), 100*r.Duplicate, 100*r.Retry, 100*r.Invalid)
}

func (rep *report) print(w io.Writer, o options) {
	if len(rep.Rows) > 0 { // none when only -delivery was asked for
		rep.printTable(w)
		rep.printStartup(w)
		rep.printVerify(w)
	}
	rep.printTargets(w, o)
	rep.printProfiles(w)
	if rep.Delivery != nil {
		rep.Delivery.print(w)
	}
	fmt.Fprintf(w, "\nload average after: %s; pressure after: cpu %s; io %s\n", orNA(rep.LoadAfter), orNA(rep.CPUPressureAfter), orNA(rep.IOPressureAfter))
}

func (rep *report) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tscenario\treq/s\t2xx/s\tp50\tp99\tp99.9\tmax\t2xx\t4xx\t5xx\terrors\tunexpected\tpeak RSS\tCPU server\tCPU loadgen\tCPU other\tµs CPU/req\tallocs/req\tvs baseline\t")
	for _, r := range rep.Rows {
		s := r.Summary
		m := &s.Measured
		vs := "-"
		if r.Target == "reportit" {
			if b := rep.row("baseline", r.Scenario); b != nil && b.Summary.SuccessRate() > 0 {
				vs = fmt.Sprintf("%.1f%%", 100*s.SuccessRate()/b.Summary.SuccessRate())
			}
		}
		allocs := "-"
		if r.MallocsPerRequest >= 0 {
			allocs = fmt.Sprintf("%.0f", r.MallocsPerRequest)
		}
		rss := mb(r.PeakRSS)
		if r.PeakRSSLifetime {
			rss += "*"
		}
		perReq := "-"
		if m.Requests > 0 {
			perReq = fmt.Sprintf("%.0f", float64(r.ServerCPU.Microseconds())/float64(m.Requests))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Target, r.Scenario, s.Rate(), s.SuccessRate(),
			ms(s.Latency.P50), ms(s.Latency.P99), ms(s.Latency.P999), ms(s.Latency.Max),
			m.Class(200, 300), m.Class(400, 500), m.Class(500, 600), m.TransportErrors(), m.UnexpectedTotal(),
			rss, cores(r.ServerCPU, r.Window), cores(r.GeneratorCPU, r.Window), cores(r.OtherCPU, r.Window), perReq, allocs, vs)
	}
	tw.Flush()
	fmt.Fprintln(w, "  latencies over every request (invalid ones included), as the client measured them; CPU in cores busy over")
	fmt.Fprintln(w, "  the measured window (\"other\": everything else on the machine); µs CPU/req: the server's CPU time per")
	fmt.Fprintln(w, "  request, steadier than req/s on a shared machine; allocs/req: the server's heap allocations per request,")
	fmt.Fprintln(w, "  whole process; vs baseline: 2xx/s as a share of the baseline's 2xx/s in the same scenario.")
	fmt.Fprintln(w, "  * = lifetime peak RSS (the per-scenario reset was refused).")
	fmt.Fprintln(w, "\nnoise, per scenario (load average at start -> end; pressure at the end, avg10 covers the last 10 s):")
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "  %s %s: load %s -> %s; cpu pressure %s; io pressure %s\n",
			r.Target, r.Scenario, orNA(r.LoadStart), orNA(r.LoadEnd), orNA(r.CPUPressure), orNA(r.IOPressure))
	}
	for _, r := range rep.Rows {
		if len(r.Summary.Measured.Errors) > 0 {
			fmt.Fprintf(w, "  %s %s transport errors: %v\n", r.Target, r.Scenario, r.Summary.Measured.Errors)
		}
	}
}

func (rep *report) printStartup(w io.Writer) {
	fmt.Fprintln(w)
	for _, s := range []struct {
		name string
		s    *startup
	}{{"cold (empty data dir)", rep.Startup.Cold}, {"warm (restart on the run's data)", rep.Startup.Warm}} {
		if s.s != nil {
			fmt.Fprintf(w, "reportit start-up, %s: listening after %s, ready (/readyz 200) after %s\n", s.name, ms(s.s.Listening), ms(s.s.Ready))
		}
	}
}

func (rep *report) printVerify(w io.Writer) {
	fmt.Fprintln(w, "\nverification (no acknowledged report may be missing):")
	for _, r := range rep.Rows {
		for _, f := range r.Verify {
			fmt.Fprintf(w, "  %-4s %s %s: %s\n", f.Level, r.Target, r.Scenario, f.Text)
		}
	}
	for _, f := range rep.Verify {
		fmt.Fprintf(w, "  %-4s after shutdown: %s\n", f.Level, f.Text)
	}
}

func (rep *report) printTargets(w io.Writer, o options) {
	fmt.Fprintln(w, "\ntargets (issue 6):")
	line := func(met bool, format string, a ...any) {
		verdict := "MISSED"
		if met {
			verdict = "met"
		}
		fmt.Fprintf(w, "  %-6s %s\n", verdict, fmt.Sprintf(format, a...))
	}
	best, bestBase := rep.bestSaturation("reportit"), rep.bestSaturation("baseline")
	if best != nil {
		want := 10_000.0
		if o.mode == "postgres" {
			want = 5_000
		}
		s := best.Summary
		line(s.SuccessRate() >= want, "%s saturation: %.0f 202/s (%.0f new reports/s) at %s, target >= %.0f",
			o.mode, s.SuccessRate(), float64(s.Measured.Accepted)/s.Elapsed.Seconds(), best.Scenario, want)
		if bestBase != nil {
			ratio := s.SuccessRate() / bestBase.Summary.SuccessRate()
			line(ratio >= 0.25, "share of the baseline: %.1f%% (%.0f/s vs the baseline's best %.0f/s at %s), target >= 25%%",
				100*ratio, s.SuccessRate(), bestBase.Summary.SuccessRate(), bestBase.Scenario)
		}
		var rss uint64
		for _, r := range rep.Rows {
			if r.Target == "reportit" && r.Conns > 0 {
				rss = max(rss, r.PeakRSS)
			}
		}
		line(rss < 150<<20, "server peak RSS at saturation: %s, target < 150 MB", mb(rss))
	}
	if r := rep.row("reportit", "rate-2000"); r != nil {
		s := r.Summary
		line(s.Latency.P99 < 20*time.Millisecond, "p99 at 2,000/s offered: %s (202s only: %s; achieved %.0f/s), target < 20 ms",
			ms(s.Latency.P99), ms(s.AcceptedLatency.P99), s.Rate())
	}
	if d := rep.Delivery; d != nil && d.Drained {
		line(d.Drain < time.Minute, "delivery: %d reports drained in %.1f s (%.0f reports/s), target < 60 s for 100,000", d.Backlog, d.Drain.Seconds(), d.ReportsPer)
	}
	if c := rep.Startup.Cold; c != nil {
		warm := "n/a"
		if rep.Startup.Warm != nil {
			warm = ms(rep.Startup.Warm.Ready)
		}
		line(c.Ready < 300*time.Millisecond, "start-up to ready: %s cold, %s warm, target < 300 ms", ms(c.Ready), warm)
	}
	fmt.Fprintln(w, "  (allocations before storage < 40/request: see the allocs/req column, which counts the whole server,")
	fmt.Fprintln(w, "   storage included, and the allocation profiles with -profile)")
}

func (rep *report) printProfiles(w io.Writer) {
	for _, r := range rep.Rows {
		if r.Profile == "" {
			continue
		}
		fmt.Fprintf(w, "\nCPU profile of %s at %s: %s (allocations: %s, diff with -base %s)\n",
			r.Target, r.Scenario, r.Profile, r.AllocsProfile, strings.Replace(r.AllocsProfile, "-after", "-before", 1))
		lines := strings.Split(r.ProfileTop, "\n")
		// The header and the heaviest functions; the file has 40.
		for i, l := range lines {
			if i >= 26 {
				break
			}
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

func (rep *report) row(target, scenario string) *row {
	for _, r := range rep.Rows {
		if r.Target == target && r.Scenario == scenario {
			return r
		}
	}
	return nil
}

func (rep *report) bestSaturation(target string) *row {
	var best *row
	for _, r := range rep.Rows {
		if r.Target == target && r.Conns > 0 && (best == nil || r.Summary.SuccessRate() > best.Summary.SuccessRate()) {
			best = r
		}
	}
	return best
}

func (rep *report) failed() bool {
	if d := rep.Delivery; d != nil {
		if d.Error != "" {
			return true
		}
		for _, f := range d.Verify {
			if f.Level == "fail" {
				return true
			}
		}
	}
	for _, r := range rep.Rows {
		for _, f := range r.Verify {
			if f.Level == "fail" {
				return true
			}
		}
	}
	for _, f := range rep.Verify {
		if f.Level == "fail" {
			return true
		}
	}
	return false
}

func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
}

func mb(b uint64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0fMB", float64(b)/(1<<20))
}

func cores(cpu, window time.Duration) string {
	if window <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()/window.Seconds())
}

// redactURL hides a URL's password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

// fileSystem names the mount holding path, from /proc/mounts: the longest
// mount point that is a prefix of it.
func fileSystem(path string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	best, fs := -1, ""
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, fs = len(mp), f[2]+" ("+f[0]+")"
		}
	}
	return fs
}
