package faultfs

import (
	"errors"
	"syscall"
	"testing"
)

// TmpfsForTest mounts a tmpfs of size (e.g. "8m") on a new directory, for a
// disk that fills up, and unmounts it in t's cleanup; registered before the
// caller's own cleanups, it runs after them, once a server using it has
// stopped. It skips t if this process may not mount.
func TmpfsForTest(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("this test mounts a small tmpfs and needs root (CAP_SYS_ADMIN): %v", err)
		}
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Still busy (a test failed with a server running): detach,
			// so that no mount outlives the test.
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return dir
}

// FreeBytes is the space left to an unprivileged writer on dir's file system.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
