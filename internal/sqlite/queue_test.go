package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

func claimAll(t testing.TB, s *Store, now time.Time) []report.DeliveryJob {
	t.Helper()
	jobs, err := s.Claim(context.Background(), now, MaxClaim, time.Minute)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return jobs
}

func countRows(t testing.TB, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitOps waits until n ops sit in the writer's queue.
func waitOps(s *Store, n int) {
	for len(s.ops) < n {
		runtime.Gosched()
	}
}

// TestJobAtomicWithBatch fails the COMMIT of a batch of new primaries:
// neither their reports nor their jobs may be stored, and no Wake comes.
func TestJobAtomicWithBatch(t *testing.T) {
	g := newGate()
	g.fail = func(call int) error {
		if call == 2 {
			return errors.New("injected commit failure")
		}
		return nil
	}
	s := openTest(t, g.option())
	first := acceptAsync(s, newReports(t, 1))
	<-g.reached
	batch := newReports(t, 10)
	wait := acceptAsync(s, batch)
	waitQueued(s, len(batch))
	close(g.release)
	if err := first()[0]; err != nil {
		t.Fatal(err)
	}
	<-s.Wake() // the first batch's
	for i, err := range wait() {
		if !errors.Is(err, report.ErrUnavailable) {
			t.Fatalf("request %d: %v, want ErrUnavailable", i, err)
		}
	}
	select {
	case <-s.Wake():
		t.Error("Wake signalled after a failed batch")
	default:
	}
	if n := countRows(t, s, "SELECT count(*) FROM deliveries"); n != 1 {
		t.Errorf("%d delivery rows, want 1 (the first batch's)", n)
	}
	if jobs := claimAll(t, s, t0); len(jobs) != 1 {
		t.Errorf("claimed %d jobs, want 1", len(jobs))
	}
}

// TestDiskFullKeepsNoJob fills the database during a batch: no job of it
// may be left behind.
func TestDiskFullKeepsNoJob(t *testing.T) {
	g := newGate()
	s := openTest(t, g.option())
	var pages int
	if err := s.wdb.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+4)); err != nil {
		t.Fatal(err)
	}
	first := acceptAsync(s, newReports(t, 1))
	<-g.reached
	batch := newReports(t, 20)
	for i := range batch {
		batch[i].Comment = strings.Repeat("x", report.MaxCommentRunes)
	}
	wait := acceptAsync(s, batch)
	waitQueued(s, len(batch))
	close(g.release)
	if err := first()[0]; err != nil {
		t.Fatal(err)
	}
	for i, err := range wait() {
		if !errors.Is(err, report.ErrUnavailable) {
			t.Errorf("request %d with the disk full: %v, want ErrUnavailable", i, err)
		}
	}
	if n := countRows(t, s, "SELECT count(*) FROM deliveries"); n != 1 {
		t.Errorf("%d delivery rows, want 1", n)
	}
	if _, err := s.wdb.Exec("PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

// latch holds the writer before the COMMIT of the first batch after it
// is armed, so that a test can set up first and then queue work behind it.
type latch struct {
	armed   atomic.Bool
	reached chan struct{}
	release chan struct{}
}

func newLatch() *latch { return &latch{reached: make(chan struct{}), release: make(chan struct{})} }

func (l *latch) option() Option {
	return withBeforeCommit(func(int) error {
		if l.armed.CompareAndSwap(true, false) {
			close(l.reached)
			<-l.release
		}
		return nil
	})
}

// hold arms l, makes the writer start a batch, and returns once the writer
// is held in it, with a function that waits for that batch's report.
func (l *latch) hold(t *testing.T, s *Store) func() []error {
	l.armed.Store(true)
	wait := acceptAsync(s, newReports(t, 1))
	<-l.reached
	return wait
}

// TestOpsShareCommit holds the writer in a batch while a worker pool
// completes 300 jobs and claims more, and reports arrive: all of it goes
// into the next transaction, one fsync.
func TestOpsShareCommit(t *testing.T) {
	l := newLatch()
	s := openTest(t, l.option())
	for _, err := range acceptAsync(s, newReports(t, 300))() {
		if err != nil {
			t.Fatal(err)
		}
	}
	jobs := claimAll(t, s, t0)
	if len(jobs) != 300 {
		t.Fatalf("claimed %d, want 300", len(jobs))
	}
	held := l.hold(t, s)
	before := s.Stats()

	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			r := report.DeliveryResult{Kind: report.DeliveryDone, At: t0.Add(time.Second), Attempted: true}
			if err := s.Complete(context.Background(), j, r); err != nil {
				t.Errorf("Complete: %v", err)
			}
		})
	}
	waitOps(s, len(jobs))
	var claimed []report.DeliveryJob
	wg.Go(func() { claimed = claimAll(t, s, t0) })
	waitOps(s, len(jobs)+1)
	reports := acceptAsync(s, newReports(t, 5))
	waitQueued(s, 5)
	close(l.release)
	wg.Wait()
	for _, err := range append(held(), reports()...) {
		if err != nil {
			t.Fatal(err)
		}
	}

	after := s.Stats()
	if b, o, r := after.OpBatches-before.OpBatches, after.Ops-before.Ops, after.Batches-before.Batches; b != 1 || o != 301 || r != 2 {
		t.Errorf("after release: %d op batches holding %d ops, %d report batches; want 1 holding 301, and 2", b, o, r)
	}
	if n := countRows(t, s, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"); n != 300 {
		t.Errorf("%d delivered, want 300", n)
	}
	// The claim came after the reports in the same transaction: it got
	// the five, and the held batch's one.
	if len(claimed) != 6 {
		t.Errorf("claim in the shared batch got %d jobs, want 6", len(claimed))
	}
}

// TestOpFailureSparesBatch makes one completion break a constraint (a
// trigger stands in for a bug): that completion fails alone, and the
// reports and other completions in its transaction are stored.
func TestOpFailureSparesBatch(t *testing.T) {
	l := newLatch()
	s := openTest(t, l.option())
	for _, err := range acceptAsync(s, newReports(t, 2))() {
		if err != nil {
			t.Fatal(err)
		}
	}
	jobs := claimAll(t, s, t0)
	if _, err := s.wdb.Exec(`CREATE TRIGGER boom BEFORE UPDATE OF state ON deliveries
		WHEN NEW.last_reason = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	held := l.hold(t, s)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		errs[0] = s.Complete(context.Background(), jobs[0],
			report.DeliveryResult{Kind: report.DeliveryDead, At: t0, Reason: "boom", Attempted: true})
	})
	waitOps(s, 1)
	wg.Go(func() {
		errs[1] = s.Complete(context.Background(), jobs[1], report.DeliveryResult{Kind: report.DeliveryDone, At: t0})
	})
	waitOps(s, 2)
	rs := newReports(t, 3)
	wait := acceptAsync(s, rs)
	waitQueued(s, 3)
	close(l.release)
	wg.Wait()
	for _, err := range append(held(), wait()...) {
		if err != nil {
			t.Fatalf("report in the batch of a failed op: %v", err)
		}
	}
	if errs[0] == nil || errors.Is(errs[0], report.ErrUnavailable) {
		t.Errorf("the failing completion = %v, want an error of its own", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("the other completion = %v", errs[1])
	}
	if n := countRows(t, s, "SELECT count(*) FROM deliveries WHERE state = 'dead'"); n != 0 {
		t.Errorf("%d dead: the failed completion was stored", n)
	}
	for _, r := range rs {
		if !stored(t, s, r.Reference) {
			t.Errorf("report %s of the batch not stored", r.ID)
		}
	}
}

// TestCloseAnswersOps closes the store with delivery ops queued: each is
// answered (committed), none hangs, and afterwards ops are refused.
func TestCloseAnswersOps(t *testing.T) {
	l := newLatch()
	s, err := Open(filepath.Join(t.TempDir(), "reports.db"), l.option())
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range acceptAsync(s, newReports(t, 50))() {
		if err != nil {
			t.Fatal(err)
		}
	}
	jobs := claimAll(t, s, t0)
	held := l.hold(t, s)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			errs[i] = s.Complete(context.Background(), j, report.DeliveryResult{Kind: report.DeliveryDone, At: t0})
		})
	}
	waitOps(s, len(jobs))
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	close(l.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := held()[0]; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("completion %d queued at Close: %v", i, err)
		}
	}
	if _, err := s.Claim(context.Background(), t0, 1, time.Minute); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Claim after Close = %v, want ErrUnavailable", err)
	}
	if err := s.Complete(context.Background(), jobs[0], report.DeliveryResult{Kind: report.DeliveryDone, At: t0}); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Complete after Close = %v, want ErrUnavailable", err)
	}
}

// TestCancelledOp cancels a claim while it waits in the queue: it is not
// written, so its jobs are not leased.
func TestCancelledOp(t *testing.T) {
	l := newLatch()
	s := openTest(t, l.option())
	mustAccept(t, s, newReport(t))
	held := l.hold(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Claim(ctx, t0, 10, time.Hour)
		done <- err
	}()
	waitOps(s, 1)
	cancel()
	close(l.release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Claim = %v, want context.Canceled", err)
	}
	if err := held()[0]; err != nil {
		t.Fatal(err)
	}
	if jobs := claimAll(t, s, t0); len(jobs) != 2 {
		t.Errorf("claimed %d after a cancelled claim, want both jobs", len(jobs))
	}
}

func TestReleaseLeases(t *testing.T) {
	s := openTest(t)
	a, b := newReport(t), newReport(t)
	b.ReceivedAt = t0.Add(time.Hour)
	mustAccept(t, s, a)
	mustAccept(t, s, b)
	if jobs := claimAll(t, s, t0); len(jobs) != 1 {
		t.Fatalf("claimed %d, want 1", len(jobs))
	}
	select { // drain the accepts' signal
	case <-s.Wake():
	default:
	}
	now := t0.Add(time.Second) // the lease runs to t0+1m
	n, err := s.ReleaseLeases(context.Background(), now)
	if err != nil || n != 1 {
		t.Fatalf("ReleaseLeases = %d, %v; want 1", n, err)
	}
	select {
	case <-s.Wake():
	default:
		t.Error("no Wake after leases were released")
	}
	if jobs := claimAll(t, s, now); len(jobs) != 1 || jobs[0].ReportID != a.ID || jobs[0].Attempt != 1 {
		t.Errorf("claim after release = %+v, want a's job, attempt 1", jobs)
	}
	// b was not leased; it stays due when it was.
	if jobs := claimAll(t, s, b.ReceivedAt.Add(-time.Microsecond)); slices.ContainsFunc(jobs, func(j report.DeliveryJob) bool { return j.ReportID == b.ID }) {
		t.Errorf("b claimable before it is due: %+v", jobs)
	}
}

// explain returns the query plan details of query.
func explain(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return plan
}

// TestQueueQueriesUseIndexes: the queries that run often, or over tables
// that only grow, must not scan.
func TestQueueQueriesUseIndexes(t *testing.T) {
	s := openTest(t)
	for _, c := range []struct {
		name, query string
		args        []any
		want        []string
	}{
		{"claim", s.q.claim, []any{1, 0, 10}, []string{"deliveries_due"}},
		{"queueStats", s.q.queueStats, nil, []string{"deliveries_due", "deliveries_dead"}},
		{"deadJobs", s.q.deadJobs, []any{10}, []string{"deliveries_dead"}},
		{"listForHotline", s.q.listForHotline, []any{"h", 0, 10}, []string{"deliveries_hotline"}},
		{"eraseReports", s.q.eraseReports, []any{0, 0, 10}, []string{"reports_erasable", "reports_primary_id"}},
		{"completeDone", s.q.completeDone, []any{0, "", 0, "x"}, []string{"sqlite_autoindex_deliveries_1"}},
	} {
		plan := explain(t, s.wdb, c.query, c.args...)
		for _, idx := range c.want {
			if !slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, idx) }) {
				t.Errorf("%s does not use %s: %q", c.name, idx, plan)
			}
		}
		for _, d := range plan {
			if strings.HasPrefix(d, "SCAN ") && !strings.Contains(d, "INDEX") && d != "SCAN CONSTANT ROW" {
				t.Errorf("%s scans a table: %q", c.name, plan)
			}
		}
	}
}

// TestMigrationBackfillsJobs opens a database written before the
// deliveries table existed: every primary gets a job, in received order,
// in the state its status says; sightings get none.
func TestMigrationBackfillsJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	q, err := loadQueries(queriesSQL)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := preparePathAndMigrate(path, q, ms[:1]); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ins := `INSERT INTO reports (id, reference, primary_id, url, url_key, content_type, category, hotline_id,
		received_at, first_seen_at, last_seen_at, status, delivered_at) VALUES (?, ?, ?, 'u', 'k', 'page', 'csam', ?, ?, ?, ?, ?, ?)`
	for _, r := range []struct {
		id, primary, hotline, status string
		at                           time.Time
		delivered                    any
	}{
		{"late", "late", "h1", "accepted", t0.Add(time.Hour), nil},
		{"early", "early", "h1", "delivered", t0, micros(t0.Add(time.Minute))},
		{"form", "form", "h2", "use_hotline_form", t0.Add(time.Second), micros(t0.Add(time.Second))},
		{"sight", "early", "h1", "accepted", t0.Add(2 * time.Second), nil},
	} {
		at := micros(r.at)
		if _, err := db.Exec(ins, r.id, "RIT-"+r.id, r.primary, r.hotline, at, at, at, r.status, r.delivered); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.rdb.Query("SELECT report_id, state, coalesce(delivered_at, 0) FROM deliveries ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, state string
		var delivered int64
		if err := rows.Scan(&id, &state, &delivered); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%s:%v", id, state, delivered != 0))
	}
	if err := closeRows(rows); err != nil {
		t.Fatal(err)
	}
	want := []string{"early:delivered:true", "form:use_form:true", "late:pending:false"}
	if !slices.Equal(got, want) {
		t.Errorf("jobs after migration = %q, want %q", got, want)
	}
	if jobs := claimAll(t, s, t0.Add(time.Hour)); len(jobs) != 1 || jobs[0].ReportID != "late" {
		t.Errorf("claim after migration = %+v, want late's job", jobs)
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

// preparePathAndMigrate creates the database at path with only ms applied.
func preparePathAndMigrate(path string, q *queries, ms []migration) error {
	path, err := preparePath(path)
	if err != nil {
		return err
	}
	db, err := openWriter(path, newOptions(nil), q)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = migrate(context.Background(), db, q, ms)
	return err
}

// TestStoreKeepsNoSecrets: the client table keeps a hash, never a secret
// or a token, and the delivery tables no client identity.
func TestStoreKeepsNoSecrets(t *testing.T) {
	s := openTest(t)
	rows, err := s.rdb.Query("SELECT name FROM pragma_table_info('hotline_clients') UNION ALL SELECT name FROM pragma_table_info('deliveries')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var col string
		if err := rows.Scan(&col); err != nil {
			t.Fatal(err)
		}
		c := strings.ToLower(col)
		if c != "secret_hash" && (strings.Contains(c, "secret") || strings.Contains(c, "token") || strings.Contains(c, "ip") && c != "state" || strings.Contains(c, "agent")) {
			t.Errorf("column %q looks like it keeps a secret or a client identity", col)
		}
	}
}
