package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportit/reportit/internal/report"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

func withBeforeCommit(fn func(ctx context.Context, tx *batchTx, batchLen int) error) Option {
	return func(o *options) { o.hooks.beforeCommit = fn }
}

func newReport(t testing.TB) report.NewReport {
	t.Helper()
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	u := hex.EncodeToString(b[:])
	return report.NewReport{
		Report: report.Report{
			ID: "id-" + u, Reference: "RIT-" + u,
			URL: "https://example.test/" + u, URLKey: "urlkey-" + u,
			ContentType: report.ContentPage, Category: report.CategoryCSAM,
			HotlineID: "hotline-a", Client: report.Client{Name: "test"},
			ReceivedAt: t0,
		},
		IdempotencyKey: "idem-" + u,
		Fingerprint:    "fp-" + u,
	}
}

func newReports(t testing.TB, n int) []report.NewReport {
	rs := make([]report.NewReport, n)
	for i := range rs {
		rs[i] = newReport(t)
	}
	return rs
}

func mustAccept(t testing.TB, s *Store, r report.NewReport) report.Accepted {
	t.Helper()
	acc, err := s.Accept(context.Background(), r, report.DedupWindow)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return acc
}

func stored(t testing.TB, s *Store, ref string) bool {
	t.Helper()
	_, err := s.Status(context.Background(), ref)
	if err != nil && !errors.Is(err, report.ErrNotFound) {
		t.Fatalf("Status: %v", err)
	}
	return err == nil
}

func queryString(t testing.TB, s *Store, query string, args ...any) string {
	t.Helper()
	var v string
	if err := s.pool.QueryRow(context.Background(), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

// gate holds the writer inside its first batch, before COMMIT, so that a
// test can queue requests behind it and know what the next batches hold.
type gate struct {
	calls   atomic.Int32
	reached chan struct{}
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
	fail    func(ctx context.Context, tx *batchTx, call int) error
}

func newGate() *gate {
	return &gate{reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) option() Option {
	return withBeforeCommit(func(ctx context.Context, tx *batchTx, n int) error {
		g.mu.Lock()
		g.sizes = append(g.sizes, n)
		g.mu.Unlock()
		call := int(g.calls.Add(1))
		if call == 1 {
			close(g.reached)
			<-g.release
		}
		if g.fail != nil {
			return g.fail(ctx, tx, call)
		}
		return nil
	})
}

func (g *gate) batchSizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sizes)
}

// waitQueued waits until n requests sit in the queue.
func waitQueued(s *Store, n int) {
	for len(s.queue) < n {
		runtime.Gosched()
	}
}

// acceptAsync starts Accept for each report and returns a function that
// waits for the results.
func acceptAsync(s *Store, rs []report.NewReport) func() []error {
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() { _, errs[i] = s.Accept(context.Background(), r, report.DedupWindow) })
	}
	return func() []error { wg.Wait(); return errs }
}

func noErrors(t testing.TB, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
}

func TestCheckDurability(t *testing.T) {
	for _, c := range []struct {
		syncCommit, fsync string
		ok                bool
	}{
		{"on", "on", true},
		{"local", "on", true},
		{"remote_write", "on", true},
		{"remote_apply", "on", true},
		{"off", "on", false},
		{"OFF", "on", false},
		{"on", "off", false},
		{"off", "off", false},
	} {
		err := checkDurability(c.syncCommit, c.fsync)
		if (err == nil) != c.ok {
			t.Errorf("checkDurability(%q, %q) = %v, want ok %v", c.syncCommit, c.fsync, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrNotDurable) {
			t.Errorf("checkDurability(%q, %q) = %v, want ErrNotDurable", c.syncCommit, c.fsync, err)
		}
	}
}

// TestOpenRefusesSynchronousCommitOff sets synchronous_commit off for the
// connection (in the URL) and for the database: Open must refuse both.
func TestOpenRefusesSynchronousCommitOff(t *testing.T) {
	dbURL := newDatabase(t)
	if s, err := Open(context.Background(), withParam(t, dbURL, "synchronous_commit", "off")); !errors.Is(err, ErrNotDurable) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open with synchronous_commit=off in the URL = %v, want ErrNotDurable", err)
	}
	s, err := Open(context.Background(), withParam(t, dbURL, "synchronous_commit", "local"))
	if err != nil {
		t.Fatalf("Open with synchronous_commit=local: %v", err)
	}
	s.Close()

	admin := adminConn(t)
	defer admin.Close(context.Background())
	name := dbName(t, dbURL)
	if _, err := admin.Exec(context.Background(), "ALTER DATABASE "+name+" SET synchronous_commit = off"); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(context.Background(), dbURL); !errors.Is(err, ErrNotDurable) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open on a database with synchronous_commit off = %v, want ErrNotDurable", err)
	}
	if _, err := Migrate(context.Background(), dbURL); !errors.Is(err, ErrNotDurable) {
		t.Errorf("Migrate on a database with synchronous_commit off = %v, want ErrNotDurable", err)
	}
}

// TestBatchKeepsSynchronousCommit turns synchronous_commit off on the
// store's only connection after Open (as a configuration reload would):
// the batch transaction must still commit synchronously, and say so from
// inside, whatever the session says.
func TestBatchKeepsSynchronousCommit(t *testing.T) {
	var inTx, isolation string
	s := openTest(t, WithMaxConns(1), withBeforeCommit(func(ctx context.Context, tx *batchTx, _ int) error {
		if err := tx.QueryRow(ctx, "SHOW synchronous_commit").Scan(&inTx); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SHOW transaction_isolation").Scan(&isolation)
	}))
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, "SET synchronous_commit = off"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "SET default_transaction_isolation = 'serializable'"); err != nil {
		t.Fatal(err)
	}
	mustAccept(t, s, newReport(t))
	if inTx != "on" {
		t.Errorf("synchronous_commit in the batch = %q, want on", inTx)
	}
	if isolation != "read committed" {
		t.Errorf("batch isolation = %q, want read committed", isolation)
	}
	if got := queryString(t, s, "SHOW synchronous_commit"); got != "off" {
		t.Errorf("session synchronous_commit = %q after the batch; the test did not test the override", got)
	}
}

func TestOpenBadURL(t *testing.T) {
	const secret = "s3cr3t-password"
	_, err := Open(context.Background(), "postgres://u:"+secret+"@127.0.0.1:5432/x?sslmode=nonsense")
	if err == nil {
		t.Fatal("Open with a bad URL succeeded")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q shows the password", err)
	}
}

// TestGroupCommit holds the first batch open while 99 more requests queue:
// they must all go into one second transaction.
func TestGroupCommit(t *testing.T) {
	g := newGate()
	s := openTest(t, g.option())
	first := acceptAsync(s, newReports(t, 1))
	<-g.reached
	rest := newReports(t, 99)
	wait := acceptAsync(s, rest)
	waitQueued(s, len(rest))
	close(g.release)
	noErrors(t, append(first(), wait()...))
	if got := g.batchSizes(); !slices.Equal(got, []int{1, 99}) {
		t.Errorf("batch sizes = %v, want [1 99]", got)
	}
	if st := s.Stats(); st.Batches != 2 || st.Reports != 100 || st.OneByOne != 0 {
		t.Errorf("Stats = %+v, want 2 batches, 100 reports, none one by one", st)
	}
	for _, r := range rest {
		if !stored(t, s, r.Reference) {
			t.Fatalf("%s not stored", r.Reference)
		}
	}
}

func TestMaxBatch(t *testing.T) {
	g := newGate()
	s := openTest(t, g.option(), WithMaxBatch(4))
	first := acceptAsync(s, newReports(t, 1))
	<-g.reached
	wait := acceptAsync(s, newReports(t, 20))
	waitQueued(s, 4)
	close(g.release)
	noErrors(t, append(first(), wait()...))
	sizes := g.batchSizes()
	total := 0
	for _, n := range sizes {
		total += n
		if n > 4 {
			t.Errorf("batch of %d, max is 4", n)
		}
	}
	if total != 21 || sizes[1] != 4 {
		t.Errorf("batch sizes = %v, want 21 reports, the second batch full", sizes)
	}
}

// failedBatch runs a batch of ten reports and a conflict on one of their
// keys through a store whose second batch fail makes fail: every request
// in it must get ErrUnavailable, none be stored, and the store go on.
func failedBatch(t *testing.T, fail func(ctx context.Context, tx *batchTx) error) {
	g := newGate()
	g.fail = func(ctx context.Context, tx *batchTx, call int) error {
		if call == 2 {
			return fail(ctx, tx)
		}
		return nil
	}
	s := openTest(t, g.option())
	first := acceptAsync(s, newReports(t, 1))
	<-g.reached
	batch := newReports(t, 10)
	// Inside the failing batch: a conflict on a key whose first use is
	// rolled back with it.
	conflict := newReport(t)
	conflict.IdempotencyKey, conflict.Fingerprint = batch[0].IdempotencyKey, "other"
	batch = append(batch, conflict)
	wait := acceptAsync(s, batch)
	waitQueued(s, len(batch))
	close(g.release)
	noErrors(t, first())
	for i, err := range wait() {
		if !errors.Is(err, report.ErrUnavailable) || report.ErrorCode(err) != report.CodeUnavailable {
			t.Errorf("request %d in failed batch: %v, want ErrUnavailable", i, err)
		}
		if stored(t, s, batch[i].Reference) {
			t.Errorf("request %d of a failed batch is stored", i)
		}
	}
	if st := s.Stats(); st.FailedBatches != 1 || st.Reports != 1 {
		t.Errorf("Stats = %+v, want 1 failed batch, 1 report", st)
	}
	// The key of the conflict is free: its first use was rolled back.
	if acc := mustAccept(t, s, conflict); acc.Replayed || acc.ID != conflict.ID {
		t.Errorf("retry after failed batch = %+v", acc)
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestCommitFailure fails a batch just before its COMMIT.
func TestCommitFailure(t *testing.T) {
	failedBatch(t, func(context.Context, *batchTx) error { return errors.New("injected commit failure") })
}

// TestConnectionLost kills the batch's server process before COMMIT, as a
// server restart or a network cut would: the COMMIT fails, and the next
// batch gets a new connection.
func TestConnectionLost(t *testing.T) {
	failedBatch(t, func(ctx context.Context, tx *batchTx) error {
		var pid int32
		if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return err
		}
		admin := adminConn(t)
		defer admin.Close(context.Background())
		var ok bool
		if err := admin.QueryRow(ctx, "SELECT pg_terminate_backend($1, 10000)", pid).Scan(&ok); err != nil || !ok {
			t.Errorf("pg_terminate_backend = %v, %v", ok, err)
		}
		return nil
	})
}

// TestCancelledInBatch cancels a caller whose request is already in the
// batch being committed: its report is stored, and it is told so.
func TestCancelledInBatch(t *testing.T) {
	g := newGate()
	s := openTest(t, g.option())
	r := newReport(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Accept(ctx, r, report.DedupWindow)
		done <- err
	}()
	<-g.reached
	cancel()
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("Accept of a committed report = %v, want success", err)
	}
	if !stored(t, s, r.Reference) {
		t.Error("report not stored")
	}
}

// TestCancelWhileWaiting cancels callers before their request joins a
// batch: one that cannot get into the full queue, one whose request sits in
// the queue. Both get the context's error and nothing of theirs is stored.
func TestCancelWhileWaiting(t *testing.T) {
	g := newGate()
	s := openTest(t, g.option(), WithMaxBatch(2))
	first := acceptAsync(s, newReports(t, 1))
	<-g.reached

	queuedCtx, cancelQueued := context.WithCancel(context.Background())
	queued := newReport(t)
	queuedDone := make(chan error, 1)
	go func() {
		_, err := s.Accept(queuedCtx, queued, report.DedupWindow)
		queuedDone <- err
	}()
	waitQueued(s, 1)
	wait := acceptAsync(s, newReports(t, 1))
	waitQueued(s, 2) // the queue is full

	ctx, cancel := context.WithCancel(context.Background())
	blocked := newReport(t)
	done := make(chan error, 1)
	go func() {
		_, err := s.Accept(ctx, blocked, report.DedupWindow)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Accept cancelled while the queue is full = %v, want context.Canceled", err)
	}
	cancelQueued()
	close(g.release)
	if err := <-queuedDone; !errors.Is(err, context.Canceled) {
		t.Errorf("Accept cancelled while queued = %v, want context.Canceled", err)
	}
	noErrors(t, append(first(), wait()...))
	for _, r := range []report.NewReport{blocked, queued} {
		if stored(t, s, r.Reference) {
			t.Errorf("cancelled report %s stored", r.ID)
		}
	}
}

// TestCloseDrainsQueue closes the store with requests queued: Close waits
// for them, all are stored, and they are there after reopening.
func TestCloseDrainsQueue(t *testing.T) {
	g := newGate()
	dbURL := newDatabase(t)
	s, err := Open(context.Background(), dbURL, g.option())
	if err != nil {
		t.Fatal(err)
	}
	first := newReports(t, 1)
	wait1 := acceptAsync(s, first)
	<-g.reached
	queued := newReports(t, 50)
	wait := acceptAsync(s, queued)
	waitQueued(s, len(queued))
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	close(g.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	noErrors(t, append(wait1(), wait()...))
	ctx := context.Background()
	if _, err := s.Accept(ctx, newReport(t), report.DedupWindow); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Accept after Close = %v, want ErrUnavailable", err)
	}
	if _, err := s.Status(ctx, first[0].Reference); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Status after Close = %v, want ErrUnavailable", err)
	}
	if _, _, _, err := s.Sightings(ctx, first[0].ID); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Sightings after Close = %v, want ErrUnavailable", err)
	}
	if _, err := s.PurgeIdempotency(ctx, t0); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("PurgeIdempotency after Close = %v, want ErrUnavailable", err)
	}

	s = openURL(t, dbURL)
	for _, r := range append(first, queued...) {
		if !stored(t, s, r.Reference) {
			t.Errorf("%s lost across Close and Open", r.Reference)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	dbURL := newDatabase(t)
	s, err := Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := newReport(t)
	mustAccept(t, s, p)
	sight := newReport(t)
	sight.URLKey, sight.ReceivedAt = p.URLKey, t0.Add(time.Minute)
	mustAccept(t, s, sight)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openURL(t, dbURL)
	v, err := s.Status(context.Background(), sight.Reference)
	if err != nil || v.ID != sight.ID || !v.ReceivedAt.Equal(sight.ReceivedAt) {
		t.Errorf("Status after reopen = %+v, %v", v, err)
	}
	n, first, last, err := s.Sightings(context.Background(), p.ID)
	if err != nil || n != 2 || !first.Equal(t0) || !last.Equal(t0.Add(time.Minute)) {
		t.Errorf("Sightings after reopen = %d, %v, %v, %v", n, first, last, err)
	}
	// Idempotency records survive too.
	again := p
	again.ID, again.Reference = "id-retry", "RIT-RETRY"
	if acc := mustAccept(t, s, again); !acc.Replayed || acc.ID != p.ID {
		t.Errorf("replay after reopen = %+v", acc)
	}
}

// TestConstraintFailsOnlyItsReport puts reports that break a constraint,
// or carry a value PostgreSQL refuses, in a batch with others: they alone
// fail, each with an error of its own, not ErrUnavailable.
func TestConstraintFailsOnlyItsReport(t *testing.T) {
	g := newGate()
	s := openTest(t, g.option())
	first := acceptAsync(s, newReports(t, 1))
	<-g.reached
	batch := newReports(t, 7)
	batch[1].ID = batch[0].ID                  // duplicate primary key
	batch[3].ContentType = "not-a-type"        // CHECK constraint
	batch[4].Comment = "nul \x00 byte"         // text cannot hold NUL
	batch[5].IdempotencyKey = "bad utf-8 \xff" // nor invalid UTF-8, even in a lookup
	batch[6].URLKey = batch[2].URLKey          // a sighting of a good report
	batch[6].ReceivedAt = t0.Add(time.Second)  // ...
	wait := acceptAsync(s, batch[:1])          // queue batch[0] before batch[1]
	waitQueued(s, 1)
	wait2 := acceptAsync(s, batch[1:3]) // and batch[2] before batch[6]
	waitQueued(s, 3)
	wait3 := acceptAsync(s, batch[3:])
	waitQueued(s, len(batch))
	close(g.release)
	errs := append(first(), append(wait(), append(wait2(), wait3()...)...)...)[1:]
	for i, want := range []bool{true, false, true, false, false, false, true} {
		if ok := errs[i] == nil; ok != want {
			t.Errorf("request %d: err = %v, want success %v", i, errs[i], want)
		}
		if errors.Is(errs[i], report.ErrUnavailable) {
			t.Errorf("request %d: a constraint failure is reported as unavailable", i)
		}
		if got := stored(t, s, batch[i].Reference); got != want {
			t.Errorf("request %d stored = %v, want %v", i, got, want)
		}
	}
	if n, _, _, err := s.Sightings(context.Background(), batch[2].ID); err != nil || n != 2 {
		t.Errorf("Sightings of the good report = %d, %v; want 2", n, err)
	}
	if st := s.Stats(); st.OneByOne != 1 || st.FailedBatches != 0 {
		t.Errorf("Stats = %+v, want one batch redone one by one, none failed", st)
	}
	// Its idempotency key is not used up.
	fixed := batch[3]
	fixed.ContentType = report.ContentOther
	if acc := mustAccept(t, s, fixed); acc.Replayed {
		t.Error("retry of a failed report was a replay")
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestDedupUsesIndex(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// The table is empty, so the planner would rightly scan it; what
	// matters is that the index can serve the query at all.
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+s.q.findPrimaries,
		[]string{"k"}, []string{"h"}, []time.Time{t0}, []time.Time{t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, "reports_dedup") }) {
		t.Errorf("duplicate lookup does not use reports_dedup:\n%s", strings.Join(plan, "\n"))
	}
}

// TestSightingShowsPrimaryDelivery: a sighting's status is its primary's.
func TestSightingShowsPrimaryDelivery(t *testing.T) {
	s := openTest(t)
	p := newReport(t)
	mustAccept(t, s, p)
	sight := newReport(t)
	sight.URLKey, sight.ReceivedAt = p.URLKey, t0.Add(time.Minute)
	mustAccept(t, s, sight)
	at := t0.Add(2 * time.Minute)
	if _, err := s.pool.Exec(context.Background(), "UPDATE reports SET status = 'delivered', delivered_at = $1 WHERE id = $2", at, p.ID); err != nil {
		t.Fatal(err)
	}
	v, err := s.Status(context.Background(), sight.Reference)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != sight.ID || v.Status != report.StatusDelivered || v.DeliveredAt == nil || !v.DeliveredAt.Equal(at) {
		t.Errorf("sighting status = %+v, want delivered at %v", v, at)
	}
	if v.DeliveredAt != nil && v.DeliveredAt.Location() != time.UTC || v.ReceivedAt.Location() != time.UTC {
		t.Errorf("times not in UTC: %+v", v)
	}
}

func TestPurgeIdempotency(t *testing.T) {
	s := openTest(t)
	old := newReports(t, purgeChunk+5)
	for i := range old {
		old[i].ReceivedAt = t0.Add(time.Duration(i) * time.Microsecond)
	}
	noErrors(t, acceptAsync(s, old)())
	recent := newReport(t)
	recent.ReceivedAt = t0.Add(25 * time.Hour)
	mustAccept(t, s, recent)

	n, err := s.PurgeIdempotency(context.Background(), t0.Add(time.Hour))
	if err != nil || n != int64(len(old)) {
		t.Fatalf("PurgeIdempotency = %d, %v; want %d", n, err, len(old))
	}
	// A purged key is free: reused with another body it is a new report.
	reuse := newReport(t)
	reuse.IdempotencyKey = old[0].IdempotencyKey
	if acc := mustAccept(t, s, reuse); acc.Replayed || acc.ID != reuse.ID {
		t.Errorf("Accept with a purged key = %+v, want a new report", acc)
	}
	// A recent key still replays.
	again := recent
	again.ID, again.Reference = "id-again", "RIT-AGAIN"
	if acc := mustAccept(t, s, again); !acc.Replayed {
		t.Error("recent key no longer replays after purge")
	}
	// Reports themselves stay.
	if !stored(t, s, old[0].Reference) {
		t.Error("purge removed a report")
	}
}

func TestIntegrityCheck(t *testing.T) {
	s := openTest(t)
	rs := newReports(t, 50)
	for i := 1; i < 10; i++ { // some sightings, so the counters are checked
		rs[i].URLKey, rs[i].ReceivedAt = rs[0].URLKey, t0.Add(time.Duration(i)*time.Second)
	}
	mustAccept(t, s, rs[0]) // the primary of the sightings
	noErrors(t, acceptAsync(s, rs[1:])())
	ctx := context.Background()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("IntegrityCheck on a sound database: %v", err)
	}
	// Break things behind the store's back, each in a transaction rolled
	// back after the check. session_replication_role=replica turns the
	// foreign key triggers off, as a careless restore would.
	for _, c := range []struct{ name, sql, want string }{
		{"dangling primary", "UPDATE reports SET primary_id = 'gone' WHERE id = '" + rs[20].ID + "'", "missing primary"},
		{"sighting of a sighting", "UPDATE reports SET primary_id = '" + rs[1].ID + "' WHERE id = '" + rs[20].ID + "'", "sighting of a sighting"},
		{"count", "UPDATE reports SET sighting_count = 3 WHERE id = '" + rs[0].ID + "'", "counts 3 sightings"},
		{"first seen", "UPDATE reports SET first_seen_at = first_seen_at + interval '1 second' WHERE id = '" + rs[0].ID + "'", "counts 10 sightings"},
		{"not valid", "ALTER TABLE reports ADD CONSTRAINT later CHECK (sighting_count < 1000000) NOT VALID", "constraint later on reports is not validated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, c.sql); err != nil {
				t.Fatal(err)
			}
			var problems []string
			rows, err := tx.Query(ctx, s.q.integrityCheck, maxProblems+1)
			if err == nil {
				problems, err = pgx.CollectRows(rows, pgx.RowTo[string])
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("problems = %q, want one saying %q", problems, c.want)
			}
		})
	}
	// And through IntegrityCheck itself, committed.
	if _, err := s.pool.Exec(ctx, "UPDATE reports SET sighting_count = 7 WHERE id = $1", rs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.IntegrityCheck(ctx); !errors.Is(err, ErrIntegrity) {
		t.Errorf("IntegrityCheck with a wrong counter = %v, want ErrIntegrity", err)
	}
}

func TestStoreKeepsNoClientIdentity(t *testing.T) {
	s := openTest(t)
	rows, err := s.pool.Query(context.Background(),
		"SELECT column_name FROM information_schema.columns WHERE table_name IN ('reports', 'idempotency')")
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 10 {
		t.Fatalf("found only columns %q", cols)
	}
	for _, col := range cols {
		for _, bad := range []string{"ip", "addr", "agent", "installation", "token"} {
			if strings.Contains(strings.ToLower(col), bad) {
				t.Errorf("column %q looks like it identifies a reporter's client", col)
			}
		}
	}
}

// TestTimesKept: ReceivedAt is kept to the microsecond (truncated, as the
// SQLite store does), and every time comes back in UTC.
func TestTimesKept(t *testing.T) {
	s := openTest(t)
	r := newReport(t)
	r.ReceivedAt = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	want := time.Date(2031, 5, 6, 6, 8, 9, 123456000, time.UTC)
	acc := mustAccept(t, s, r)
	if !acc.ReceivedAt.Equal(want) || acc.ReceivedAt.Location() != time.UTC {
		t.Errorf("Accept ReceivedAt = %v, want %v", acc.ReceivedAt, want)
	}
	again := r
	again.ID, again.Reference = "id-again", "RIT-AGAIN"
	if acc := mustAccept(t, s, again); !acc.ReceivedAt.Equal(want) || acc.ReceivedAt.Location() != time.UTC {
		t.Errorf("replay ReceivedAt = %v, want %v", acc.ReceivedAt, want)
	}
	v, err := s.Status(context.Background(), r.Reference)
	if err != nil || !v.ReceivedAt.Equal(want) || v.ReceivedAt.Location() != time.UTC {
		t.Errorf("Status = %+v, %v; want ReceivedAt %v", v, err, want)
	}
	_, first, last, err := s.Sightings(context.Background(), r.ID)
	if err != nil || !first.Equal(want) || !last.Equal(want) || first.Location() != time.UTC {
		t.Errorf("Sightings = %v, %v, %v", first, last, err)
	}
}

// TestJobFailureFailsBatch makes the delivery jobs of a batch fail (their
// pull cursor numbers, wound back, collide with stored jobs'): the jobs go
// in the same pipeline as the reports, after the set's savepoint, so the
// whole batch fails, unavailable, with nothing of it stored, rather than
// being redone report by report; and the store goes on once the numbers
// are right.
func TestJobFailureFailsBatch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, r := range newReports(t, 3) {
		mustAccept(t, s, r)
	}
	if _, err := s.pool.Exec(ctx, "UPDATE delivery_seqs SET last_seq = 0"); err != nil {
		t.Fatal(err)
	}
	r := newReport(t)
	if _, err := s.Accept(ctx, r, report.DedupWindow); !errors.Is(err, report.ErrUnavailable) {
		t.Fatalf("Accept with colliding job numbers = %v, want ErrUnavailable", err)
	}
	if stored(t, s, r.Reference) {
		t.Error("report of the failed batch stored")
	}
	if st := s.Stats(); st.FailedBatches != 1 || st.OneByOne != 0 {
		t.Errorf("Stats = %+v, want 1 failed batch, none redone one by one", st)
	}
	if _, err := s.pool.Exec(ctx, "UPDATE delivery_seqs SET last_seq = 3"); err != nil {
		t.Fatal(err)
	}
	if acc := mustAccept(t, s, r); acc.Replayed {
		t.Error("retry after the failed batch was a replay")
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
}
