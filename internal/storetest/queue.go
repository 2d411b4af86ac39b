package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// Queue is what RunQueue needs: a report store with its delivery queue.
type Queue interface {
	report.Store
	report.Queue
}

// lease is the lease the tests claim with.
const lease = time.Minute

// far is a time by which every job of a test is due.
var far = t0.Add(1000 * time.Hour)

// RunQueue runs the delivery queue contract against stores made by open,
// which must return a new, empty store on each call. Every time is passed
// in: the tests never sleep.
func RunQueue(t *testing.T, open func(t *testing.T) Queue) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Queue)
	}{
		{"JobWithPrimary", testJobWithPrimary},
		{"NoJobForSightingOrReplay", testNoJobForSightingOrReplay},
		{"NoJobForFailedReport", testNoJobForFailedReport},
		{"ClaimDueOnly", testClaimDueOnly},
		{"ClaimLimitAndOrder", testClaimLimitAndOrder},
		{"ClaimConcurrent", testClaimConcurrent},
		{"ClaimInvalid", testClaimInvalid},
		{"LeaseExpiry", testLeaseExpiry},
		{"CompleteDone", testCompleteDone},
		{"CompleteRetry", testCompleteRetry},
		{"CompleteDeadAndRevive", testCompleteDeadAndRevive},
		{"CompleteUseForm", testCompleteUseForm},
		{"CompleteAwaitPull", testCompleteAwaitPull},
		{"LateResultIgnored", testLateResultIgnored},
		{"CompleteUnknown", testCompleteUnknown},
		{"CompleteInvalid", testCompleteInvalid},
		{"CompleteConcurrent", testCompleteConcurrent},
		{"Load", testLoad},
		{"Erase", testErase},
		{"Wake", testWake},
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

func claim(t testing.TB, q report.Queue, now time.Time, n int) []report.DeliveryJob {
	t.Helper()
	jobs, err := q.Claim(context.Background(), now, n, lease)
	if err != nil {
		t.Fatalf("Claim(%v, %d): %v", now, n, err)
	}
	return jobs
}

// claimOne claims at now and expects exactly the job of id.
func claimOne(t testing.TB, q report.Queue, now time.Time, id string) report.DeliveryJob {
	t.Helper()
	jobs := claim(t, q, now, 10)
	if len(jobs) != 1 || jobs[0].ReportID != id {
		t.Fatalf("Claim(%v) = %v, want the job of %s alone", now, jobIDs(jobs), id)
	}
	return jobs[0]
}

func wantNoJob(t testing.TB, q report.Queue, now time.Time) {
	t.Helper()
	if jobs := claim(t, q, now, 100); len(jobs) != 0 {
		t.Errorf("Claim(%v) = %v, want none", now, jobIDs(jobs))
	}
}

func jobIDs(jobs []report.DeliveryJob) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ReportID
	}
	return ids
}

func complete(t testing.TB, q report.Queue, j report.DeliveryJob, r report.DeliveryResult) {
	t.Helper()
	if err := q.Complete(context.Background(), j, r); err != nil {
		t.Fatalf("Complete(%s, %s): %v", j.ReportID, r.Kind, err)
	}
}

func queueStats(t testing.TB, q report.Queue) report.QueueStats {
	t.Helper()
	st, err := q.QueueStats(context.Background())
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	return st
}

func wantStats(t testing.TB, q report.Queue, pending, dead int64, oldest time.Time) {
	t.Helper()
	st := queueStats(t, q)
	if st.Pending != pending || st.Dead != dead || !st.OldestPending.Equal(oldest) {
		t.Errorf("QueueStats = %+v, want %d pending, %d dead, oldest %v", st, pending, dead, oldest)
	}
}

func wantStatus(t testing.TB, s report.Store, ref string, st report.Status, delivered time.Time) {
	t.Helper()
	v := status(t, s, ref)
	ok := v.Status == st
	if delivered.IsZero() {
		ok = ok && v.DeliveredAt == nil
	} else {
		ok = ok && v.DeliveredAt != nil && v.DeliveredAt.Equal(delivered)
	}
	if !ok {
		t.Errorf("Status(%s) = %s at %v, want %s at %v", ref, v.Status, v.DeliveredAt, st, delivered)
	}
}

func done(at time.Time, ref string) report.DeliveryResult {
	return report.DeliveryResult{Kind: report.DeliveryDone, At: at, Reference: ref, Attempted: true}
}

func testJobWithPrimary(t *testing.T, s Queue) {
	wantStats(t, s, 0, 0, time.Time{})
	r := newReport(t)
	acc := accept(t, s, r, window)
	wantStats(t, s, 1, 0, acc.ReceivedAt)
	j := claimOne(t, s, t0, r.ID)
	want := report.DeliveryJob{ReportID: r.ID, HotlineID: r.HotlineID, Attempt: 1, EnqueuedAt: acc.ReceivedAt}
	if j != want {
		t.Errorf("job = %+v, want %+v", j, want)
	}
	// A leased job is still pending.
	wantStats(t, s, 1, 0, acc.ReceivedAt)
}

func testNoJobForSightingOrReplay(t *testing.T, s Queue) {
	p := newReport(t)
	accept(t, s, p, window)
	sight := sameURL(t, p, t0.Add(time.Minute))
	accept(t, s, sight, window)
	accept(t, s, retry(t, p), window)
	accept(t, s, retry(t, sight), window)
	other := sameURL(t, p, t0.Add(time.Minute))
	other.HotlineID = "hotline-b"
	accept(t, s, other, window)

	jobs := claim(t, s, far, 100)
	got := jobIDs(jobs)
	slices.Sort(got)
	want := []string{p.ID, other.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("jobs = %v, want one per primary %v", got, want)
	}
}

// A report that is not stored leaves no job behind: the job is written in
// the report's transaction.
func testNoJobForFailedReport(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)

	bad := newReport(t)
	bad.ContentType = "not-a-type" // passes the store's own checks, fails the schema's
	if _, err := s.Accept(context.Background(), bad, window); err == nil {
		t.Fatal("Accept of a report with an unknown content type succeeded")
	}
	conflict := retry(t, r)
	conflict.Fingerprint = "fp-other"
	if _, err := s.Accept(context.Background(), conflict, window); !errors.Is(err, report.ErrIdempotencyConflict) {
		t.Fatalf("Accept with a reused key = %v, want ErrIdempotencyConflict", err)
	}
	incomplete := newReport(t)
	incomplete.URLKey = ""
	if _, err := s.Accept(context.Background(), incomplete, window); err == nil {
		t.Fatal("Accept of an incomplete report succeeded")
	}
	wantStats(t, s, 1, 0, t0)
	claimOne(t, s, far, r.ID)
}

func testClaimDueOnly(t *testing.T, s Queue) {
	early := newReport(t)
	accept(t, s, early, window)
	late := newReport(t)
	late.ReceivedAt = t0.Add(time.Hour)
	accept(t, s, late, window)

	wantNoJob(t, s, t0.Add(-time.Microsecond))
	complete(t, s, claimOne(t, s, t0, early.ID), done(t0, ""))
	wantNoJob(t, s, late.ReceivedAt.Add(-time.Microsecond))
	claimOne(t, s, late.ReceivedAt, late.ID)
}

func testClaimLimitAndOrder(t *testing.T, s Queue) {
	var ids []string
	for i := range 5 {
		r := newReport(t)
		r.ReceivedAt = t0.Add(time.Duration(5-i) * time.Second) // accepted in the reverse of their due order
		accept(t, s, r, window)
		ids = append(ids, r.ID)
	}
	slices.Reverse(ids) // due order
	sameSet := func(a, b []string) bool {
		a, b = slices.Clone(a), slices.Clone(b)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(a, b)
	}
	if got := jobIDs(claim(t, s, far, 2)); !sameSet(got, ids[:2]) {
		t.Errorf("first claim = %v, want the two due longest %v", got, ids[:2])
	}
	if got := jobIDs(claim(t, s, far, 10)); !sameSet(got, ids[2:]) {
		t.Errorf("second claim = %v, want the other three %v", got, ids[2:])
	}
	wantNoJob(t, s, far)
	if jobs := claim(t, s, far, 0); len(jobs) != 0 {
		t.Errorf("Claim of 0 = %v", jobIDs(jobs))
	}
}

// Claims running at once never hand out the same job twice.
func testClaimConcurrent(t *testing.T, s Queue) {
	const n = 200
	rs := make([]report.NewReport, n)
	for i := range rs {
		rs[i] = newReport(t)
	}
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if _, err := s.Accept(context.Background(), r, window); err != nil {
				t.Errorf("Accept: %v", err)
			}
		})
	}
	wg.Wait()
	var mu sync.Mutex
	seen := map[string]int{}
	for range 8 {
		wg.Go(func() {
			for {
				jobs, err := s.Claim(context.Background(), far, 7, lease)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				total := 0
				for _, j := range jobs {
					seen[j.ReportID]++
				}
				for _, c := range seen {
					total += c
				}
				mu.Unlock()
				if total > n {
					return // handed out twice: reported below, and a broken lease must not loop forever
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d jobs claimed, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("job %s claimed %d times", id, c)
		}
	}
}

func testClaimInvalid(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)
	if _, err := s.Claim(context.Background(), far, 10, 0); err == nil {
		t.Error("Claim with no lease succeeded")
	}
	claimOne(t, s, far, r.ID)
}

// A worker that died holds its lease until it ends; then the job is
// claimed again, with the same attempt number, as no attempt was recorded.
func testLeaseExpiry(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)
	first := claimOne(t, s, t0, r.ID)
	wantNoJob(t, s, t0)
	wantNoJob(t, s, t0.Add(lease-time.Microsecond))
	again := t0.Add(lease + time.Microsecond)
	second := claimOne(t, s, again, r.ID)
	if second.Attempt != first.Attempt || !second.EnqueuedAt.Equal(first.EnqueuedAt) {
		t.Errorf("re-claimed job = %+v, want attempt and enqueue time of %+v", second, first)
	}
	// The second claim holds a lease of its own.
	wantNoJob(t, s, again.Add(lease-time.Microsecond))
	// The first worker was only slow: its result still counts.
	complete(t, s, first, done(again, "HOT-1"))
	wantNoJob(t, s, far)
	wantStatus(t, s, r.Reference, report.StatusDelivered, again)
}

func testCompleteDone(t *testing.T, s Queue) {
	p := newReport(t)
	accept(t, s, p, window)
	sight := sameURL(t, p, t0.Add(time.Minute))
	accept(t, s, sight, window)
	j := claimOne(t, s, t0.Add(time.Minute), p.ID)

	t1 := t0.Add(5 * time.Minute)
	complete(t, s, j, done(t1, "HOT-1"))
	wantStatus(t, s, p.Reference, report.StatusDelivered, t1)
	wantStatus(t, s, sight.Reference, report.StatusDelivered, t1) // a sighting shows its primary's
	wantNoJob(t, s, far)
	wantStats(t, s, 0, 0, time.Time{})

	// Done again (a duplicate completion) changes nothing.
	complete(t, s, j, done(t1.Add(time.Hour), "HOT-2"))
	wantStatus(t, s, p.Reference, report.StatusDelivered, t1)
	wantNoJob(t, s, far)
}

func testCompleteRetry(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)
	j := claimOne(t, s, t0, r.ID)
	at := t0.Add(10 * time.Minute)
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryRetry, At: at, Reason: "HTTP 503", Attempted: true})
	wantStatus(t, s, r.Reference, report.StatusAccepted, time.Time{})
	wantStats(t, s, 1, 0, t0)
	wantNoJob(t, s, at.Add(-time.Microsecond))
	j = claimOne(t, s, at, r.ID)
	if j.Attempt != 2 {
		t.Errorf("attempt after one failure = %d, want 2", j.Attempt)
	}
	// Not attempted (the lane was full): not counted.
	at2 := at.Add(10 * time.Minute)
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryRetry, At: at2, Reason: "lane busy"})
	wantNoJob(t, s, at2.Add(-time.Microsecond))
	if j = claimOne(t, s, at2, r.ID); j.Attempt != 2 {
		t.Errorf("attempt after a run not attempted = %d, want 2", j.Attempt)
	}
	// A retry may also be due earlier than the lease's end.
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryRetry, At: at2, Attempted: true})
	if j = claimOne(t, s, at2, r.ID); j.Attempt != 3 {
		t.Errorf("attempt = %d, want 3", j.Attempt)
	}
}

func testCompleteDeadAndRevive(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)
	keep := newReport(t) // a pending job, due later
	keep.ReceivedAt = t0.Add(10 * time.Hour)
	accept(t, s, keep, window)
	j := claimOne(t, s, t0, r.ID)
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryRetry, At: t0.Add(time.Minute), Attempted: true})
	j = claimOne(t, s, t0.Add(time.Minute), r.ID)
	t1 := t0.Add(2 * time.Minute)
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryDead, At: t1, Reason: "refused: HTTP 400", Attempted: true})

	dead, err := s.Dead(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := report.DeadDelivery{ReportID: r.ID, Reference: r.Reference, HotlineID: r.HotlineID,
		Attempts: 2, EnqueuedAt: t0, DiedAt: t1, Reason: "refused: HTTP 400"}
	if len(dead) != 1 || !equalDead(dead[0], want) {
		t.Fatalf("Dead = %+v, want [%+v]", dead, want)
	}
	wantStats(t, s, 1, 1, keep.ReceivedAt)
	wantNoJob(t, s, keep.ReceivedAt.Add(-time.Microsecond))
	wantStatus(t, s, r.Reference, report.StatusAccepted, time.Time{})

	// Only a dead job can be revived.
	for _, id := range []string{"no-such-report", keep.ID} {
		if err := s.Revive(context.Background(), id, t1); !errors.Is(err, report.ErrNotFound) {
			t.Errorf("Revive(%s) = %v, want ErrNotFound", id, err)
		}
	}
	t2 := t0.Add(time.Hour)
	if err := s.Revive(context.Background(), r.ID, t2); err != nil {
		t.Fatalf("Revive: %v", err)
	}
	if dead, err := s.Dead(context.Background(), 10); err != nil || len(dead) != 0 {
		t.Errorf("Dead after Revive = %+v, %v; want none", dead, err)
	}
	// Revived as if enqueued now: attempts and the maximum age start afresh.
	wantNoJob(t, s, t2.Add(-time.Microsecond))
	j = claimOne(t, s, t2, r.ID)
	if j.Attempt != 1 || !j.EnqueuedAt.Equal(t2) {
		t.Errorf("revived job = %+v, want attempt 1, enqueued at %v", j, t2)
	}
	if err := s.Revive(context.Background(), r.ID, t2); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("Revive of a job no longer dead = %v, want ErrNotFound", err)
	}
	if dead, err := s.Dead(context.Background(), 0); err != nil || len(dead) != 0 {
		t.Errorf("Dead(0) = %+v, %v", dead, err)
	}
}

func equalDead(a, b report.DeadDelivery) bool {
	return a.ReportID == b.ReportID && a.Reference == b.Reference && a.HotlineID == b.HotlineID &&
		a.Attempts == b.Attempts && a.EnqueuedAt.Equal(b.EnqueuedAt) && a.DiedAt.Equal(b.DiedAt) && a.Reason == b.Reason
}

func testCompleteUseForm(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)
	j := claimOne(t, s, t0, r.ID)
	t1 := t0.Add(time.Second)
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryUseForm, At: t1})
	wantStatus(t, s, r.Reference, report.StatusUseHotlineForm, t1)
	wantNoJob(t, s, far)
	wantStats(t, s, 0, 0, time.Time{})
}

func testCompleteAwaitPull(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)
	j := claimOne(t, s, t0, r.ID)
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryAwaitPull, At: t0})
	wantStatus(t, s, r.Reference, report.StatusAccepted, time.Time{})
	wantNoJob(t, s, far)
	wantStats(t, s, 0, 0, time.Time{})
}

// A worker whose lease ended reports after another finished the job: its
// result must not undo the other's, unless it is a success.
func testLateResultIgnored(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)
	slow := claimOne(t, s, t0, r.ID)
	t1 := t0.Add(lease + time.Microsecond)
	fast := claimOne(t, s, t1, r.ID)
	complete(t, s, fast, done(t1, "HOT-1"))
	for _, late := range []report.DeliveryResult{
		{Kind: report.DeliveryRetry, At: t1, Attempted: true},
		{Kind: report.DeliveryDead, At: t1, Reason: "late", Attempted: true},
		{Kind: report.DeliveryUseForm, At: t1},
		{Kind: report.DeliveryAwaitPull},
	} {
		complete(t, s, slow, late)
	}
	wantStatus(t, s, r.Reference, report.StatusDelivered, t1)
	wantNoJob(t, s, far)
	wantStats(t, s, 0, 0, time.Time{})

	// A dead job stays dead when a late retry comes in.
	d := newReport(t)
	accept(t, s, d, window)
	slow = claimOne(t, s, t1, d.ID)
	t2 := t1.Add(lease + time.Microsecond)
	fast = claimOne(t, s, t2, d.ID)
	complete(t, s, fast, report.DeliveryResult{Kind: report.DeliveryDead, At: t2, Reason: "refused", Attempted: true})
	complete(t, s, slow, report.DeliveryResult{Kind: report.DeliveryRetry, At: t2, Reason: "late", Attempted: true})
	complete(t, s, slow, report.DeliveryResult{Kind: report.DeliveryDead, At: t2.Add(time.Hour), Reason: "late", Attempted: true})
	wantNoJob(t, s, far)
	wantStats(t, s, 0, 1, time.Time{})
	dead, err := s.Dead(context.Background(), 10)
	want := report.DeadDelivery{ReportID: d.ID, Reference: d.Reference, HotlineID: d.HotlineID,
		Attempts: 1, EnqueuedAt: t0, DiedAt: t2, Reason: "refused"}
	if err != nil || len(dead) != 1 || !equalDead(dead[0], want) {
		t.Errorf("Dead after late results = %+v, %v; want [%+v]", dead, err, want)
	}

	// But a late success counts: the hotline has the report.
	complete(t, s, slow, done(t2.Add(time.Minute), "HOT-LATE"))
	wantStatus(t, s, d.Reference, report.StatusDelivered, t2.Add(time.Minute))
	wantStats(t, s, 0, 0, time.Time{})
}

func testCompleteUnknown(t *testing.T, s Queue) {
	p := newReport(t)
	accept(t, s, p, window)
	sight := sameURL(t, p, t0)
	accept(t, s, sight, window)
	for _, id := range []string{"no-such-report", sight.ID} {
		job := report.DeliveryJob{ReportID: id, HotlineID: p.HotlineID, Attempt: 1, EnqueuedAt: t0}
		if err := s.Complete(context.Background(), job, done(t0, "")); !errors.Is(err, report.ErrNotFound) {
			t.Errorf("Complete(%s) = %v, want ErrNotFound", id, err)
		}
	}
	wantStatus(t, s, sight.Reference, report.StatusAccepted, time.Time{})
}

func testCompleteInvalid(t *testing.T, s Queue) {
	r := newReport(t)
	accept(t, s, r, window)
	j := claimOne(t, s, t0, r.ID)
	for _, bad := range []report.DeliveryResult{
		{Kind: "bogus", At: t0},
		{Kind: report.DeliveryDone},  // no time
		{Kind: report.DeliveryRetry}, // no time
	} {
		if err := s.Complete(context.Background(), j, bad); err == nil {
			t.Errorf("Complete with %+v succeeded", bad)
		}
	}
	// The job is untouched: claimed again after the lease, attempt 1.
	if j = claimOne(t, s, t0.Add(lease+time.Microsecond), r.ID); j.Attempt != 1 {
		t.Errorf("attempt = %d, want 1", j.Attempt)
	}
	wantStatus(t, s, r.Reference, report.StatusAccepted, time.Time{})
}

// Many workers completing at once: every result lands.
func testCompleteConcurrent(t *testing.T, s Queue) {
	const n = 100
	refs := make([]string, n)
	for i := range n {
		r := newReport(t)
		accept(t, s, r, window)
		refs[i] = r.Reference
	}
	jobs := claim(t, s, t0, n)
	if len(jobs) != n {
		t.Fatalf("claimed %d, want %d", len(jobs), n)
	}
	t1 := t0.Add(time.Second)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			if err := s.Complete(context.Background(), j, done(t1, "")); err != nil {
				t.Errorf("Complete: %v", err)
			}
		})
	}
	wg.Wait()
	for _, ref := range refs {
		wantStatus(t, s, ref, report.StatusDelivered, t1)
	}
	wantStats(t, s, 0, 0, time.Time{})
}

func testLoad(t *testing.T, s Queue) {
	p := newReport(t)
	accept(t, s, p, window)
	sight := sameURL(t, p, t0.Add(time.Hour))
	sight.Comment = "seen again"
	accept(t, s, sight, window)
	want := report.Sightings{Count: 2, First: t0, Last: t0.Add(time.Hour)}
	for _, r := range []report.NewReport{p, sight} {
		got, sg, err := s.Load(context.Background(), r.ID)
		if err != nil {
			t.Fatalf("Load(%s): %v", r.ID, err)
		}
		if !equalReport(got, r.Report) {
			t.Errorf("Load(%s) = %+v, want %+v", r.ID, got, r.Report)
		}
		if !equalSightings(sg, want) {
			t.Errorf("Load(%s) sightings = %+v, want %+v", r.ID, sg, want)
		}
	}
	if _, _, err := s.Load(context.Background(), "no-such-report"); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("Load(unknown) = %v, want ErrNotFound", err)
	}
}

func equalReport(a, b report.Report) bool {
	ra, rb := a.ReceivedAt, b.ReceivedAt
	a.ReceivedAt, b.ReceivedAt = time.Time{}, time.Time{}
	return a == b && ra.Equal(rb)
}

func equalSightings(a, b report.Sightings) bool {
	return a.Count == b.Count && a.First.Equal(b.First) && a.Last.Equal(b.Last)
}

// erased is r as Erase leaves it.
func erased(r report.Report) report.Report {
	r.URL, r.URLKey, r.PageURL, r.Comment, r.Contact = "", "", "", "", ""
	return r
}

func testErase(t *testing.T, s Queue) {
	t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	mk := func() report.NewReport { r := newReport(t); accept(t, s, r, window); return r }
	p := mk()
	sight := sameURL(t, p, t0.Add(time.Minute))
	accept(t, s, sight, window)
	form, later, pending, dead := mk(), mk(), mk(), mk()
	results := map[string]report.DeliveryResult{
		p.ID:     done(t1, "HOT-1"),
		form.ID:  {Kind: report.DeliveryUseForm, At: t1},
		later.ID: done(t3, "HOT-2"),
		dead.ID:  {Kind: report.DeliveryDead, At: t1, Reason: "refused", Attempted: true},
	}
	for _, j := range claim(t, s, t0.Add(time.Minute), 10) {
		if r, ok := results[j.ReportID]; ok {
			complete(t, s, j, r)
		}
	}
	load := func(id string) (report.Report, report.Sightings) {
		t.Helper()
		r, sg, err := s.Load(context.Background(), id)
		if err != nil {
			t.Fatalf("Load(%s): %v", id, err)
		}
		return r, sg
	}
	_, sightingsBefore := load(p.ID)

	n, err := s.Erase(context.Background(), t2)
	if err != nil || n != 3 {
		t.Fatalf("Erase = %d, %v; want 3 (a primary, its sighting, a report sent to the form)", n, err)
	}
	for _, r := range []report.NewReport{p, sight, form} {
		got, _ := load(r.ID)
		// The URL key goes too: an unkeyed hash of the URL would still
		// tell whether a given URL was reported.
		if want := erased(r.Report); !equalReport(got, want) {
			t.Errorf("erased %s = %+v, want %+v", r.ID, got, want)
		}
	}
	if _, sg := load(sight.ID); !equalSightings(sg, sightingsBefore) {
		t.Errorf("sightings after Erase = %+v, want %+v", sg, sightingsBefore)
	}
	for _, r := range []report.NewReport{later, pending, dead} {
		if got, _ := load(r.ID); !equalReport(got, r.Report) {
			t.Errorf("report %s erased too early: %+v", r.ID, got)
		}
	}
	wantStatus(t, s, p.Reference, report.StatusDelivered, t1)
	wantStatus(t, s, sight.Reference, report.StatusDelivered, t1)

	if n, err := s.Erase(context.Background(), t2); err != nil || n != 0 {
		t.Errorf("second Erase = %d, %v; want 0", n, err)
	}
	if n, err := s.Erase(context.Background(), t3.Add(time.Microsecond)); err != nil || n != 1 {
		t.Errorf("Erase after the later delivery = %d, %v; want 1", n, err)
	}
}

func testWake(t *testing.T, s Queue) {
	w := s.Wake()
	drain := func() {
		select {
		case <-w:
		default:
		}
	}
	woken := func(what string) {
		t.Helper()
		select {
		case <-w:
		default:
			t.Errorf("Wake not signalled after %s", what)
		}
	}
	drain()
	p := newReport(t)
	accept(t, s, p, window)
	woken("a new primary report")

	// Signals do not pile up: one wakes the worker, which claims all.
	accept(t, s, newReport(t), window)
	accept(t, s, newReport(t), window)
	woken("two new primary reports")
	if jobs := claim(t, s, far, 10); len(jobs) != 3 {
		t.Fatalf("claimed %d, want 3", len(jobs))
	}

	j := report.DeliveryJob{ReportID: p.ID, HotlineID: p.HotlineID, Attempt: 1, EnqueuedAt: t0}
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryDead, At: t0, Reason: "refused", Attempted: true})
	drain()
	if err := s.Revive(context.Background(), p.ID, t0); err != nil {
		t.Fatal(err)
	}
	woken("a revive")
}
