package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) report.Store { return openTest(t) })
}

// TestContractCommitEach runs the contract with one report per transaction,
// so that the semantics do not depend on batching.
func TestContractCommitEach(t *testing.T) {
	storetest.Run(t, func(t *testing.T) report.Store { return openTest(t, WithMaxBatch(1)) })
}

// openTest opens a store on a new file; the test closes it at the end.
func openTest(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "reports.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestQueueContract(t *testing.T) {
	storetest.RunQueue(t, func(t *testing.T) storetest.Queue { return openTest(t) })
}

func TestQueueContractCommitEach(t *testing.T) {
	storetest.RunQueue(t, func(t *testing.T) storetest.Queue { return openTest(t, WithMaxBatch(1)) })
}

func TestPullContract(t *testing.T) {
	storetest.RunPull(t, func(t *testing.T) storetest.Pull { return openTest(t) })
}
