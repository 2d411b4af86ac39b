package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/reportit/reportit/internal/report"
)

const crashEnv = "REPORTIT_SQLITE_CRASH_DB"

// TestCrashKeepsAcknowledged kills a process that is accepting reports
// (SIGKILL, mid-batch) and checks that every report it had acknowledged is
// in the database afterwards, and that the database is sound. It covers a
// process crash; a power loss is what synchronous=FULL is for, checked in
// TestPragmas.
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
	const acks = 500
	var refs []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(refs) < acks {
		if ref, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			refs = append(refs, ref)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(refs) < acks {
		t.Fatalf("child acknowledged only %d reports before ending", len(refs))
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		if !stored(t, s, ref) {
			t.Errorf("acknowledged report %s lost in the crash", ref)
		}
	}
}

// TestCrashChild is the process TestCrashKeepsAcknowledged kills. It
// accepts reports from many goroutines and prints each reference once
// Accept has returned, until it is killed or its output is closed.
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
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := 0; i < 100000; i++ {
				r := newReport(t)
				if _, err := s.Accept(context.Background(), r, report.DedupWindow); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				_, err := fmt.Fprintf(w, "ACK %s\n", r.Reference)
				if err == nil {
					err = w.Flush()
				}
				mu.Unlock()
				if err != nil {
					return // the parent has gone
				}
			}
		})
	}
	wg.Wait()
	s.Close()
}
