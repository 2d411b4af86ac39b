package postgres

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

const testLease = time.Minute

// far is a time by which every job of a test is due.
var far = t0.Add(1000 * time.Hour)

func claimAll(t testing.TB, s *Store, now time.Time, n int) []report.DeliveryJob {
	t.Helper()
	jobs, err := s.Claim(context.Background(), now, n, testLease)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return jobs
}

// TestReplicasClaim has two stores on one database, as two replicas, each
// with several workers claiming at once while reports still come in
// through both: every job is claimed, and none twice while its lease runs.
func TestReplicasClaim(t *testing.T) {
	const n, workers = 600, 4
	stores := twoReplicas(t)
	rs := newReports(t, n)
	var accepting sync.WaitGroup
	for i, r := range rs {
		accepting.Go(func() {
			if _, err := stores[i%2].Accept(context.Background(), r, report.DedupWindow); err != nil {
				t.Errorf("Accept: %v", err)
			}
		})
	}
	accepted := make(chan struct{})
	go func() { accepting.Wait(); close(accepted) }()

	var mu sync.Mutex
	claimedBy := map[string][]int{} // report id: the replicas that claimed it
	var wg sync.WaitGroup
	for i := range 2 * workers {
		replica := i % 2
		wg.Go(func() {
			for {
				// Read before the claim: once every accept has returned,
				// an empty claim means the queue is drained.
				var finished bool
				select {
				case <-accepted:
					finished = true
				default:
				}
				jobs, err := stores[replica].Claim(context.Background(), far, 7, testLease)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				mu.Lock()
				for _, j := range jobs {
					claimedBy[j.ReportID] = append(claimedBy[j.ReportID], replica)
				}
				total := 0
				for _, c := range claimedBy {
					total += len(c)
				}
				mu.Unlock()
				if (finished && len(jobs) == 0) || total > n {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(claimedBy) != n {
		t.Errorf("%d jobs claimed, want %d", len(claimedBy), n)
	}
	var per [2]int
	for id, by := range claimedBy {
		if len(by) != 1 {
			t.Errorf("job %s claimed %d times, by replicas %v", id, len(by), by)
		}
		per[by[0]]++
	}
	t.Logf("claims per replica: %v", per)
	if per[0] == 0 || per[1] == 0 {
		t.Errorf("claims per replica %v: one replica claimed nothing", per)
	}
}

// TestReplicaDiesWithLeases: a replica claims and dies; the other replica
// gets nothing while the leases run and every job once they have ended.
func TestReplicaDiesWithLeases(t *testing.T) {
	stores := twoReplicas(t)
	rs := newReports(t, 20)
	for _, r := range rs {
		mustAccept(t, stores[0], r)
	}
	held := claimAll(t, stores[0], t0, 100)
	if len(held) != len(rs) {
		t.Fatalf("claimed %d, want %d", len(held), len(rs))
	}
	stores[0].Close() // dies mid-delivery: nothing completed

	if jobs := claimAll(t, stores[1], t0.Add(testLease-time.Microsecond), 100); len(jobs) != 0 {
		t.Errorf("claimed %d jobs under a dead replica's running leases", len(jobs))
	}
	// A restart of the other replica, with a random replica id, releases
	// nothing either: it cannot tell a dead replica's lease from a live one's.
	if n, err := stores[1].ReleaseLeases(context.Background(), t0); err != nil || n != 0 {
		t.Errorf("ReleaseLeases = %d, %v; want 0", n, err)
	}
	jobs := claimAll(t, stores[1], t0.Add(testLease), 100)
	if got, want := jobIDs(jobs), ids(rs); !sameSet(got, want) {
		t.Errorf("after the leases ended, claimed %v, want %v", got, want)
	}
	for _, j := range jobs {
		if j.Attempt != 1 {
			t.Errorf("re-claimed job %s has attempt %d, want 1 (a claim counts no attempt)", j.ReportID, j.Attempt)
		}
	}
}

// TestReleaseLeasesOwnOnly: ReleaseLeases ends the leases held under its
// own replica id, as a restarted replica with a stable id does, and never
// another replica's.
func TestReleaseLeasesOwnOnly(t *testing.T) {
	dbURL := newDatabase(t)
	a := openURL(t, dbURL, WithReplicaID("replica-a"))
	b := openURL(t, dbURL, WithReplicaID("replica-b"))
	ra, rb := newReport(t), newReport(t)
	mustAccept(t, a, ra)
	claimAll(t, a, t0, 1)
	mustAccept(t, b, rb)
	claimAll(t, b, t0, 1)

	if n, err := b.ReleaseLeases(context.Background(), t0); err != nil || n != 1 {
		t.Fatalf("b.ReleaseLeases = %d, %v; want its own one lease", n, err)
	}
	// b's job is due again; a's lease still holds.
	if got := jobIDs(claimAll(t, b, t0, 10)); !slices.Equal(got, []string{rb.ID}) {
		t.Errorf("after b released, claimed %v, want only b's job %s", got, rb.ID)
	}

	a.Close()
	again := openURL(t, dbURL, WithReplicaID("replica-a")) // a restarted
	if n, err := again.ReleaseLeases(context.Background(), t0); err != nil || n != 1 {
		t.Fatalf("restarted a: ReleaseLeases = %d, %v; want the crashed process's one lease", n, err)
	}
	if got := jobIDs(claimAll(t, again, t0, 10)); !slices.Equal(got, []string{ra.ID}) {
		t.Errorf("after a's restart, claimed %v, want %s", got, ra.ID)
	}
}

// TestWakeAcrossReplicas: a report accepted by one replica wakes the
// other's dispatcher through NOTIFY, and so does a revive.
func TestWakeAcrossReplicas(t *testing.T) {
	stores := twoReplicas(t)
	a, b := stores[0], stores[1]
	<-b.listenUp
	drain := func(s *Store) {
		select {
		case <-s.Wake():
		default:
		}
	}
	woken := func(what string) {
		t.Helper()
		select {
		case <-b.Wake():
		case <-time.After(30 * time.Second):
			t.Fatalf("replica b not woken after %s on replica a", what)
		}
	}
	drain(b)
	r := newReport(t)
	mustAccept(t, a, r)
	woken("a new report")

	j := claimAll(t, b, t0, 1)
	if len(j) != 1 {
		t.Fatalf("claimed %d", len(j))
	}
	if err := b.Complete(context.Background(), j[0], report.DeliveryResult{Kind: report.DeliveryDead, At: t0, Reason: "refused", Attempted: true}); err != nil {
		t.Fatal(err)
	}
	drain(b)
	if err := a.Revive(context.Background(), r.ID, t0); err != nil {
		t.Fatal(err)
	}
	woken("a revive")
}

// TestPullCursorCommitOrder holds a batch of replica a open after it has
// numbered its job, and has replica b accept a report to the same hotline:
// b's batch must wait for a's to commit before numbering its own, so the
// report committed second gets the larger cursor. If b could commit first
// with a larger number, a hotline paging meanwhile would move its cursor
// past a's report and never see it.
func TestPullCursorCommitOrder(t *testing.T) {
	dbURL := newDatabase(t)
	g := newGate()
	a := openURL(t, dbURL, g.option())
	b := openURL(t, dbURL)
	ra, rb := newReport(t), newReport(t)
	aDone := acceptAsync(a, []report.NewReport{ra})
	<-g.reached
	bDone := acceptAsync(b, []report.NewReport{rb})
	bReturned := make(chan struct{})
	go func() { bDone(); close(bReturned) }()
	// b's batch must get stuck on the hotline's cursor row; were it not,
	// it would commit, and the listing below would show its report.
	waitForLockWait(t, a, bReturned)
	if got, _, err := a.ListForHotline(context.Background(), "hotline-a", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("listing while a's batch is open = %d reports, %v; want none: b committed a larger cursor first", len(got), err)
	}
	close(g.release)
	noErrors(t, aDone())
	noErrors(t, bDone())
	got, _, err := b.ListForHotline(context.Background(), "hotline-a", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range got {
		order = append(order, p.ID)
	}
	if want := []string{ra.ID, rb.ID}; !slices.Equal(order, want) {
		t.Errorf("listed %v, want commit order %v", order, want)
	}
}

// waitForLockWait waits until a session of the database waits for a lock,
// or until done is closed.
func waitForLockWait(t *testing.T, s *Store, done <-chan struct{}) {
	t.Helper()
	for {
		select {
		case <-done:
			return
		default:
		}
		var waiting bool
		err := s.pool.QueryRow(context.Background(),
			`SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jobIDs(jobs []report.DeliveryJob) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ReportID
	}
	return out
}

func ids(rs []report.NewReport) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// BenchmarkClaimComplete: parallel workers each claiming one job and
// completing it; one op is one job claimed and completed (two commits).
func BenchmarkClaimComplete(b *testing.B) {
	s := openTest(b)
	rs := newReports(b, b.N)
	errs := acceptAsync(s, rs)()
	noErrors(b, errs)
	b.ReportAllocs()
	b.SetParallelism(16) // 32 workers on 2 cores, as a dispatcher's pool
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			jobs, err := s.Claim(context.Background(), far, 1, testLease)
			if err != nil {
				b.Error(err)
				return
			}
			for _, j := range jobs {
				if err := s.Complete(context.Background(), j, report.DeliveryResult{Kind: report.DeliveryDone, At: far, Attempted: true}); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
}
