package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reportit/reportit/internal/report"
)

// BenchmarkAcceptMix measures what the writer costs per report with the
// keys the service really writes (UUIDv7 ids, random references, SHA-256
// URL keys, HMAC idempotency keys, reportit-bench's hotlines) and the mix
// of the end-to-end benchmark (10% duplicates of recent URLs, 2% idempotent
// retries), from 64 concurrent callers, as reportit-bench's sat-64.
//
// REPORTIT_BENCH_PRELOAD reports (none by default, so that make bench-go
// stays quick) are stored first, before the timer starts: with 100,000 the
// random keys land in trees larger than the writer's cache, as in service.
// The preload is repeated for every b.N the testing package tries, so give
// a fixed count: -benchtime 30000x.
//
// Besides ns/op (wall clock, noisy on a shared machine) it reports what
// holds still under load: the process's CPU time per report (user+sys,
// from getrusage; the callers' own share is small), the bytes it wrote per
// report (WAL frames and checkpoints, /proc/self/io wchar) and its write
// system calls per report.
func BenchmarkAcceptMix(b *testing.B) {
	preload := benchPreload()
	s, err := Open(filepath.Join(b.TempDir(), "reports.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	g := newMixGen()
	run := func(n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					r, replay := g.next()
					acc, err := s.Accept(context.Background(), r, report.DedupWindow)
					if err != nil && !(replay && errors.Is(err, report.ErrIdempotencyConflict)) {
						b.Error(err)
						return
					}
					if err == nil && !acc.Replayed {
						g.stored(r)
					}
				}
			})
		}
		wg.Wait()
	}
	run(preload)
	before := s.Stats()
	cpu0, w0, c0 := processCPU(), procIO("wchar"), procIO("syscw")
	b.ResetTimer()
	run(b.N)
	b.StopTimer()
	cpu1, w1, c1 := processCPU(), procIO("wchar"), procIO("syscw")
	after := s.Stats()
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/report")
	b.ReportMetric(float64(w1-w0)/float64(b.N), "wbytes/report")
	b.ReportMetric(float64(c1-c0)/float64(b.N), "writes/report")
	if n := after.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(after.Reports-before.Reports)/float64(n), "reports/commit")
	}
}

// mixGen makes the reports of BenchmarkAcceptMix.
type mixGen struct {
	mu     sync.Mutex
	recent [1024]report.NewReport // stored reports, for duplicates
	nrec   int
	sent   [64]report.NewReport // for idempotent retries
	nsent  int
	i      int
}

func newMixGen() *mixGen { return &mixGen{} }

// benchHotlines spread reports as reportit-bench's mix does: eleven
// hotlines, one of them three times as often as the others.
var benchHotlines = []string{
	"de-eco", "de-eco", "de-eco", "fr-pointdecontact", "at-stopline", "be-childfocus", "it-telefonoazzurro",
	"ca-cybertip", "au-esafety", "br-safernet", "dk-redbarnet", "fi-pelastakaalapset",
}

func (g *mixGen) next() (r report.NewReport, replay bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.i++
	switch {
	case g.i%50 == 0 && g.nsent > 0: // 2%: the same request again
		return g.sent[randN(min(g.nsent, len(g.sent)))], true
	case g.i%10 == 1 && g.nrec > 0: // 10%: a duplicate of a recent URL
		p := g.recent[randN(min(g.nrec, len(g.recent)))]
		r = benchReport()
		r.URL, r.URLKey, r.HotlineID, r.Country = p.URL, p.URLKey, p.HotlineID, p.Country
	default:
		r = benchReport()
	}
	g.sent[g.nsent%len(g.sent)] = r
	g.nsent++
	return r, false
}

func (g *mixGen) stored(r report.NewReport) {
	g.mu.Lock()
	g.recent[g.nrec%len(g.recent)] = r
	g.nrec++
	g.mu.Unlock()
}

func randN(n int) int {
	var b [8]byte
	rand.Read(b[:])
	return int(binary.BigEndian.Uint64(b[:]) % uint64(n))
}

// benchReport is a new report as intake builds it.
func benchReport() report.NewReport {
	var b [48]byte
	rand.Read(b[:])
	host := hex.EncodeToString(b[:4])
	url := "https://" + host + ".example/path/" + hex.EncodeToString(b[4:12])
	sum := sha256.Sum256([]byte(url))
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	ref := []byte("RIT-XXXX-XXXX-XXXX")
	v := binary.BigEndian.Uint64(b[12:20])
	for i := len(ref) - 1; i >= 4; i-- {
		if ref[i] != '-' {
			ref[i] = crockford[v&31]
			v >>= 5
		}
	}
	fp := sha256.Sum256(b[20:40])
	r := report.NewReport{
		Report: report.Report{
			ID:          uuid.Must(uuid.NewV7()).String(),
			Reference:   string(ref),
			URL:         url,
			URLKey:      hex.EncodeToString(sum[:]),
			ContentType: report.ContentImage, Category: report.CategoryCSAM,
			Country:    "DE",
			HotlineID:  benchHotlines[int(b[40])%len(benchHotlines)],
			Client:     report.Client{Name: "reportit-extension", Version: "1.4.0"},
			ReceivedAt: time.Now(),
		},
		IdempotencyKey: base64.RawURLEncoding.EncodeToString(b[20:38]),
		Fingerprint:    hex.EncodeToString(fp[:]),
	}
	if b[41]&1 == 0 {
		r.PageURL = "https://" + host + ".example/"
	}
	if b[42]%4 == 0 {
		r.Comment = "seen in a forum thread, posted again and again"
	}
	return r
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procIO reads one counter of /proc/self/io (0 where there is none).
func procIO(name string) int64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkWriteBatch drives the writer's batch path from one goroutine,
// with batches of a fixed size and a PASSIVE checkpoint every
// checkpointBatches batches, so that its work per report is the same from
// run to run: for CPU time on a busy machine, and for instruction counts
// (user space), which hold still to a fraction of a percent. For those, run
// the test binary under "GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 valgrind
// --tool=callgrind" (without GOMAXPROCS=1 idle threads spinning while the
// writer waits for fsync make the count vary), and take the difference of
// a run with -test.benchtime 5120x and one with 1x.
//
// REPORTIT_BENCH_PRELOAD reports (none by default) are stored first, the
// same way. With REPORTIT_BENCH_TEMPLATE set to a file name, the database
// after the preload is saved there, and later runs start from a copy of it
// instead:
//
//	REPORTIT_BENCH_TEMPLATE=/tmp/t.db REPORTIT_BENCH_PRELOAD=100000 \
//	  go test -run '^$' -bench WriteBatch -benchtime 10240x ./internal/sqlite/
//
// REPORTIT_BENCH_CHECKPOINT_BATCHES changes the checkpoint period.
func BenchmarkWriteBatch(b *testing.B) {
	preload := benchPreload()
	path := filepath.Join(b.TempDir(), "reports.db")
	template := os.Getenv("REPORTIT_BENCH_TEMPLATE")
	if template != "" {
		if data, err := os.ReadFile(template); err == nil {
			if err := os.WriteFile(path, data, 0o600); err != nil {
				b.Fatal(err)
			}
			preload = 0
		}
	}
	noCheckpointer := func(o *options) { o.checkpointEvery = 0 }
	s, err := Open(path, noCheckpointer)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { s.Close() }()
	w := &batchWriter{b: b, s: s, g: newMixGen(), bt: &batch{}}
	if preload > 0 {
		w.write(preload)
		if template != "" {
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(template, data, 0o600); err != nil {
				b.Fatal(err)
			}
			if s, err = Open(path, noCheckpointer); err != nil {
				b.Fatal(err)
			}
			w.s = s
		}
	}
	before := s.Stats()
	cpu0, w0, c0 := processCPU(), procIO("wchar"), procIO("syscw")
	b.ResetTimer()
	w.write(b.N)
	b.StopTimer()
	cpu1, w1, c1 := processCPU(), procIO("wchar"), procIO("syscw")
	after := s.Stats()
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/report")
	b.ReportMetric(float64(w1-w0)/float64(b.N), "wbytes/report")
	b.ReportMetric(float64(c1-c0)/float64(b.N), "writes/report")
	b.ReportMetric(float64(after.Reports-before.Reports)/float64(b.N), "stored/report")
}

// batchWriter writes the reports of BenchmarkWriteBatch.
type batchWriter struct {
	b       *testing.B
	s       *Store
	g       *mixGen
	bt      *batch
	batches int
}

func (w *batchWriter) write(n int) {
	// 80 batches of 32 are 250 ms (the checkpointer's period) at 10,000
	// reports/s.
	const size = 32
	checkpointBatches := 80
	if v, err := strconv.Atoi(os.Getenv("REPORTIT_BENCH_CHECKPOINT_BATCHES")); err == nil && v > 0 {
		checkpointBatches = v
	}
	for n > 0 {
		k := min(n, size)
		n -= k
		for range k {
			r, _ := w.g.next()
			w.bt.accepts = append(w.bt.accepts, &acceptReq{ctx: context.Background(), r: r, window: report.DedupWindow, done: make(chan struct{})})
		}
		w.s.commitBatch(w.bt)
		for _, req := range w.bt.accepts {
			if req.err != nil && !errors.Is(req.err, report.ErrIdempotencyConflict) {
				w.b.Fatal(req.err)
			}
			if req.err == nil && req.stored {
				w.g.stored(req.r)
			}
		}
		w.bt.reset()
		if w.batches++; w.batches%checkpointBatches == 0 {
			w.s.ckpt.tick()
		}
	}
}

// benchPreload is REPORTIT_BENCH_PRELOAD, 0 when not set.
func benchPreload() int {
	n, _ := strconv.Atoi(os.Getenv("REPORTIT_BENCH_PRELOAD"))
	return max(n, 0)
}
