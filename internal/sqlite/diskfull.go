package sqlite

import (
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// A full disk and the WAL.
//
// The WAL is never cut back (see checkpointRestartFrames): under steady
// load it grows until a RESTART every few thousand frames, and PASSIVE
// checkpoints never catch up with a writer that keeps appending. On a disk
// with little room left, the WAL can therefore take the last free bytes,
// and then no commit succeeds (the WAL cannot grow) and no checkpoint
// either (the database file cannot grow to take the WAL's pages). When an
// operator frees some space, the next commits would take it for the WAL
// again before the checkpointer's next tick, and the store would stay
// unavailable for as long as reports keep coming.
//
// So after a write fails with SQLITE_FULL, the writer itself runs a
// TRUNCATE checkpoint before its next write: it copies the WAL into the
// database file and cuts the WAL to nothing, giving its space back. Until
// that succeeds, it is tried again before each write, and a write is not
// even tried while the checkpoint fails for want of space: the space that
// comes back goes to the database file, not to a longer WAL. Those writes
// fail with report.ErrUnavailable (a 503), as they would anyway.

// isFull reports SQLITE_FULL: the disk (or max_page_count) is full.
func isFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// noteFull marks the WAL for a TRUNCATE checkpoint before the writer's
// next write if err is a full disk. Writer goroutine only.
func (s *Store) noteFull(err error) {
	if isFull(err) {
		s.walFull = true
	}
}

// reclaimWAL runs the TRUNCATE checkpoint noteFull asked for, if any, before
// a write. Writer goroutine only.
//
// If the checkpoint fails because the disk is still full, it returns that
// error and the write must not be tried: it could only append to the WAL,
// taking the space the checkpoint needs, a little more with every batch,
// however much space comes back. A checkpoint kept from finishing by a
// reader (busy) lets the write go ahead, and is tried again next time.
func (s *Store) reclaimWAL() error {
	if !s.walFull {
		return nil
	}
	err := s.writerCheckpoint(s.q.checkpointTruncate)
	switch {
	case err == nil:
		s.walFull = false
		s.stats.truncates.Add(1)
		return nil
	case isFull(err):
		return fmt.Errorf("checkpoint after the disk was full: %w", err)
	default:
		return nil
	}
}
