// Command reportit-bench measures reportit's report intake on this machine,
// side by side with what a bare Gin handler does on the same machine in the
// same run (issue 6).
//
//	go run ./bench/cmd/reportit-bench                       # sqlite, 2,000/s and saturation at 64 and 256 conns
//	go run ./bench/cmd/reportit-bench -rates 1000,2000,5000 -conns 32,128,256 -duration 20s
//	go run ./bench/cmd/reportit-bench -profile /tmp/prof    # CPU and allocation profiles at saturation
//	go run ./bench/cmd/reportit-bench -mode postgres        # PostgreSQL + Redis on this machine, fresh database
//	go run ./bench/cmd/reportit-bench -delivery             # also drain a 100,000-report backlog to the intake portal
//
// It builds the server (./server), the baseline (bench/cmd/baseline) and the
// load generator (bench/cmd/loadgen) from this tree, starts each server in a
// temporary directory on embedded defaults (rate limits raised far above the
// load), and runs the load generator as a separate process per scenario:
// fixed rates (open loop) and saturation (closed loop, N connections). It
// prints one table row per scenario and checks afterwards that every report
// acknowledged with a 202 was stored: by the server's counters after each
// scenario, and by reading the database (SQLite or PostgreSQL) after a graceful
// shutdown. A run that lost a report, or accepted an invalid one, exits 1.
//
// With -mode postgres, each server gets a database of its own, created on
// the PostgreSQL server -database-url names and dropped afterwards, and
// its rate limits count in an empty Redis database, whose keys are deleted
// afterwards. With -delivery, a backlog of reports is built while the
// reference intake portal (reportit intake-sim) hangs, and then timed as
// it drains to the portal (see delivery.go).
//
// See bench/README.md for how to read the output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reportit/reportit/bench/internal/procfs"
)

type options struct {
	duration, warmup, pause time.Duration
	rates, conns            []int
	mode                    string
	databaseURL, redisURL   string
	tokens                  int
	seed                    uint64
	baseline, delivery      bool
	backlog, fillConns      int
	drainTimeout            time.Duration
	profileDir              string
	keep                    bool
	jsonOut                 string
	rev, serverSrc          string
	tmpDir                  string
}

func main() {
	var o options
	var rates, conns string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each scenario")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up at 500/s before each scenario (not measured, but verified)")
	flag.DurationVar(&o.pause, "pause", time.Second, "pause between scenarios, to let the machine settle")
	flag.StringVar(&rates, "rates", "2000", "comma-separated fixed rates (requests/s, open loop); empty for none")
	flag.StringVar(&conns, "conns", "64,256", "comma-separated connection counts for saturation (closed loop); empty for none")
	flag.StringVar(&o.mode, "mode", "sqlite", "sqlite (embedded defaults) or postgres (PostgreSQL and Redis: -database-url, -redis-url)")
	flag.StringVar(&o.databaseURL, "database-url", envOr("REPORTIT_DATABASE_URL", defaultDatabaseURL), "-mode postgres: the PostgreSQL server; each server of the run gets a new database reportit_bench_<random> on it, dropped afterwards")
	flag.StringVar(&o.redisURL, "redis-url", envOr("REPORTIT_REDIS_URL", defaultRedisURL), "-mode postgres: the Redis server; without a /N database, an empty one is picked; the run's keys are deleted afterwards")
	flag.IntVar(&o.tokens, "tokens", 200, "installations (tokens) the load is spread over")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the request mix")
	flag.BoolVar(&o.baseline, "baseline", true, "also measure the bare Gin baseline")
	flag.BoolVar(&o.delivery, "delivery", false, "also measure how fast a backlog of -backlog reports drains to the reference intake portal")
	flag.IntVar(&o.backlog, "backlog", 100_000, "-delivery: reports in the backlog")
	flag.IntVar(&o.fillConns, "fill-conns", 64, "-delivery: connections that submit the backlog")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 5*time.Minute, "-delivery: give up waiting for the backlog to drain after this")
	flag.StringVar(&o.profileDir, "profile", "", "directory for CPU and allocation profiles of both servers at saturation")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (data, logs, summaries)")
	flag.StringVar(&o.jsonOut, "json", "", "also write every figure as JSON to this file")
	flag.StringVar(&o.tmpDir, "tmpdir", os.TempDir(), "where to make the run's temporary directory (the server's data dir is in it: its disk decides what fsync costs)")
	flag.StringVar(&o.rev, "rev", "", "build the server from this git revision (e.g. HEAD) instead of the working tree")
	flag.StringVar(&o.serverSrc, "server-src", "", "build the server from this copy of the repository instead (to try a change without touching the tree)")
	flag.Parse()

	var err error
	if o.rates, err = parseInts(rates); err == nil {
		o.conns, err = parseInts(conns)
	}
	if err == nil {
		err = o.validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "reportit-bench: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, o)
	stop()
	os.Exit(code)
}

func (o *options) validate() error {
	switch o.mode {
	case "sqlite":
	case "postgres":
		if o.databaseURL == "" || o.redisURL == "" {
			return errors.New("-mode postgres needs -database-url and -redis-url")
		}
	default:
		return fmt.Errorf("-mode %q: want sqlite or postgres", o.mode)
	}
	if o.rev != "" && o.serverSrc != "" {
		return errors.New("-rev and -server-src exclude each other")
	}
	if len(o.rates) == 0 && len(o.conns) == 0 && !o.delivery {
		return errors.New("nothing to run: -rates and -conns are both empty, and no -delivery")
	}
	if o.delivery && (o.backlog < 1 || o.fillConns < 1 || o.drainTimeout <= 0) {
		return errors.New("-backlog, -fill-conns and -drain-timeout must be positive")
	}
	if o.duration < 2*time.Second {
		return errors.New("-duration must be at least 2s")
	}
	if o.tokens < 1 {
		return errors.New("-tokens must be at least 1")
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// scenario is one measurement: a fixed rate, or saturation with conns.
type scenario struct {
	name  string
	rate  int // requests/s; 0 at saturation
	conns int // at saturation
}

func (o *options) scenarios() []scenario {
	var out []scenario
	for _, r := range o.rates {
		out = append(out, scenario{name: fmt.Sprintf("rate-%d", r), rate: r})
	}
	for _, c := range o.conns {
		out = append(out, scenario{name: fmt.Sprintf("sat-%d", c), conns: c})
	}
	return out
}

func run(ctx context.Context, o options) int {
	root, err := moduleRoot(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reportit-bench: %v\n", err)
		return 1
	}
	tmp, err := os.MkdirTemp(o.tmpDir, "reportit-bench-*")
	if err != nil {
		fmt.Fprintf(os.Stderr, "reportit-bench: %v\n", err)
		return 1
	}
	// The directory (server logs, summaries, the database) is kept when
	// asked for or when the run failed, for looking into why.
	keep := o.keep
	defer func() {
		if keep {
			fmt.Fprintf(os.Stderr, "kept %s\n", tmp)
		} else {
			os.RemoveAll(tmp)
		}
	}()
	if o.profileDir != "" {
		if o.profileDir, err = filepath.Abs(o.profileDir); err == nil {
			err = os.MkdirAll(o.profileDir, 0o755)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "reportit-bench: -profile: %v\n", err)
			return 1
		}
	}

	r := &runner{o: o, root: root, tmp: tmp, rep: &report{Mode: o.mode, Env: environment(ctx, root, filepath.Join(tmp, "data"))}}
	if o.mode == "postgres" {
		// Both servers are checked before anything is built: a missing
		// PostgreSQL or Redis should fail the run at once.
		if err := pgExec(ctx, o.databaseURL, "SELECT 1"); err != nil {
			fmt.Fprintf(os.Stderr, "reportit-bench: PostgreSQL (-database-url): %v\n", err)
			return 1
		}
		if r.redis, err = pickRedisDB(ctx, o.redisURL); err != nil {
			fmt.Fprintf(os.Stderr, "reportit-bench: %v\n", err)
			return 1
		}
		r.rep.RedisDB = r.redis.opts.DB
		defer func() {
			if n, err := r.redis.cleanup(); err != nil {
				fmt.Fprintf(os.Stderr, "reportit-bench: deleting the run's Redis keys in database %d: %v\n", r.redis.opts.DB, err)
			} else {
				fmt.Fprintf(os.Stderr, "deleted the run's %d Redis keys in database %d\n", n, r.redis.opts.DB)
			}
		}()
	}
	serverRoot := root
	if o.serverSrc != "" {
		if serverRoot, err = filepath.Abs(o.serverSrc); err != nil {
			fmt.Fprintf(os.Stderr, "reportit-bench: %v\n", err)
			return 1
		}
		r.rep.ServerSource = serverRoot
	}
	if o.rev != "" {
		serverRoot = filepath.Join(tmp, "src")
		if r.rep.ServerCommit, err = snapshotRev(ctx, root, o.rev, serverRoot); err != nil {
			fmt.Fprintf(os.Stderr, "reportit-bench: %v\n", err)
			keep = true
			return 1
		}
	}
	r.rep.printHeader(os.Stdout, o)
	fmt.Fprintln(os.Stderr, "building server, baseline and load generator…")
	if r.bin, err = build(ctx, root, serverRoot, filepath.Join(tmp, "bin"), o.profileDir != ""); err != nil {
		fmt.Fprintf(os.Stderr, "reportit-bench: %v\n", err)
		keep = true
		return 1
	}
	err = r.runAll(ctx)
	r.rep.LoadAfter, _ = loadAverage()
	r.rep.CPUPressureAfter, _ = procfs.Pressure("cpu")
	r.rep.IOPressureAfter, _ = procfs.Pressure("io")
	r.rep.print(os.Stdout, o)
	if o.jsonOut != "" {
		if jerr := r.rep.writeJSON(o.jsonOut); jerr != nil {
			fmt.Fprintf(os.Stderr, "reportit-bench: -json: %v\n", jerr)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "reportit-bench: %v\n", err)
		keep = true
		return 1
	}
	if r.rep.failed() {
		keep = true
		return 1
	}
	return 0
}
