//go:build !linux

// Package faultfs mounts a fault-injecting FUSE file system; on this
// system it cannot, and every test using it skips.
package faultfs

import (
	"errors"
	"syscall"
	"testing"
)

// ErrCannotMount means this machine cannot mount the file system.
var ErrCannotMount = errors.New("faultfs: only available on Linux")

// FS is never mounted on this system.
type FS struct{}

// Stats counts fsyncs.
type Stats struct{ Fsyncs, Failed uint64 }

// Mount fails with ErrCannotMount.
func Mount(mountpoint, backing string) (*FS, error) { return nil, ErrCannotMount }

func (f *FS) Mountpoint() string            { return "" }
func (f *FS) FailFsync(errno syscall.Errno) {}
func (f *FS) Stats() Stats                  { return Stats{} }
func (f *FS) Unmount() error                { return nil }

// ForTest skips t.
func ForTest(t testing.TB) (*FS, string) {
	t.Helper()
	t.Skip("faultfs: FUSE fault injection is only available on Linux")
	return nil, ""
}
