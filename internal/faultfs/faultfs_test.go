//go:build linux

package faultfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestPassthroughAndFsyncSwitch(t *testing.T) {
	fsys, backing := ForTest(t)
	path := filepath.Join(fsys.Mountpoint(), "dir", "file")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("first "); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync with no fault: %v", err)
	}

	fsys.FailFsync(syscall.EIO)
	if _, err := f.WriteString("second "); err != nil {
		t.Fatalf("write while fsync fails: %v", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync while failing: %v, want EIO", err)
	}
	if err := syscall.Fdatasync(int(f.Fd())); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fdatasync while failing: %v, want EIO", err)
	}
	// Another handle on another file fails as well: the switch is for
	// the whole file system.
	g, err := os.Create(filepath.Join(fsys.Mountpoint(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync of another file while failing: %v, want EIO", err)
	}
	g.Close()

	fsys.FailFsync(0)
	if _, err := f.WriteString("third"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync after the fault is cleared: %v", err)
	}

	// Writes pass through to the backing directory, whatever fsync did.
	want := []byte("first second third")
	for _, p := range []string{path, filepath.Join(backing, "dir", "file")} {
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	st := fsys.Stats()
	if st.Fsyncs != 5 || st.Failed != 3 {
		t.Fatalf("stats %+v, want 5 fsyncs of which 3 failed", st)
	}
}

// SQLite maps its -shm file shared and writable; a write through the
// mapping must be seen through a second mapping and by read(2).
func TestSharedMapping(t *testing.T) {
	fsys, _ := ForTest(t)
	path := filepath.Join(fsys.Mountpoint(), "shm")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	m1, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m1)
	g, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	m2, err := syscall.Mmap(int(g.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m2)
	copy(m1[100:], "hello")
	if got := string(m2[100:105]); got != "hello" {
		t.Fatalf("second mapping sees %q", got)
	}
	buf := make([]byte, 5)
	if _, err := g.ReadAt(buf, 100); err != nil || string(buf) != "hello" {
		t.Fatalf("read(2) sees %q, %v", buf, err)
	}
}

func TestUnmountTwice(t *testing.T) {
	fsys, _ := ForTest(t)
	if err := fsys.Unmount(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Unmount(); err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(fsys.Mountpoint(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == 0x65735546 { // FUSE_SUPER_MAGIC
		t.Fatal("still a FUSE mount after Unmount")
	}
}
