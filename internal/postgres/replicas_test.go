package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// startNoise keeps s busy with unrelated reports, as another replica's
// traffic, until the test ends.
func startNoise(t *testing.T, s *Store) {
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			_, err = s.Accept(context.Background(), newReport(t), report.DedupWindow)
		}
		done <- err
	}()
	t.Cleanup(func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("other replica: %v", err)
		}
	})
}

// twoReplicas opens two stores on one database, each with its own pool, as
// two processes would. With WithWriters(2), four batches are in flight.
func twoReplicas(t *testing.T, opts ...Option) [2]*Store {
	dbURL := newDatabase(t)
	return [2]*Store{openURL(t, dbURL, opts...), openURL(t, dbURL, opts...)}
}

// TestReplicasIdempotency sends every idempotency key several times through
// both replicas at once, some retries with another body: per key exactly
// one report is stored, every answer with its body is that report, every
// other a conflict.
func TestReplicasIdempotency(t *testing.T) {
	const keys, tries = 100, 6
	stores := twoReplicas(t, WithWriters(2))
	type try struct {
		r   report.NewReport
		acc report.Accepted
		err error
	}
	all := make([][]try, keys)
	for k := range all {
		base := newReport(t)
		all[k] = make([]try, tries)
		for i := range all[k] {
			r := base
			n := newReport(t)
			r.ID, r.Reference = n.ID, n.Reference
			if k%4 == 0 && i == tries-1 {
				r.Fingerprint, r.Comment = "fp-other", "another body"
			}
			all[k][i].r = r
		}
	}
	var wg sync.WaitGroup
	for i := range tries { // try i of every key, then i+1: keys race across batches
		for k := range keys {
			s := stores[(i+k)%2]
			tr := &all[k][i]
			wg.Go(func() { tr.acc, tr.err = s.Accept(context.Background(), tr.r, report.DedupWindow) })
		}
	}
	wg.Wait()

	for k, trs := range all {
		var winner *try
		for i := range trs {
			if trs[i].err == nil && !trs[i].acc.Replayed {
				if winner != nil {
					t.Fatalf("key %d: two fresh answers, %s and %s", k, winner.acc.ID, trs[i].acc.ID)
				}
				winner = &trs[i]
			}
		}
		if winner == nil {
			t.Fatalf("key %d: no fresh answer", k)
		}
		for i, tr := range trs {
			switch {
			case tr.r.Fingerprint != winner.r.Fingerprint:
				if !errors.Is(tr.err, report.ErrIdempotencyConflict) {
					t.Errorf("key %d try %d with another body: %+v, %v; want a conflict", k, i, tr.acc, tr.err)
				}
			case tr.err != nil || tr.acc.ID != winner.acc.ID || !tr.acc.ReceivedAt.Equal(winner.acc.ReceivedAt):
				t.Errorf("key %d try %d: %+v, %v; want the answer for %s", k, i, tr.acc, tr.err, winner.acc.ID)
			}
			if got := stored(t, stores[i%2], tr.r.Reference); got != (tr.r.ID == winner.acc.ID) {
				t.Errorf("key %d try %d: stored %v", k, i, got)
			}
		}
	}
	if got := queryString(t, stores[0], "SELECT count(*)::text FROM reports"); got != fmt.Sprint(keys) {
		t.Errorf("%s reports stored for %d keys", got, keys)
	}
	checkReplicas(t, stores)
}

// TestReplicasDedup reports each URL many times through both replicas at
// once, in opposite orders: one primary per URL, every other report its
// sighting, the counters exact, and no batch lost to a deadlock.
func TestReplicasDedup(t *testing.T) {
	const urls, each = 30, 10
	stores := twoReplicas(t, WithWriters(2))
	type sent struct {
		r   report.NewReport
		acc report.Accepted
		err error
	}
	all := make([][]sent, urls)
	for u := range all {
		base := newReport(t)
		all[u] = make([]sent, each)
		for i := range all[u] {
			r := newReport(t)
			r.URL, r.URLKey = base.URL, base.URLKey
			r.ReceivedAt = t0.Add(time.Duration(i) * time.Minute)
			all[u][i].r = r
		}
	}
	var wg sync.WaitGroup
	for i := range each {
		for u := range urls {
			// Replica 0 takes the URLs in one order, replica 1 in the
			// other, so their batches want the same locks in opposite
			// orders.
			s, uu := stores[i%2], u
			if i%2 == 1 {
				uu = urls - 1 - u
			}
			sn := &all[uu][i]
			wg.Go(func() { sn.acc, sn.err = s.Accept(context.Background(), sn.r, report.DedupWindow) })
		}
	}
	wg.Wait()

	for u, sns := range all {
		primaries := map[string]bool{}
		for i, sn := range sns {
			if sn.err != nil {
				t.Fatalf("URL %d report %d: %v", u, i, sn.err)
			}
			if sn.acc.ID != sn.r.ID {
				t.Errorf("URL %d report %d answered for %s", u, i, sn.acc.ID)
			}
			primaries[sn.acc.PrimaryID] = true
		}
		if len(primaries) != 1 {
			t.Errorf("URL %d: %d primaries, want 1", u, len(primaries))
			continue
		}
		n, first, last, err := stores[u%2].Sightings(context.Background(), sns[0].acc.PrimaryID)
		if err != nil || n != each || !first.Equal(t0) || !last.Equal(t0.Add((each-1)*time.Minute)) {
			t.Errorf("URL %d: Sightings = %d, %v, %v, %v; want %d from %v to %v", u, n, first, last, err,
				each, t0, t0.Add((each-1)*time.Minute))
		}
	}
	checkReplicas(t, stores)
}

// checkReplicas checks the database the replicas share and that no batch
// failed or had to be redone.
func checkReplicas(t *testing.T, stores [2]*Store) {
	t.Helper()
	if err := stores[0].IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
	for i, s := range stores {
		if st := s.Stats(); st.FailedBatches != 0 || st.OneByOne != 0 {
			t.Errorf("replica %d: Stats = %+v, want no failed or redone batch", i, st)
		}
	}
}

// TestReplicaWaitsForLock holds replica A's batch open (report P written,
// not committed) while replica B takes a retry of P and another report of
// P's URL: B must wait for A, then answer the retry as a replay of P and
// the other report as a sighting of P. Without the locks, B would not see
// P and would store a second primary for the URL.
func TestReplicaWaitsForLock(t *testing.T) {
	dbURL := newDatabase(t)
	g := newGate()
	a := openURL(t, dbURL, g.option())
	b := openURL(t, dbURL)

	p := newReport(t)
	waitA := acceptAsync(a, []report.NewReport{p})
	<-g.reached

	retry := p
	n := newReport(t)
	retry.ID, retry.Reference = n.ID, n.Reference
	sight := newReport(t)
	sight.URL, sight.URLKey, sight.ReceivedAt = p.URL, p.URLKey, t0.Add(time.Minute)
	accs := make([]report.Accepted, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, r := range []report.NewReport{retry, sight} {
		wg.Go(func() { accs[i], errs[i] = b.Accept(context.Background(), r, report.DedupWindow) })
	}
	// B's batch is written only once it waits on a lock A holds.
	for waitingOnLock(t, b, dbName(t, dbURL)) == 0 {
		runtime.Gosched()
	}
	close(g.release)
	noErrors(t, waitA())
	wg.Wait()
	noErrors(t, errs)
	if !accs[0].Replayed || accs[0].ID != p.ID {
		t.Errorf("retry through B = %+v, want a replay of %s", accs[0], p.ID)
	}
	if accs[1].ID != sight.ID || accs[1].PrimaryID != p.ID {
		t.Errorf("same URL through B = %+v, want a sighting of %s", accs[1], p.ID)
	}
	checkReplicas(t, [2]*Store{a, b})
}

// waitingOnLock counts the sessions on database name waiting for a lock.
func waitingOnLock(t *testing.T, s *Store, name string) int {
	t.Helper()
	var n int
	err := s.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
		WHERE NOT l.granted AND a.datname = $1`, name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
