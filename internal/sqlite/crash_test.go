package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

const crashEnv = "REPORTIT_SQLITE_CRASH_DB"

// TestCrashKeepsAcknowledged kills a process that is accepting reports and
// delivering them (SIGKILL, mid-batch) and checks that every report it had
// acknowledged is in the database afterwards with its delivery job, that
// every completion it had acknowledged stuck, that reports and jobs agree,
// and that the database is sound. It covers a process crash; a power loss
// is what synchronous=FULL is for, checked in TestPragmas.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "reports.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const acks, completions = 500, 300
	var refs []string
	done := map[string]string{} // report id: the last outcome acknowledged
	ndone := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() && (len(refs) < acks || ndone < completions) {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "ACK":
			refs = append(refs, f[1])
		case len(f) == 3 && f[0] == "DONE":
			done[f[1]] = f[2]
			ndone++
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(refs) < acks || ndone < completions {
		t.Fatalf("child acknowledged only %d reports and %d completions before ending", len(refs), ndone)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		if !stored(t, s, ref) {
			t.Errorf("acknowledged report %s lost in the crash", ref)
		}
	}
	for _, c := range []struct{ what, query string }{
		{"primaries without a job", `SELECT count(*) FROM reports AS r
			WHERE r.primary_id = r.id AND NOT EXISTS (SELECT 1 FROM deliveries AS d WHERE d.report_id = r.id)`},
		{"jobs of sightings", `SELECT count(*) FROM deliveries AS d JOIN reports AS r ON r.id = d.report_id
			WHERE r.primary_id <> r.id`},
		{"jobs whose state disagrees with their report's status", `SELECT count(*) FROM deliveries AS d
			JOIN reports AS r ON r.id = d.report_id
			WHERE r.status <> CASE d.state WHEN 'delivered' THEN 'delivered' WHEN 'use_form' THEN 'use_hotline_form' ELSE 'accepted' END
			   OR (r.status = 'accepted') <> (r.delivered_at IS NULL)
			   OR d.hotline_id <> r.hotline_id`},
	} {
		if n := countRows(t, s, c.query); n != 0 {
			t.Errorf("%d %s", n, c.what)
		}
	}
	final := map[string]string{"delivered": "delivered", "dead": "dead", "use_form": "use_form", "await_pull": "awaiting_pull"}
	for id, kind := range done {
		want, ok := final[kind]
		if !ok {
			continue // a retry: the job may have moved on since
		}
		var state string
		if err := s.rdb.QueryRow("SELECT state FROM deliveries WHERE report_id = ?", id).Scan(&state); err != nil {
			t.Fatalf("job of %s: %v", id, err)
		}
		if state != want {
			t.Errorf("job of %s is %s, but completing it %s was acknowledged", id, state, kind)
		}
	}

	// Nothing is stuck: with the dead process's leases released, every
	// pending job can be claimed.
	now := time.Now()
	if _, err := s.ReleaseLeases(ctx, now); err != nil {
		t.Fatal(err)
	}
	pending := countRows(t, s, "SELECT count(*) FROM deliveries WHERE state = 'pending'")
	claimed := 0
	for {
		jobs, err := s.Claim(ctx, now.Add(time.Hour), MaxClaim, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		claimed += len(jobs)
	}
	if claimed != pending {
		t.Errorf("claimed %d jobs after the crash, %d pending", claimed, pending)
	}
	t.Logf("%d reports and %d completions acknowledged; %d jobs pending at the crash", len(refs), ndone, pending)
}

// TestCrashChild is the process TestCrashKeepsAcknowledged kills. It
// accepts reports from many goroutines, one in four a sighting, and prints
// each reference once Accept has returned; meanwhile a dispatcher claims
// due jobs and completes them with mixed outcomes, printing each once
// Complete has returned. It runs until it is killed or its output closed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrashKeepsAcknowledged")
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	emit := func(format string, args ...any) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return err
		}
		return w.Flush()
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				r := newReport(t)
				r.ReceivedAt = time.Now()
				if i%4 == 0 {
					r.URLKey = fmt.Sprintf("urlkey-crash-%d", g%8)
				}
				if _, err := s.Accept(ctx, r, report.DedupWindow); err != nil {
					return
				}
				if emit("ACK %s\n", r.Reference) != nil {
					stop() // the parent has gone
				}
			}
		})
	}
	outcomes := []report.DeliveryKind{report.DeliveryDone, report.DeliveryDone, report.DeliveryDone,
		report.DeliveryRetry, report.DeliveryRetry, report.DeliveryDead, report.DeliveryUseForm, report.DeliveryAwaitPull}
	work := make(chan report.DeliveryJob)
	for range 64 {
		wg.Go(func() {
			for j := range work {
				kind := outcomes[rand.IntN(len(outcomes))]
				now := time.Now()
				r := report.DeliveryResult{Kind: kind, At: now, Reference: "HOT-" + j.ReportID, Reason: "crash test", Attempted: true}
				if kind == report.DeliveryRetry {
					r.At = now.Add(time.Millisecond)
				}
				if s.Complete(context.Background(), j, r) != nil {
					continue
				}
				if emit("DONE %s %s\n", j.ReportID, kind) != nil {
					stop()
				}
			}
		})
	}
	for ctx.Err() == nil {
		jobs, err := s.Claim(ctx, time.Now(), 256, time.Minute)
		if err != nil {
			break
		}
		for _, j := range jobs {
			work <- j
		}
		if len(jobs) == 0 {
			select {
			case <-s.Wake():
			case <-time.After(5 * time.Millisecond): // retries come due without a signal
			case <-ctx.Done():
			}
		}
	}
	close(work)
	wg.Wait()
	s.Close()
}
