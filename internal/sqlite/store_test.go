package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
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

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

func withBeforeCommit(fn func(batchLen int) error) Option {
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

func queryString(t testing.TB, db *sql.DB, query string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(context.Background(), query).Scan(&v); err != nil {
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
	fail    func(call int) error
}

func newGate() *gate {
	return &gate{reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) option() Option {
	return withBeforeCommit(func(n int) error {
		g.mu.Lock()
		g.sizes = append(g.sizes, n)
		g.mu.Unlock()
		call := int(g.calls.Add(1))
		if call == 1 {
			close(g.reached)
			<-g.release
		}
		if g.fail != nil {
			return g.fail(call)
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

func newReports(t testing.TB, n int) []report.NewReport {
	rs := make([]report.NewReport, n)
	for i := range rs {
		rs[i] = newReport(t)
	}
	return rs
}

func TestPragmas(t *testing.T) {
	s := openTest(t)
	for _, c := range []struct {
		db          *sql.DB
		query, want string
	}{
		{s.wdb, "PRAGMA journal_mode", "wal"},
		{s.wdb, "PRAGMA synchronous", "2"},
		{s.wdb, "PRAGMA foreign_keys", "1"},
		{s.wdb, "PRAGMA busy_timeout", fmt.Sprint(DefaultBusyTimeout.Milliseconds())},
		{s.rdb, "PRAGMA journal_mode", "wal"},
		{s.rdb, "PRAGMA query_only", "1"},
	} {
		if got := queryString(t, c.db, c.query); got != c.want {
			t.Errorf("%s = %q, want %q", c.query, got, c.want)
		}
	}
	if _, err := s.rdb.Exec("DELETE FROM reports"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestCheckPragmasDetectsMismatch reads the settings of a connection opened
// without them: the check must name each that is wrong.
func TestCheckPragmasDetectsMismatch(t *testing.T) {
	q, err := loadQueries(queriesSQL)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plain.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, checks := writerSettings(newOptions(nil), q)
	err = checkPragmas(checks, func(query string) (string, error) {
		var v string
		return v, db.QueryRow(query).Scan(&v)
	})
	if !errors.Is(err, ErrPragma) {
		t.Fatalf("checkPragmas on a plain connection = %v, want ErrPragma", err)
	}
	for _, name := range []string{"journal_mode", "foreign_keys", "busy_timeout"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

// TestOpenFailsWithoutWAL opens a database another connection keeps locked
// in rollback-journal mode, so the switch to WAL cannot happen: Open must
// fail rather than run without it.
func TestOpenFailsWithoutWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(DELETE)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, WithBusyTimeout(50*time.Millisecond))
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a database that cannot switch to WAL")
	}
}

func TestFileIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAccept(t, s, newReport(t))
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

func TestPathWithURIMetacharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "reports.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustAccept(t, s, newReport(t))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	applied, err := Migrate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms) || applied[0] != "0001_reports.sql" {
		t.Errorf("first Migrate applied %q, want all %d", applied, len(ms))
	}
	for range 2 {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		mustAccept(t, s, newReport(t))
		if got := queryString(t, s.rdb, "SELECT count(*) FROM schema_migrations"); got != fmt.Sprint(len(ms)) {
			t.Errorf("schema_migrations has %s rows, want %d", got, len(ms))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if applied, err := Migrate(context.Background(), path); err != nil || len(applied) != 0 {
		t.Errorf("Migrate on a current database = %q, %v; want nothing applied", applied, err)
	}
}

func TestSchemaNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	if _, err := Migrate(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(path); !errors.Is(err, ErrSchemaNewer) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open on a newer schema = %v, want ErrSchemaNewer", err)
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
	for _, err := range append(first(), wait()...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := g.batchSizes(); !slices.Equal(got, []int{1, 99}) {
		t.Errorf("batch sizes = %v, want [1 99]", got)
	}
	if st := s.Stats(); st.Batches != 2 || st.Reports != 100 {
		t.Errorf("Stats = %+v, want 2 batches, 100 reports", st)
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
	for _, err := range append(first(), wait()...) {
		if err != nil {
			t.Fatal(err)
		}
	}
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

// TestCommitFailure fails the COMMIT of a batch: every request in it gets
// ErrUnavailable, none is stored, and the store goes on working.
func TestCommitFailure(t *testing.T) {
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
	// Inside the failing batch: a conflict on a key whose first use is
	// rolled back with it.
	conflict := newReport(t)
	conflict.IdempotencyKey, conflict.Fingerprint = batch[0].IdempotencyKey, "other"
	batch = append(batch, conflict)
	wait := acceptAsync(s, batch)
	waitQueued(s, len(batch))
	close(g.release)
	if err := first()[0]; err != nil {
		t.Fatal(err)
	}
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
}

// TestDiskFull fills the database (max_page_count stands in for a full
// disk) in the middle of a batch: no report of that batch may be stored.
func TestDiskFull(t *testing.T) {
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
		if stored(t, s, batch[i].Reference) {
			t.Errorf("request %d of a failed batch is stored", i)
		}
	}
	if _, err := s.wdb.Exec("PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	mustAccept(t, s, batch[0])
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
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
	for _, err := range append(first(), wait()...) {
		if err != nil {
			t.Fatal(err)
		}
	}
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
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := Open(path, g.option())
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
	for i, err := range append(wait1(), wait()...) {
		if err != nil {
			t.Errorf("queued request %d: %v", i, err)
		}
	}
	if _, err := s.Accept(context.Background(), newReport(t), report.DedupWindow); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Accept after Close = %v, want ErrUnavailable", err)
	}
	if _, err := s.Status(context.Background(), first[0].Reference); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Status after Close = %v, want ErrUnavailable", err)
	}
	if _, err := s.PurgeIdempotency(context.Background(), t0); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("PurgeIdempotency after Close = %v, want ErrUnavailable", err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range append(first, queued...) {
		if !stored(t, s, r.Reference) {
			t.Errorf("%s lost across Close and Open", r.Reference)
		}
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		// Not an error: only shows that Close left the WAL behind.
		t.Logf("WAL file left after Close")
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := Open(path)
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

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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

// TestConstraintFailsOnlyItsReport puts a report that breaks a constraint
// in a batch with others: it alone fails.
func TestConstraintFailsOnlyItsReport(t *testing.T) {
	g := newGate()
	s := openTest(t, g.option())
	first := acceptAsync(s, newReports(t, 1))
	<-g.reached
	batch := newReports(t, 4)
	batch[1].ID = batch[0].ID           // duplicate primary key
	batch[3].ContentType = "not-a-type" // CHECK constraint
	wait := acceptAsync(s, batch[:1])   // queue batch[0] before batch[1]
	waitQueued(s, 1)
	wait2 := acceptAsync(s, batch[1:])
	waitQueued(s, 4)
	close(g.release)
	errs := append(first(), append(wait(), wait2()...)...)[1:]
	// The fast path found the first violation, and the batch was written
	// again with savepoints.
	if st := s.Stats(); st.RedoneBatches != 1 {
		t.Errorf("Stats = %+v, want 1 redone batch", st)
	}
	for i, want := range []bool{true, false, true, false} {
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
	// Its idempotency key is not used up.
	fixed := batch[3]
	fixed.ContentType = report.ContentOther
	if acc := mustAccept(t, s, fixed); acc.Replayed {
		t.Error("retry of a failed report was a replay")
	}
}

func TestDedupUsesIndex(t *testing.T) {
	s := openTest(t)
	rows, err := s.wdb.Query("EXPLAIN QUERY PLAN "+s.q.findPrimary, "k", "h", 0, 1)
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
	if !slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, "USING INDEX reports_dedup") }) {
		t.Errorf("duplicate lookup does not use reports_dedup: %q", plan)
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
	if _, err := s.wdb.Exec("UPDATE reports SET status = 'delivered', delivered_at = ? WHERE id = ?", micros(at), p.ID); err != nil {
		t.Fatal(err)
	}
	v, err := s.Status(context.Background(), sight.Reference)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != sight.ID || v.Status != report.StatusDelivered || v.DeliveredAt == nil || !v.DeliveredAt.Equal(at) {
		t.Errorf("sighting status = %+v, want delivered at %v", v, at)
	}
}

func TestPurgeIdempotency(t *testing.T) {
	s := openTest(t)
	old := newReports(t, purgeChunk+5)
	for i := range old {
		old[i].ReceivedAt = t0.Add(time.Duration(i) * time.Microsecond)
	}
	done := acceptAsync(s, old)
	for _, err := range done() {
		if err != nil {
			t.Fatal(err)
		}
	}
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
	path := filepath.Join(t.TempDir(), "reports.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, err := range acceptAsync(s, newReports(t, 50))() {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Fatalf("IntegrityCheck on a sound database: %v", err)
	}
	// Break a foreign key behind the store's back.
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE reports SET primary_id = 'gone' WHERE rowid = 1`); err != nil {
		t.Fatal(err)
	}
	if err := s.IntegrityCheck(context.Background()); !errors.Is(err, ErrIntegrity) {
		t.Errorf("IntegrityCheck with a dangling primary_id = %v, want ErrIntegrity", err)
	}
}

func TestStoreKeepsNoClientIdentity(t *testing.T) {
	s := openTest(t)
	rows, err := s.rdb.Query("SELECT name FROM pragma_table_info('reports') UNION ALL SELECT name FROM pragma_table_info('idempotency')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var col string
		if err := rows.Scan(&col); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"ip", "addr", "agent", "installation", "token"} {
			if strings.Contains(strings.ToLower(col), bad) {
				t.Errorf("column %q looks like it identifies a reporter's client", col)
			}
		}
	}
}
