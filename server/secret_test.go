package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")

	// Several processes starting on one fresh data dir agree on one secret.
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := loadOrCreateSecret(path)
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		}()
	}
	wg.Wait()
	for _, b := range got[1:] {
		if !bytes.Equal(b, got[0]) || len(b) != 32 {
			t.Fatalf("secrets differ or wrong size: %x vs %x", b, got[0])
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret.key mode %v, want 0600", fi.Mode().Perm())
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only secret.key", len(entries))
	}
	again, err := loadOrCreateSecret(path)
	if err != nil || !bytes.Equal(again, got[0]) {
		t.Fatalf("second start read %x, %v", again, err)
	}
}
