package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// withCheckpointer replaces the checkpointer's timing: every 0 leaves it to
// the test to call tick.
func withCheckpointer(restartFrames int) Option {
	return func(o *options) { o.checkpointEvery, o.restartFrames = 0, restartFrames }
}

// walFrames returns the WAL's length in frames, read with a NOOP
// checkpoint, which copies nothing.
func walFrames(t *testing.T, s *Store) int {
	t.Helper()
	var busy, frames, done int
	if err := s.ckpt.db.QueryRow("PRAGMA wal_checkpoint(NOOP)").Scan(&busy, &frames, &done); err != nil {
		t.Fatal(err)
	}
	return frames
}

// TestCommitDoesNotCheckpoint: the writer's commits leave the WAL to the
// checkpointer, however long it gets (SQLite's own would checkpoint
// inside the commit that crosses 1,000 frames, and start the WAL over).
func TestCommitDoesNotCheckpoint(t *testing.T) {
	s := openTest(t, withCheckpointer(1<<30))
	var last int
	for i := 0; i < 400; i++ {
		mustAccept(t, s, newReport(t))
		frames := walFrames(t, s)
		if frames < last {
			t.Fatalf("WAL went from %d to %d frames after report %d: a commit checkpointed", last, frames, i)
		}
		last = frames
	}
	if last < 1000 {
		t.Fatalf("WAL holds %d frames after 400 reports; the test needs more than 1,000", last)
	}
}

// TestRestartBoundsWAL: once a PASSIVE checkpoint finds the WAL longer
// than the bound, the writer runs a RESTART, and the next commit writes
// from the start of the WAL again.
func TestRestartBoundsWAL(t *testing.T) {
	const bound = 200
	s := openTest(t, withCheckpointer(bound))
	for i := 0; walFrames(t, s) < bound; i++ {
		if i == 1000 {
			t.Fatal("WAL does not grow")
		}
		mustAccept(t, s, newReport(t))
	}
	if !s.ckpt.tick() {
		t.Fatal("tick reports the store closing")
	}
	if st := s.Stats(); st.Restarts != 1 || st.CheckpointErrors != 0 {
		t.Fatalf("Stats = %+v, want 1 restart and no checkpoint error", st)
	}
	// The RESTART ran with a short busy timeout; the writer's own is back.
	var ms int64
	if err := s.wdb.QueryRow(s.q.busyTimeout).Scan(&ms); err != nil || ms != DefaultBusyTimeout.Milliseconds() {
		t.Errorf("writer busy_timeout after a RESTART = %d, %v; want %d", ms, err, DefaultBusyTimeout.Milliseconds())
	}
	r := newReport(t)
	mustAccept(t, s, r)
	if n := walFrames(t, s); n >= bound {
		t.Errorf("WAL holds %d frames after a RESTART and one report, want it started over", n)
	}
	if !stored(t, s, r.Reference) {
		t.Error("report written after the RESTART not found")
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestCloseWhileRestartPending closes the store while the checkpointer
// waits for the writer: Close must not hang, and the reports are kept.
func TestCloseWhileRestartPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := Open(path, withCheckpointer(1))
	if err != nil {
		t.Fatal(err)
	}
	r := newReport(t)
	mustAccept(t, s, r)
	done := make(chan bool)
	go func() { done <- s.ckpt.tick() }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Status(context.Background(), r.Reference); err != nil {
		t.Errorf("report lost across Close: %v", err)
	}
}
