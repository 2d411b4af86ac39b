package riverspike

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
)

// skipUnlessEnabled keeps these slow, machine-dependent measurements out of
// the normal suite.
func skipUnlessEnabled(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("riverspike: skipped under -short")
	}
	if os.Getenv("REPORTIT_RIVERSPIKE") == "" {
		t.Skip("riverspike: set REPORTIT_RIVERSPIKE=1 to run the River measurements")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// drainConfig is one MaxWorkers/FetchCooldown point of the drain matrix.
type drainConfig struct {
	maxWorkers int
	cooldown   time.Duration
}

// drainMatrix reads REPORTIT_RIVERSPIKE_DRAIN as "workers/cooldown,..."
// (e.g. "100/100ms,1000/10ms").
func drainMatrix(t *testing.T, def string) []drainConfig {
	t.Helper()
	spec := os.Getenv("REPORTIT_RIVERSPIKE_DRAIN")
	if spec == "" {
		spec = def
	}
	var out []drainConfig
	for _, item := range strings.Split(spec, ",") {
		w, c, ok := strings.Cut(strings.TrimSpace(item), "/")
		if !ok {
			t.Fatalf("bad drain item %q, want workers/cooldown", item)
		}
		n, err := strconv.Atoi(w)
		if err != nil {
			t.Fatalf("bad drain workers %q: %v", w, err)
		}
		d, err := time.ParseDuration(c)
		if err != nil {
			t.Fatalf("bad drain cooldown %q: %v", c, err)
		}
		out = append(out, drainConfig{n, d})
	}
	return out
}

// deliverArgs stands in for the delivery job: which report to send.
type deliverArgs struct {
	ReportID int64  `json:"report_id"`
	Hotline  string `json:"hotline"`
}

func (deliverArgs) Kind() string { return "deliver" }

// deliverWorker counts jobs worked; with an HTTP target it POSTs to a
// loopback server first, like a push delivery without signing.
type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	worked *atomic.Int64
	client *http.Client
	target string
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	if w.target != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.target, bytes.NewReader(job.EncodedArgs))
		if err != nil {
			return err
		}
		resp, err := w.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
	}
	w.worked.Add(1)
	return nil
}

// newWorker returns the worker and, when REPORTIT_RIVERSPIKE_WORKER=http, a
// loopback server answering 204 that the caller must close.
func newWorker(t *testing.T) (*deliverWorker, *river.Workers) {
	t.Helper()
	w := &deliverWorker{worked: new(atomic.Int64)}
	if os.Getenv("REPORTIT_RIVERSPIKE_WORKER") == "http" {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 1024
		w.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
		w.target = srv.URL
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	return w, workers
}

// logCounter counts River's warning/error log lines, and those that name a
// locked database, so a run can say whether River hit SQLITE_BUSY.
type logCounter struct {
	mu     sync.Mutex
	lines  int
	busy   int
	sample []string
}

func (l *logCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines++
	s := string(p)
	if strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked") {
		l.busy++
	}
	if len(l.sample) < 3 {
		l.sample = append(l.sample, strings.TrimSpace(s))
	}
	return len(p), nil
}

func (l *logCounter) snapshot() (int, int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines, l.busy, append([]string(nil), l.sample...)
}

func (l *logCounter) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// jobMode is how a batch's delivery jobs are written.
type jobMode int

const (
	noJobs       jobMode = iota // reports only: the baseline
	insertFast                  // InsertManyFastTx: no rows returned
	insertReturn                // InsertManyTx: returns the job rows
	insertUnique                // InsertManyTx with UniqueOpts{ByArgs: true}
	outboxRow                   // our own outbox table: one plain INSERT per report
)

func (m jobMode) String() string {
	return [...]string{"reports only", "+ InsertManyFastTx", "+ InsertManyTx", "+ InsertManyTx unique(ByArgs)", "+ own outbox row (no River)"}[m]
}

func jobParams(ids []int64, mode jobMode) []river.InsertManyParams {
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i].Args = deliverArgs{ReportID: id, Hotline: "hotline-" + strconv.Itoa(int(id%8))}
		if mode == insertUnique {
			params[i].InsertOpts = &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
		}
	}
	return params
}

// waitFor polls cond every 200 ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return cond()
}

func rate(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() }
