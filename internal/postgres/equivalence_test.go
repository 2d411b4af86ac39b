package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// TestSetMatchesSequential writes one batch full of reused keys and URLs,
// in several windows and hotlines, as a set, and the same requests one
// after the other through another store: the answers and the counters
// must be the same. The set path decides in Go what the sequential path
// reads back from the database, so this is where they could drift apart.
func TestSetMatchesSequential(t *testing.T) {
	const n = 120
	rng := rand.New(rand.NewPCG(1, 2))
	base := newReport(t)
	windows := []time.Duration{report.DedupWindow, 0, 10 * time.Minute, time.Hour}
	reqs := make([]report.NewReport, n)
	wins := make([]time.Duration, n)
	for i := range reqs {
		r := newReport(t)
		u := rng.IntN(3)
		r.URL, r.URLKey = fmt.Sprintf("%s/%d", base.URL, u), fmt.Sprintf("%s-%d", base.URLKey, u)
		r.HotlineID = []string{"hotline-a", "hotline-a", "hotline-a", "hotline-b"}[rng.IntN(4)]
		// Times out of order, many equal, on the short windows' edges
		// or outside them.
		r.ReceivedAt = t0.Add(time.Duration(rng.IntN(13)) * 10 * time.Minute)
		k := rng.IntN(90)
		r.IdempotencyKey = fmt.Sprintf("%s-%d", base.IdempotencyKey, k)
		r.Fingerprint = fmt.Sprintf("fp-%d-%d", k, rng.IntN(4)/3) // mostly the same body
		reqs[i], wins[i] = r, windows[rng.IntN(len(windows))]
	}

	type answer struct {
		acc report.Accepted
		err error
	}
	g := newGate()
	set := openTest(t, g.option())
	first := acceptAsync(set, newReports(t, 1))
	<-g.reached
	setAnswers := make([]answer, n)
	done := make(chan struct{}, n)
	for i, r := range reqs {
		go func() {
			setAnswers[i].acc, setAnswers[i].err = set.Accept(context.Background(), r, wins[i])
			done <- struct{}{}
		}()
		waitQueued(set, i+1) // queue order is request order
	}
	close(g.release)
	noErrors(t, first())
	for range n {
		<-done
	}
	if sizes := g.batchSizes(); len(sizes) != 2 || sizes[1] != n {
		t.Fatalf("batch sizes = %v, want the %d requests in one batch", sizes, n)
	}

	seq := openTest(t)
	for i, r := range reqs {
		acc, err := seq.Accept(context.Background(), r, wins[i])
		sa := setAnswers[i]
		if !errors.Is(err, report.ErrIdempotencyConflict) && err != nil {
			t.Fatalf("sequential %d: %v", i, err)
		}
		if (err == nil) != (sa.err == nil) || !errors.Is(sa.err, err) || acc != sa.acc {
			t.Errorf("request %d: set answered %+v, %v; sequential %+v, %v", i, sa.acc, sa.err, acc, err)
		}
	}
	stored, dups := 0, 0
	for i, r := range reqs {
		if setAnswers[i].err != nil || setAnswers[i].acc.Replayed {
			continue
		}
		stored++
		if setAnswers[i].acc.Duplicate() {
			dups++
		}
		n1, f1, l1, err1 := set.Sightings(context.Background(), r.ID)
		n2, f2, l2, err2 := seq.Sightings(context.Background(), r.ID)
		if err1 != nil || err2 != nil || n1 != n2 || !f1.Equal(f2) || !l1.Equal(l2) {
			t.Errorf("Sightings(%d): set %d %v %v %v; sequential %d %v %v %v", i, n1, f1, l1, err1, n2, f2, l2, err2)
		}
	}
	conflicts, replays := 0, 0
	for _, a := range setAnswers {
		if a.err != nil {
			conflicts++
		} else if a.acc.Replayed {
			replays++
		}
	}
	// The mix must exercise every case, or the comparison proves little.
	if dups < 10 || stored-dups < 10 || conflicts < 5 || replays < 10 {
		t.Errorf("mix: %d stored (%d sightings), %d replays, %d conflicts of %d requests; adjust the generator",
			stored, dups, replays, conflicts, n)
	}
	t.Logf("mix: %d stored (%d sightings), %d replays, %d conflicts", stored, dups, replays, conflicts)
	for _, s := range []*Store{set, seq} {
		if err := s.IntegrityCheck(context.Background()); err != nil {
			t.Error(err)
		}
	}
}
