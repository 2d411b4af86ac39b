//go:build linux

// Package faultfs mounts a FUSE passthrough ("loopback") file system over a
// directory and lets a test switch faults on and off while a program uses
// it: for now, fsync and fdatasync failing with an error of the test's
// choice (EIO, as a failing disk answers). Everything else, writes included,
// passes through to the backing directory unchanged.
//
// It is for tests of what a program does when the disk stops making data
// durable: mounting needs root (mount(2) on /dev/fuse) or the fusermount
// helper. Mount returns an error matching ErrCannotMount when the machine
// does not allow it, so that tests can skip with a reason rather than fail.
// TmpfsForTest gives the other failing disk, one that fills up.
package faultfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// ErrCannotMount means this machine or user cannot mount a FUSE file
// system: no /dev/fuse, no permission to open it, not root and no
// fusermount helper, or mount(2) refused with EPERM.
var ErrCannotMount = errors.New("faultfs: cannot mount a FUSE file system here")

// FS is a mounted fault-injecting passthrough file system.
type FS struct {
	mountpoint, backing string
	server              *fuse.Server

	fsyncErr atomic.Int64 // a syscall.Errno; 0 passes fsync through
	fsyncs   atomic.Uint64
	failed   atomic.Uint64
	unmount  atomic.Bool
}

// Stats counts the file fsyncs (fsync and fdatasync) the file system saw.
type Stats struct {
	// Fsyncs is every fsync request, Failed those answered with the
	// injected error (they did not reach the backing file system).
	Fsyncs, Failed uint64
}

// Mount mounts a passthrough of the directory backing at mountpoint (an
// existing empty directory). Unmount it when done.
func Mount(mountpoint, backing string) (*FS, error) {
	if err := canMount(); err != nil {
		return nil, err
	}
	f := &FS{mountpoint: mountpoint, backing: backing}
	root, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, fmt.Errorf("faultfs: %w", err)
	}
	lb, ok := root.(*fs.LoopbackNode)
	if !ok {
		return nil, fmt.Errorf("faultfs: unexpected loopback root %T", root)
	}
	// Short kernel caches, in case a test changes the backing directory
	// behind the mount's back.
	ttl := 100 * time.Millisecond
	opts := &fs.Options{
		EntryTimeout: &ttl,
		AttrTimeout:  &ttl,
		MountOptions: fuse.MountOptions{
			FsName: "faultfs",
			Name:   "faultfs",
			// mount(2) directly as root, with no fallback, so that
			// its errno (EPERM without CAP_SYS_ADMIN) comes back; the
			// fusermount helper otherwise.
			DirectMountStrict: os.Geteuid() == 0,
			// Other users (a child process running under another uid)
			// may use it too; only root may set it, and fusermount
			// refuses it without user_allow_other.
			AllowOther: os.Geteuid() == 0,
		},
	}
	server, err := fs.Mount(mountpoint, &node{LoopbackNode: lb, fs: f}, opts)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w: %w", ErrCannotMount, err)
		}
		return nil, fmt.Errorf("faultfs: mount %s: %w", mountpoint, err)
	}
	f.server = server
	return f, nil
}

// canMount checks what mounting needs, so that a machine that cannot mount
// is told apart from a mount that failed.
func canMount() error {
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%w: %w", ErrCannotMount, err)
		}
		return fmt.Errorf("faultfs: %w", err)
	}
	dev.Close()
	if os.Geteuid() != 0 {
		_, err3 := exec.LookPath("fusermount3")
		_, err2 := exec.LookPath("fusermount")
		if err3 != nil && err2 != nil {
			return fmt.Errorf("%w: not root and no fusermount helper", ErrCannotMount)
		}
	}
	return nil
}

// Mountpoint is where the file system is mounted.
func (f *FS) Mountpoint() string { return f.mountpoint }

// FailFsync makes every file fsync and fdatasync fail with errno from now
// on, without reaching the backing file system; 0 lets them through again.
// Data written meanwhile still reaches the backing directory (as it may
// reach a failing disk's cache): only the promise that it is durable fails.
func (f *FS) FailFsync(errno syscall.Errno) { f.fsyncErr.Store(int64(errno)) }

// Stats returns the counters since Mount.
func (f *FS) Stats() Stats {
	return Stats{Fsyncs: f.fsyncs.Load(), Failed: f.failed.Load()}
}

// Unmount unmounts the file system; files still open in other processes
// make it fail (EBUSY), in which case it is detached lazily instead, so
// that a test's cleanup never leaves a mount behind. It is safe to call
// more than once.
func (f *FS) Unmount() error {
	if !f.unmount.CompareAndSwap(false, true) {
		return nil
	}
	err := f.server.Unmount()
	if err != nil && os.Geteuid() == 0 {
		if lerr := syscall.Unmount(f.mountpoint, syscall.MNT_DETACH); lerr == nil {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("faultfs: unmount %s: %w", f.mountpoint, err)
	}
	f.server.Wait()
	return nil
}

// node is a loopback node that answers fsync itself. The FUSE bridge asks
// a node for Fsync before its file handle, and every node below the root
// is wrapped by WrapChild, so every file's fsync comes here.
type node struct {
	*fs.LoopbackNode
	fs *FS
}

var (
	_ fs.NodeFsyncer     = (*node)(nil)
	_ fs.NodeWrapChilder = (*node)(nil)
)

func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	lb, ok := ops.(*fs.LoopbackNode)
	if !ok {
		return ops
	}
	return &node{LoopbackNode: lb, fs: n.fs}
}

// Fsync fails with the injected error, or syncs the backing file.
func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	n.fs.fsyncs.Add(1)
	if e := syscall.Errno(n.fs.fsyncErr.Load()); e != 0 {
		n.fs.failed.Add(1)
		return e
	}
	if s, ok := fh.(fs.FileFsyncer); ok {
		return s.Fsync(ctx, flags)
	}
	// No handle (the kernel may send fsync for an inode only): sync the
	// backing file by path.
	path := n.Path(nil)
	file, err := os.Open(filepath.Join(n.fs.backing, path))
	if err != nil {
		return fs.ToErrno(err)
	}
	defer file.Close()
	return fs.ToErrno(file.Sync())
}

// ForTest mounts a fault-injecting file system for t over a new temporary
// backing directory and returns it with the backing directory's path. It
// skips t, saying why, when this machine cannot mount FUSE (see
// ErrCannotMount), fails it on any other error, and unmounts in t's
// cleanup (register cleanups that must run while it is mounted, such as
// stopping a process using it, after calling ForTest).
func ForTest(t testing.TB) (fsys *FS, backing string) {
	t.Helper()
	backing, mnt := t.TempDir(), t.TempDir()
	fsys, err := Mount(mnt, backing)
	if errors.Is(err, ErrCannotMount) {
		t.Skipf("faultfs: this test needs a FUSE mount (root, or /dev/fuse and fusermount): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsys.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return fsys, backing
}
