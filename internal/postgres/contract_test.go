package postgres

import (
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

// TestContractOneByOne runs the contract with every batch written report by
// report, the path a constraint failure sends a batch down, so that it
// answers as the set path does.
func TestContractOneByOne(t *testing.T) {
	storetest.Run(t, func(t *testing.T) report.Store { return openTest(t, withOneByOne()) })
}

// TestContractTwoReplicas runs the contract against a store whose database
// another store is writing to at the same time, as a second replica.
func TestContractTwoReplicas(t *testing.T) {
	storetest.Run(t, func(t *testing.T) report.Store {
		dbURL := newDatabase(t)
		other := openURL(t, dbURL)
		startNoise(t, other)
		return openURL(t, dbURL)
	})
}

func withOneByOne() Option {
	return func(o *options) { o.hooks.oneByOne = true }
}

func TestQueueContract(t *testing.T) {
	storetest.RunQueue(t, func(t *testing.T) storetest.Queue { return openTest(t) })
}

// TestQueueContractOneByOne: the delivery jobs of a batch written report by
// report are the same.
func TestQueueContractOneByOne(t *testing.T) {
	storetest.RunQueue(t, func(t *testing.T) storetest.Queue { return openTest(t, withOneByOne()) })
}

func TestPullContract(t *testing.T) {
	storetest.RunPull(t, func(t *testing.T) storetest.Pull { return openTest(t) })
}

// TestPullContractTwoWriters runs the pull contract with two writers in
// the store, so that two batches commit at once, as from two replicas.
func TestPullContractTwoWriters(t *testing.T) {
	storetest.RunPull(t, func(t *testing.T) storetest.Pull { return openTest(t, WithWriters(2), WithMaxBatch(8)) })
}
