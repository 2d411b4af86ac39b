// Package storetest is the contract every report.Store must meet, as a test
// suite: the SQLite store runs it now, the PostgreSQL store will run the
// same one, so both answer alike. RunQueue and RunPull do the same for the
// delivery contracts, report.Queue and report.Pull.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// Sightings is what Run needs beyond report.Store to check that duplicates
// are counted. A store under test must implement it.
type Sightings interface {
	// Sightings returns the count and first and last time of the primary
	// report of id (id itself, or the primary id is a sighting of).
	Sightings(ctx context.Context, id string) (count int, first, last time.Time, err error)
}

// t0 has microsecond precision: what the stores keep.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

const window = report.DedupWindow

// Run runs the contract against stores made by open. open must return a new,
// empty store on each call; Run closes it when the subtest ends, so Close
// must be safe to call twice.
func Run(t *testing.T, open func(t *testing.T) report.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s report.Store)
	}{
		{"AcceptAndStatus", testAcceptAndStatus},
		{"UnknownReference", testUnknownReference},
		{"Ping", testPing},
		{"ReplaySequential", testReplaySequential},
		{"ReplayConcurrent", testReplayConcurrent},
		{"ReplayOfSighting", testReplayOfSighting},
		{"IdempotencyConflict", testIdempotencyConflict},
		{"DedupWithinWindow", testDedupWithinWindow},
		{"DedupOutsideWindow", testDedupOutsideWindow},
		{"DedupOutOfOrder", testDedupOutOfOrder},
		{"DedupOtherHotlineOrURL", testDedupOtherHotlineOrURL},
		{"DedupDisabled", testDedupDisabled},
		{"DedupConcurrent", testDedupConcurrent},
		{"ManyConcurrent", testManyConcurrent},
		{"CancelledBeforeAccept", testCancelledBeforeAccept},
		{"IncompleteReport", testIncompleteReport},
		{"CloseDrains", testCloseDrains},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// newReport returns a complete report received at t0 with fresh ids, URL
// and keys.
func newReport(t testing.TB) report.NewReport {
	t.Helper()
	u := unique(t)
	return report.NewReport{
		Report: report.Report{
			ID:          "id-" + u,
			Reference:   "RIT-" + u,
			URL:         "https://example.test/" + u,
			URLKey:      "urlkey-" + u,
			PageURL:     "https://example.test/page",
			ContentType: report.ContentImage,
			Category:    report.CategoryCSAM,
			Country:     "DE",
			HotlineID:   "hotline-a",
			Comment:     "comment",
			Contact:     "reporter@example.org",
			Client:      report.Client{Name: "reportit-extension", Version: "1.0.0"},
			ReceivedAt:  t0,
		},
		IdempotencyKey: "idem-" + u,
		Fingerprint:    "fp-" + u,
	}
}

// retry is what the intake service builds when a client retries: the same
// key and body, but fresh ids.
func retry(t testing.TB, r report.NewReport) report.NewReport {
	n := newReport(t)
	r.ID, r.Reference = n.ID, n.Reference
	return r
}

// sameURL is another report of r's URL to r's hotline, at.
func sameURL(t testing.TB, r report.NewReport, at time.Time) report.NewReport {
	n := newReport(t)
	n.URL, n.URLKey, n.HotlineID, n.ReceivedAt = r.URL, r.URLKey, r.HotlineID, at
	return n
}

func unique(t testing.TB) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func accept(t testing.TB, s report.Store, r report.NewReport, w time.Duration) report.Accepted {
	t.Helper()
	acc, err := s.Accept(context.Background(), r, w)
	if err != nil {
		t.Fatalf("Accept(%s): %v", r.ID, err)
	}
	return acc
}

func status(t testing.TB, s report.Store, ref string) report.StatusView {
	t.Helper()
	v, err := s.Status(context.Background(), ref)
	if err != nil {
		t.Fatalf("Status(%s): %v", ref, err)
	}
	return v
}

func sightings(t testing.TB, s report.Store, id string) (int, time.Time, time.Time) {
	t.Helper()
	ss, ok := s.(Sightings)
	if !ok {
		t.Fatalf("%T does not implement storetest.Sightings", s)
	}
	n, first, last, err := ss.Sightings(context.Background(), id)
	if err != nil {
		t.Fatalf("Sightings(%s): %v", id, err)
	}
	return n, first, last
}

func wantSightings(t testing.TB, s report.Store, id string, n int, first, last time.Time) {
	t.Helper()
	gn, gf, gl := sightings(t, s, id)
	if gn != n || !gf.Equal(first) || !gl.Equal(last) {
		t.Errorf("Sightings(%s) = %d, %v, %v; want %d, %v, %v", id, gn, gf, gl, n, first, last)
	}
}

func wantNotFound(t testing.TB, s report.Store, ref string) {
	t.Helper()
	if _, err := s.Status(context.Background(), ref); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("Status(%s) error = %v, want ErrNotFound", ref, err)
	}
}

func equalAccepted(a, b report.Accepted) bool {
	return a.ID == b.ID && a.Reference == b.Reference && a.HotlineID == b.HotlineID &&
		a.ReceivedAt.Equal(b.ReceivedAt) && a.PrimaryID == b.PrimaryID && a.Replayed == b.Replayed
}

func testAcceptAndStatus(t *testing.T, s report.Store) {
	r := newReport(t)
	acc := accept(t, s, r, window)
	want := report.Accepted{ID: r.ID, Reference: r.Reference, HotlineID: r.HotlineID, ReceivedAt: t0, PrimaryID: r.ID}
	if !equalAccepted(acc, want) {
		t.Errorf("Accept = %+v, want %+v", acc, want)
	}
	if acc.Duplicate() {
		t.Error("first report is a duplicate")
	}
	v := status(t, s, r.Reference)
	if v.ID != r.ID || v.Reference != r.Reference || v.HotlineID != r.HotlineID ||
		v.Status != report.StatusAccepted || !v.ReceivedAt.Equal(t0) || v.DeliveredAt != nil {
		t.Errorf("Status = %+v", v)
	}
	wantSightings(t, s, r.ID, 1, t0, t0)
}

func testUnknownReference(t *testing.T, s report.Store) {
	accept(t, s, newReport(t), window)
	wantNotFound(t, s, "RIT-0000-0000-0000")
	wantNotFound(t, s, "")
	ss, ok := s.(Sightings)
	if !ok {
		t.Fatalf("%T does not implement storetest.Sightings", s)
	}
	if _, _, _, err := ss.Sightings(context.Background(), "no-such-id"); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("Sightings(unknown) error = %v, want ErrNotFound", err)
	}
}

func testPing(t *testing.T, s report.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testReplaySequential(t *testing.T, s report.Store) {
	r := newReport(t)
	first := accept(t, s, r, window)
	for range 2 {
		again := retry(t, r)
		acc := accept(t, s, again, window)
		want := first
		want.Replayed = true
		if !equalAccepted(acc, want) {
			t.Errorf("replay = %+v, want %+v", acc, want)
		}
		wantNotFound(t, s, again.Reference)
	}
	wantSightings(t, s, r.ID, 1, t0, t0)
}

func testReplayConcurrent(t *testing.T, s report.Store) {
	const n = 50
	r := newReport(t)
	reqs := make([]report.NewReport, n)
	accs := make([]report.Accepted, n)
	for i := range reqs {
		reqs[i] = retry(t, r)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if accs[i], err = s.Accept(context.Background(), reqs[i], window); err != nil {
				t.Errorf("Accept %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	fresh := 0
	for i, acc := range accs {
		if acc.ID != accs[0].ID || acc.Reference != accs[0].Reference {
			t.Errorf("answer %d is for %s, answer 0 for %s", i, acc.ID, accs[0].ID)
		}
		if !acc.Replayed {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d answers not replayed, want exactly 1", fresh)
	}
	found := 0
	for _, req := range reqs {
		if _, err := s.Status(context.Background(), req.Reference); err == nil {
			found++
		} else if !errors.Is(err, report.ErrNotFound) {
			t.Fatalf("Status: %v", err)
		}
	}
	if found != 1 {
		t.Errorf("%d reports stored for one idempotency key, want 1", found)
	}
	wantSightings(t, s, accs[0].ID, 1, t0, t0)
}

func testReplayOfSighting(t *testing.T, s report.Store) {
	p := newReport(t)
	accept(t, s, p, window)
	r := sameURL(t, p, t0.Add(time.Minute))
	first := accept(t, s, r, window)
	acc := accept(t, s, retry(t, r), window)
	if !acc.Replayed || acc.ID != r.ID || acc.PrimaryID != p.ID || !acc.Duplicate() {
		t.Errorf("replay of sighting = %+v, want ID %s, PrimaryID %s, Replayed", acc, r.ID, p.ID)
	}
	if !acc.ReceivedAt.Equal(first.ReceivedAt) {
		t.Errorf("replay ReceivedAt = %v, want %v", acc.ReceivedAt, first.ReceivedAt)
	}
	wantSightings(t, s, p.ID, 2, t0, t0.Add(time.Minute))
}

func testIdempotencyConflict(t *testing.T, s report.Store) {
	r := newReport(t)
	first := accept(t, s, r, window)
	other := retry(t, r)
	other.Fingerprint = "fp-other"
	other.Comment = "a different report"
	if _, err := s.Accept(context.Background(), other, window); !errors.Is(err, report.ErrIdempotencyConflict) {
		t.Fatalf("Accept with reused key = %v, want ErrIdempotencyConflict", err)
	}
	wantNotFound(t, s, other.Reference)
	// The key still answers for the first report.
	acc := accept(t, s, retry(t, r), window)
	if !acc.Replayed || acc.ID != first.ID {
		t.Errorf("replay after conflict = %+v, want replay of %s", acc, first.ID)
	}
}

func testDedupWithinWindow(t *testing.T, s report.Store) {
	p := newReport(t)
	accept(t, s, p, window)

	r := sameURL(t, p, t0.Add(time.Hour))
	acc := accept(t, s, r, window)
	if acc.ID != r.ID || acc.Reference != r.Reference || acc.PrimaryID != p.ID || !acc.Duplicate() {
		t.Errorf("sighting answer = %+v, want own ID %s and PrimaryID %s", acc, r.ID, p.ID)
	}
	v := status(t, s, r.Reference)
	if v.ID != r.ID || v.Reference != r.Reference || !v.ReceivedAt.Equal(r.ReceivedAt) || v.Status != report.StatusAccepted {
		t.Errorf("sighting status = %+v", v)
	}
	wantSightings(t, s, p.ID, 2, t0, t0.Add(time.Hour))
	wantSightings(t, s, r.ID, 2, t0, t0.Add(time.Hour)) // a sighting answers for its primary

	// The window is inclusive.
	edge := sameURL(t, p, t0.Add(window))
	if acc := accept(t, s, edge, window); acc.PrimaryID != p.ID {
		t.Errorf("report at the window's edge: PrimaryID = %s, want %s", acc.PrimaryID, p.ID)
	}
	wantSightings(t, s, p.ID, 3, t0, t0.Add(window))
}

func testDedupOutsideWindow(t *testing.T, s report.Store) {
	p := newReport(t)
	accept(t, s, p, window)
	r := sameURL(t, p, t0.Add(window+time.Microsecond))
	acc := accept(t, s, r, window)
	if acc.PrimaryID != r.ID || acc.Duplicate() {
		t.Errorf("report after the window: PrimaryID = %s, want itself (%s)", acc.PrimaryID, r.ID)
	}
	wantSightings(t, s, p.ID, 1, t0, t0)
	wantSightings(t, s, r.ID, 1, r.ReceivedAt, r.ReceivedAt)

	// A later report within the window of the new primary joins it.
	later := sameURL(t, p, r.ReceivedAt.Add(time.Hour))
	if acc := accept(t, s, later, window); acc.PrimaryID != r.ID {
		t.Errorf("PrimaryID = %s, want the newer primary %s", acc.PrimaryID, r.ID)
	}
}

// Reports accepted concurrently can reach a store slightly out of their
// ReceivedAt order; the later-stored one is still a sighting.
func testDedupOutOfOrder(t *testing.T, s report.Store) {
	p := newReport(t)
	p.ReceivedAt = t0.Add(time.Second)
	accept(t, s, p, window)
	r := sameURL(t, p, t0)
	if acc := accept(t, s, r, window); acc.PrimaryID != p.ID {
		t.Errorf("earlier report: PrimaryID = %s, want %s", acc.PrimaryID, p.ID)
	}
	wantSightings(t, s, p.ID, 2, t0, t0.Add(time.Second))
}

func testDedupOtherHotlineOrURL(t *testing.T, s report.Store) {
	p := newReport(t)
	accept(t, s, p, window)

	other := sameURL(t, p, t0.Add(time.Minute))
	other.HotlineID = "hotline-b"
	if acc := accept(t, s, other, window); acc.PrimaryID != other.ID {
		t.Errorf("other hotline: PrimaryID = %s, want itself", acc.PrimaryID)
	}
	url := newReport(t)
	url.HotlineID = p.HotlineID
	if acc := accept(t, s, url, window); acc.PrimaryID != url.ID {
		t.Errorf("other URL: PrimaryID = %s, want itself", acc.PrimaryID)
	}
	wantSightings(t, s, p.ID, 1, t0, t0)
}

func testDedupDisabled(t *testing.T, s report.Store) {
	p := newReport(t)
	accept(t, s, p, window)
	r := sameURL(t, p, t0)
	if acc := accept(t, s, r, 0); acc.PrimaryID != r.ID {
		t.Errorf("dedupWindow 0: PrimaryID = %s, want itself", acc.PrimaryID)
	}
	wantSightings(t, s, p.ID, 1, t0, t0)
}

// The same URL reported by many at once gives one primary, not several.
func testDedupConcurrent(t *testing.T, s report.Store) {
	const n = 50
	p := newReport(t)
	reqs := make([]report.NewReport, n)
	accs := make([]report.Accepted, n)
	for i := range reqs {
		reqs[i] = sameURL(t, p, t0.Add(time.Duration(i)*time.Millisecond))
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if accs[i], err = s.Accept(context.Background(), reqs[i], window); err != nil {
				t.Errorf("Accept %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	primaries := map[string]bool{}
	for i, acc := range accs {
		primaries[acc.PrimaryID] = true
		if acc.ID != reqs[i].ID {
			t.Errorf("answer %d has ID %s, want %s", i, acc.ID, reqs[i].ID)
		}
	}
	if len(primaries) != 1 {
		t.Fatalf("%d primaries for one URL, want 1", len(primaries))
	}
	n2, first, last := sightings(t, s, accs[0].PrimaryID)
	if n2 != n || first.Before(t0) || last.After(t0.Add(n*time.Millisecond)) || last.Before(first) {
		t.Errorf("Sightings = %d, %v, %v; want %d within [%v, %v]", n2, first, last, n, t0, t0.Add(n*time.Millisecond))
	}
}

func testManyConcurrent(t *testing.T, s report.Store) {
	const n = 200
	reqs := make([]report.NewReport, n)
	accs := make([]report.Accepted, n)
	for i := range reqs {
		reqs[i] = newReport(t)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if accs[i], err = s.Accept(context.Background(), reqs[i], window); err != nil {
				t.Errorf("Accept %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ids := map[string]bool{}
	for i, acc := range accs {
		if acc.ID != reqs[i].ID || acc.Reference != reqs[i].Reference || acc.Replayed || acc.Duplicate() {
			t.Errorf("answer %d = %+v, want a new primary %s", i, acc, reqs[i].ID)
		}
		ids[acc.ID] = true
		if v := status(t, s, reqs[i].Reference); v.ID != reqs[i].ID {
			t.Errorf("Status(%s).ID = %s, want %s", reqs[i].Reference, v.ID, reqs[i].ID)
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct ids for %d reports", len(ids), n)
	}
}

func testCancelledBeforeAccept(t *testing.T, s report.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newReport(t)
	if _, err := s.Accept(ctx, r, window); !errors.Is(err, context.Canceled) {
		t.Fatalf("Accept with a cancelled context = %v, want context.Canceled", err)
	}
	wantNotFound(t, s, r.Reference)
	// The key was not used up.
	if acc := accept(t, s, r, window); acc.Replayed {
		t.Errorf("Accept after a cancelled attempt was a replay")
	}
}

func testIncompleteReport(t *testing.T, s report.Store) {
	for _, blank := range []func(*report.NewReport){
		func(r *report.NewReport) { r.ID = "" },
		func(r *report.NewReport) { r.Reference = "" },
		func(r *report.NewReport) { r.URLKey = "" },
		func(r *report.NewReport) { r.HotlineID = "" },
		func(r *report.NewReport) { r.IdempotencyKey = "" },
		func(r *report.NewReport) { r.Fingerprint = "" },
		func(r *report.NewReport) { r.ReceivedAt = time.Time{} },
	} {
		r := newReport(t)
		blank(&r)
		if _, err := s.Accept(context.Background(), r, window); err == nil {
			t.Errorf("Accept of an incomplete report %+v succeeded", r)
		}
		if r.Reference != "" {
			wantNotFound(t, s, r.Reference)
		}
	}
}

// testCloseDrains closes the store while accepts are in flight: each must
// end either stored or with ErrUnavailable, none may hang, and afterwards
// the store refuses work.
func testCloseDrains(t *testing.T, s report.Store) {
	const n = 100
	var started, wg sync.WaitGroup
	started.Add(n)
	for range n {
		r := newReport(t)
		wg.Go(func() {
			started.Done()
			_, err := s.Accept(context.Background(), r, window)
			if err != nil && !errors.Is(err, report.ErrUnavailable) {
				t.Errorf("Accept during Close: %v, want success or ErrUnavailable", err)
			}
		})
	}
	started.Wait()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if _, err := s.Accept(context.Background(), newReport(t), window); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Accept after Close = %v, want ErrUnavailable", err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
