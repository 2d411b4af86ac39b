//go:build linux

package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/faultfs"
	"github.com/reportit/reportit/internal/report"
)

// Issue 7 at the store level: fsync failing (over a faultfs FUSE mount),
// and a real full disk (a small tmpfs). Both need root to mount and skip
// without it.

// TestFsyncFailureAcknowledgesNothing: while fsync fails, no accept, no
// delivery op and no job is acknowledged, and nothing of them is visible;
// once fsync works again the very next write succeeds on the same
// connection (SQLite rolls the failed COMMIT back and resets its pager),
// and a reopened database holds exactly what was acknowledged.
func TestFsyncFailureAcknowledgesNothing(t *testing.T) {
	fsys, _ := faultfs.ForTest(t)
	path := filepath.Join(fsys.Mountpoint(), "reports.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	before := newReports(t, 3)
	for _, r := range before {
		mustAccept(t, s, r)
	}

	fsys.FailFsync(syscall.EIO)
	failed := newReports(t, 8)
	for _, err := range acceptAsync(s, failed)() {
		if !errors.Is(err, report.ErrUnavailable) {
			t.Fatalf("accept while fsync fails: %v, want ErrUnavailable", err)
		}
	}
	for _, r := range failed {
		if stored(t, s, r.Reference) {
			t.Fatalf("report %s is visible although its commit failed", r.Reference)
		}
	}
	if _, err := s.Claim(ctx, t0.Add(time.Hour), 10, time.Minute); !errors.Is(err, report.ErrUnavailable) {
		t.Fatalf("claim while fsync fails: %v, want ErrUnavailable", err)
	}
	if _, err := s.PurgeIdempotency(ctx, t0.Add(48*time.Hour)); !errors.Is(err, report.ErrUnavailable) {
		t.Fatalf("purge while fsync fails: %v, want ErrUnavailable", err)
	}
	if fsys.Stats().Failed == 0 {
		t.Fatal("no fsync failed: the fault was not injected")
	}

	fsys.FailFsync(0)
	after := newReport(t)
	mustAccept(t, s, after)
	jobs, err := s.Claim(ctx, t0.Add(time.Hour), 10, time.Minute)
	if err != nil || len(jobs) != len(before)+1 {
		t.Fatalf("claim after recovery: %d jobs, %v; want %d", len(jobs), err, len(before)+1)
	}
	// The reports that failed can be sent again with their keys.
	for _, r := range failed[:2] {
		if acc := mustAccept(t, s, r); acc.Replayed {
			t.Fatalf("report %s whose commit failed is answered as a replay", r.Reference)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, r := range append(append(before, after), failed[:2]...) {
		if !stored(t, s2, r.Reference) {
			t.Errorf("acknowledged report %s missing after reopening", r.Reference)
		}
	}
	for _, r := range failed[2:] {
		if stored(t, s2, r.Reference) {
			t.Errorf("report %s stored although its commit failed", r.Reference)
		}
	}
	if err := s2.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("fsyncs %+v; store %+v", fsys.Stats(), s.Stats())
}

// TestDiskFullGivesWALSpaceBack fills a small tmpfs, then gives space
// back in two steps. The checkpointer is off (it ticks only when called),
// so only the writer can give the WAL's space back.
//
// A little space back, less than the checkpoint needs to copy the WAL into
// the database file: the writer must not let the WAL take it (it refuses
// writes while its TRUNCATE checkpoint fails for want of space), or no
// amount of space coming back bit by bit would ever be enough. All the
// space back: the very next report is stored, and the WAL was truncated.
func TestDiskFullGivesWALSpaceBack(t *testing.T) {
	dir := faultfs.TmpfsForTest(t, "3m")
	path := filepath.Join(dir, "reports.db")
	s, err := Open(path, withCheckpointer(1<<30))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, faultfs.FreeBytes(t, dir)-512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	accept := func() error {
		_, err := s.Accept(context.Background(), newReport(t), report.DedupWindow)
		if err != nil && !errors.Is(err, report.ErrUnavailable) {
			t.Fatalf("accept: %v", err)
		}
		return err
	}

	var stored int
	for accept() == nil {
		stored++
		if stored > 10000 {
			t.Fatal("the disk does not fill")
		}
	}
	for range 10 {
		if accept() == nil {
			t.Fatal("a report was stored with the disk full")
		}
	}
	wal := mustSize(t, path+"-wal")

	// 32 KiB back: too little for the WAL's pages in the database file.
	if err := os.Truncate(ballast, mustSize(t, ballast)-32<<10); err != nil {
		t.Fatal(err)
	}
	db := mustSize(t, path)
	for range 20 {
		if accept() == nil {
			stored++ // only once the checkpoint got through
		}
	}
	// The checkpoint copies what it can into the database file before it
	// runs out of space again; the WAL must not grow.
	if st := s.Stats(); st.WALTruncations == 0 {
		if got := mustSize(t, path+"-wal"); got > wal {
			t.Errorf("the WAL grew from %d to %d bytes into the space given back", wal, got)
		}
	}
	t.Logf("with 32 KiB back: database file %d -> %d bytes, WAL %d -> %d, %d bytes free",
		db, mustSize(t, path), wal, mustSize(t, path+"-wal"), faultfs.FreeBytes(t, dir))

	// All the space back.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if err := accept(); err != nil {
		t.Fatalf("first report after the disk has room again: %v", err)
	}
	stored++
	st := s.Stats()
	if st.WALTruncations == 0 {
		t.Errorf("the writer did not truncate the WAL: %+v", st)
	}
	if got := mustSize(t, path+"-wal"); got >= wal {
		t.Errorf("WAL %d bytes after the truncation and one report, %d before", got, wal)
	}
	for range 50 {
		if err := accept(); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		stored++
	}
	if n := countRows(t, s, "SELECT count(*) FROM reports"); n != stored {
		t.Errorf("%d reports in the database, %d acknowledged", n, stored)
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reports stored; WAL %d bytes when full; %+v", stored, wal, st)
}

func mustSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
