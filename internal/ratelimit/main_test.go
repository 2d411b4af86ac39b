package ratelimit

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when a test leaves a goroutine behind (a
// memory store cleaner, a Redis pool, a proxy). Tests that need time to be
// exact run in synctest bubbles, which refuse leftover goroutines
// themselves.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leftovers(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leftovers returns the stacks of every goroutine but this one, after
// giving closed things a moment to finish exiting.
func leftovers() string {
	var others []string
	for range 50 {
		buf := make([]byte, 1<<20)
		// The first stack is this goroutine's.
		others = strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")[1:]
		if len(others) == 0 {
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.Join(others, "\n\n")
}
