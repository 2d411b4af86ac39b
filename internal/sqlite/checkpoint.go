package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Checkpoint timing. A checkpoint copies the pages written to the WAL back
// into the database file. SQLite's automatic one runs inside the COMMIT
// that crosses 1,000 frames, on the writer's connection: every caller in
// that batch then waits for it. The writer has it turned off
// (wal_autocheckpoint=0) and the checkpointer does it instead.
const (
	// checkpointEvery is how often the checkpointer runs a PASSIVE
	// checkpoint: it copies what it can without taking any lock the
	// writer needs, alongside the writer's commits.
	checkpointEvery = 250 * time.Millisecond
	// checkpointRestartFrames is the WAL length (in frames, 4 KiB pages)
	// past which the writer is asked for a RESTART checkpoint. Under
	// continuous load PASSIVE never catches up with a writer that keeps
	// appending, and SQLite only starts the WAL over from its beginning
	// once every frame is copied; without a RESTART now and then the WAL
	// (and with it the time to open the database after a crash) would
	// grow without bound.
	//
	// The WAL file itself is not cut back after a RESTART (no
	// journal_size_limit): the next commits overwrite it from the start,
	// where a truncated file would have to grow again, and an fsync of a
	// growing file also writes its metadata. It stays around 64 MiB.
	checkpointRestartFrames = 16384
	// checkpointBusy is the checkpointer's busy timeout.
	checkpointBusy = 100 * time.Millisecond
	// restartBusy is the writer's busy timeout during a RESTART. A RESTART
	// waits for readers still on an older snapshot, through the busy
	// handler, whose sleeps grow to 100 ms: with the connection's own
	// 5 s timeout, one measured stall held intake up for 200-300 ms. Past
	// this, the RESTART gives up waiting and ends as a PASSIVE would;
	// the next one tries again.
	restartBusy = 10 * time.Millisecond
)

// checkpointer runs PASSIVE checkpoints on a connection of its own.
type checkpointer struct {
	db      *sql.DB
	passive string
	// restart asks the writer goroutine for a RESTART checkpoint between
	// two batches: there it finds no write transaction to wait for, and
	// most frames are already copied, so it holds the writer up for a
	// short tail and an fsync, once every few thousand frames. The
	// checkpointer runs no PASSIVE checkpoint until restarted says the
	// writer is done: the two would wait for each other's lock, the
	// writer (and every report behind it) for as long as a PASSIVE takes.
	restart   chan<- struct{}
	restarted <-chan struct{}
	every     time.Duration // 0: only when tick is called (tests)
	// restartFrames is checkpointRestartFrames, smaller in tests.
	restartFrames int
	stats         *storeStats
	stop          chan struct{}
	done          chan struct{}
}

func (c *checkpointer) run() {
	defer close(c.done)
	if c.every <= 0 {
		<-c.stop
		return
	}
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if !c.tick() {
			return
		}
	}
}

// tick runs one PASSIVE checkpoint, then has the writer run a RESTART if
// the WAL is long, and waits for it. It returns false if the store is
// closing.
func (c *checkpointer) tick() bool {
	frames, err := c.passiveOnce()
	if err != nil {
		// Busy (a migration holds the lock) or a real failure: either
		// way the WAL keeps every committed frame, and the next tick
		// tries again.
		c.stats.checkpointErrors.Add(1)
		return true
	}
	c.stats.checkpoints.Add(1)
	if frames < c.restartFrames {
		return true
	}
	select {
	case c.restart <- struct{}{}:
	case <-c.stop:
		return false
	}
	select {
	case <-c.restarted:
		return true
	case <-c.stop:
		return false
	}
}

// passiveOnce runs one PASSIVE checkpoint and returns the WAL's length in
// frames.
func (c *checkpointer) passiveOnce() (frames int, err error) {
	var busy, done int
	err = c.db.QueryRowContext(context.Background(), c.passive).Scan(&busy, &frames, &done)
	return frames, err
}

// close stops the loop and closes the connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}

// restartCheckpoint runs in the writer goroutine, between batches, and
// tells the checkpointer when it is done.
func (s *Store) restartCheckpoint() {
	defer func() { s.restarted <- struct{}{} }() // buffered: never blocks
	if s.writerCheckpoint(s.q.checkpointRestart) == nil {
		s.stats.restarts.Add(1)
	}
}

// errCheckpointBusy is a RESTART or TRUNCATE checkpoint that could not
// finish for a reader or another checkpoint in the way.
var errCheckpointBusy = errors.New("sqlite: checkpoint busy")

// writerCheckpoint runs query, a RESTART or TRUNCATE checkpoint, on the
// writer's connection with the short restartBusy timeout, and returns nil
// if it completed. It runs in the writer goroutine, between batches.
func (s *Store) writerCheckpoint(query string) error {
	ctx := context.Background()
	// PRAGMA takes no parameters, hence the formatted statements.
	if _, err := s.wdb.ExecContext(ctx, fmt.Sprintf(s.q.setBusyTimeout, restartBusy.Milliseconds())); err != nil {
		s.stats.checkpointErrors.Add(1)
		return err
	}
	var busy, frames, done int
	err := s.wdb.QueryRowContext(ctx, query).Scan(&busy, &frames, &done)
	if _, rerr := s.wdb.ExecContext(ctx, fmt.Sprintf(s.q.setBusyTimeout, s.busyTimeout.Milliseconds())); rerr != nil {
		// Left at 10 ms, the writer would fail batches whenever another
		// process (a backup, reportit migrate) holds a lock briefly.
		// Closing the connection makes the pool open a new one, with
		// every setting checked.
		s.stats.checkpointErrors.Add(1)
		s.wdb.SetMaxIdleConns(0)
		s.wdb.SetMaxIdleConns(1)
		return rerr
	}
	if err == nil && busy != 0 {
		err = errCheckpointBusy
	}
	if err != nil {
		s.stats.checkpointErrors.Add(1)
		return err
	}
	return nil
}
