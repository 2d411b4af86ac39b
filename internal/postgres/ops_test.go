package postgres

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// outcomeGate holds the outcome writer inside its first batch, before
// COMMIT, as gate does the accept writer.
type outcomeGate struct {
	calls   atomic.Int32
	reached chan struct{}
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
	fail    func(call int) error
}

func newOutcomeGate() *outcomeGate {
	return &outcomeGate{reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *outcomeGate) option() Option {
	return func(o *options) {
		o.hooks.beforeOutcomesCommit = func(ctx context.Context, tx *batchTx, n int) error {
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
		}
	}
}

func (g *outcomeGate) batchSizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sizes)
}

// waitOutcomesQueued waits until n outcomes sit in the outcome queue.
func waitOutcomesQueued(s *Store, n int) {
	for len(s.outcomes) < n {
		runtime.Gosched()
	}
}

// outcome is one Complete for the tests to run.
type outcome struct {
	job report.DeliveryJob
	res report.DeliveryResult
}

// completeAsync starts Complete for each outcome, one after the other
// into the queue (each queued before the next starts, so the outcome
// writer must be held), and returns a function that waits for the
// results.
func completeAsync(s *Store, outs []outcome) func() []error {
	errs := make([]error, len(outs))
	var wg sync.WaitGroup
	for i, o := range outs {
		before := len(s.outcomes)
		wg.Go(func() { errs[i] = s.Complete(context.Background(), o.job, o.res) })
		waitOutcomesQueued(s, before+1)
	}
	return func() []error { wg.Wait(); return errs }
}

// gatedQueue opens a store whose outcome writer g holds in its first
// batch, with n reports accepted and their jobs claimed; the first job is
// completed (use form) and holds the gate, the rest are returned.
func gatedQueue(t *testing.T, g *outcomeGate, n int, opts ...Option) (*Store, []report.NewReport, []report.DeliveryJob, func() []error) {
	t.Helper()
	s := openTest(t, append(opts, g.option())...)
	rs := newReports(t, n+1)
	for _, r := range rs {
		mustAccept(t, s, r)
	}
	jobs := claimAll(t, s, t0, n+1)
	if len(jobs) != n+1 {
		t.Fatalf("claimed %d, want %d", len(jobs), n+1)
	}
	byID := make(map[string]report.DeliveryJob)
	for _, j := range jobs {
		byID[j.ReportID] = j
	}
	var firstErr error
	firstDone := make(chan struct{})
	go func() {
		defer close(firstDone)
		firstErr = s.Complete(context.Background(), byID[rs[0].ID], report.DeliveryResult{Kind: report.DeliveryUseForm, At: t0})
	}()
	first := func() []error { <-firstDone; return []error{firstErr} }
	<-g.reached
	rest := make([]report.DeliveryJob, n)
	for i, r := range rs[1:] {
		rest[i] = byID[r.ID]
	}
	return s, rs[1:], rest, first
}

type jobRow struct {
	state, reason, reference string
	attempts                 int32
	next                     time.Time
}

func jobState(t *testing.T, s *Store, id string) jobRow {
	t.Helper()
	var j jobRow
	err := s.pool.QueryRow(context.Background(),
		"SELECT state, last_reason, hotline_reference, attempts, next_attempt_at FROM deliveries WHERE report_id = $1", id).
		Scan(&j.state, &j.reason, &j.reference, &j.attempts, &j.next)
	if err != nil {
		t.Fatal(err)
	}
	j.next = j.next.UTC()
	return j
}

// TestOutcomesGroupCommit holds the first batch of outcomes open while 99
// more completions queue: they must all go into one second transaction,
// of every kind, each with its own answer.
func TestOutcomesGroupCommit(t *testing.T) {
	g := newOutcomeGate()
	s, rs, jobs, first := gatedQueue(t, g, 99)
	t1 := t0.Add(time.Second)
	kinds := []report.DeliveryResult{
		{Kind: report.DeliveryDone, At: t1, Reference: "HOT-1", Attempted: true},
		{Kind: report.DeliveryRetry, At: t1.Add(time.Hour), Reason: "503", Attempted: true},
		{Kind: report.DeliveryDead, At: t1, Reason: "refused", Attempted: true},
		{Kind: report.DeliveryUseForm, At: t1},
		{Kind: report.DeliveryAwaitPull},
	}
	outs := make([]outcome, 0, len(jobs)+1)
	for i, j := range jobs {
		outs = append(outs, outcome{j, kinds[i%len(kinds)]})
	}
	unknown := report.DeliveryJob{ReportID: "no-such-report", HotlineID: "hotline-a", Attempt: 1, EnqueuedAt: t0}
	outs = append(outs, outcome{unknown, kinds[0]})
	wait := completeAsync(s, outs)
	close(g.release)
	noErrors(t, first())
	errs := wait()
	noErrors(t, errs[:len(jobs)])
	if !errors.Is(errs[len(jobs)], report.ErrNotFound) {
		t.Errorf("Complete of an unknown job in the batch = %v, want ErrNotFound", errs[len(jobs)])
	}
	if got := g.batchSizes(); !slices.Equal(got, []int{1, 100}) {
		t.Errorf("outcome batch sizes = %v, want [1 100]", got)
	}
	if st := s.Stats(); st.OutcomeBatches != 2 || st.Outcomes != 101 || st.OutcomesOneByOne != 0 || st.FailedOutcomeBatches != 0 {
		t.Errorf("Stats = %+v, want 2 outcome batches of 101 outcomes, none redone or failed", st)
	}
	for i, r := range rs {
		res := kinds[i%len(kinds)]
		j := jobState(t, s, r.ID)
		v, err := s.Status(context.Background(), r.Reference)
		if err != nil {
			t.Fatal(err)
		}
		want := map[report.DeliveryKind]struct {
			state  string
			status report.Status
		}{
			report.DeliveryDone:      {"delivered", report.StatusDelivered},
			report.DeliveryRetry:     {"pending", report.StatusAccepted},
			report.DeliveryDead:      {"dead", report.StatusAccepted},
			report.DeliveryUseForm:   {"use_form", report.StatusUseHotlineForm},
			report.DeliveryAwaitPull: {"awaiting_pull", report.StatusAccepted},
		}[res.Kind]
		if j.state != want.state || v.Status != want.status {
			t.Errorf("%s: job %s, report %s; want %s, %s", res.Kind, j.state, v.Status, want.state, want.status)
		}
		if wantAttempts := map[bool]int32{true: 1, false: 0}[res.Attempted]; j.attempts != wantAttempts {
			t.Errorf("%s: %d attempts, want %d", res.Kind, j.attempts, wantAttempts)
		}
		if j.reason != res.Reason || j.reference != res.Reference {
			t.Errorf("%s: reason %q, reference %q; want %q, %q", res.Kind, j.reason, j.reference, res.Reason, res.Reference)
		}
		if res.Kind == report.DeliveryRetry && !j.next.Equal(res.At) {
			t.Errorf("retry due at %v, want %v", j.next, res.At)
		}
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestOutcomesOfOneJobInOrder puts two outcomes of one job in one batch,
// as a worker whose lease ended and the one that claimed the job after it
// would: they apply in the order they came, as they would one by one.
func TestOutcomesOfOneJobInOrder(t *testing.T) {
	g := newOutcomeGate()
	s, rs, jobs, first := gatedQueue(t, g, 3)
	t1 := t0.Add(time.Second)
	retry := report.DeliveryResult{Kind: report.DeliveryRetry, At: t1.Add(time.Hour), Reason: "timeout", Attempted: true}
	deliver := report.DeliveryResult{Kind: report.DeliveryDone, At: t1, Reference: "HOT-1", Attempted: true}
	dead := report.DeliveryResult{Kind: report.DeliveryDead, At: t1, Reason: "refused", Attempted: true}
	wait := completeAsync(s, []outcome{
		{jobs[0], retry}, {jobs[1], deliver}, {jobs[2], dead},
		{jobs[0], deliver}, {jobs[1], retry}, {jobs[2], deliver},
		{jobs[2], retry},
	})
	close(g.release)
	noErrors(t, append(first(), wait()...))
	if got := g.batchSizes(); !slices.Equal(got, []int{1, 7}) {
		t.Errorf("outcome batch sizes = %v, want [1 7]", got)
	}
	for i, want := range []jobRow{
		{state: "delivered", reference: "HOT-1", attempts: 2}, // retried, then delivered
		{state: "delivered", reference: "HOT-1", attempts: 1}, // delivered; the late retry ignored
		{state: "delivered", reference: "HOT-1", attempts: 2}, // dead, then a late success
	} {
		got := jobState(t, s, rs[i].ID)
		got.next = time.Time{}
		if got != want {
			t.Errorf("job %d = %+v, want %+v", i, got, want)
		}
	}
}

// TestOutcomeFailsAlone puts outcomes PostgreSQL cannot store (a NUL
// byte, invalid UTF-8) in a batch with others: they alone fail, with an
// error of their own, not ErrUnavailable; the others are recorded.
func TestOutcomeFailsAlone(t *testing.T) {
	g := newOutcomeGate()
	s, rs, jobs, first := gatedQueue(t, g, 5)
	t1 := t0.Add(time.Second)
	outs := []outcome{
		{jobs[0], report.DeliveryResult{Kind: report.DeliveryDone, At: t1, Attempted: true}},
		{jobs[1], report.DeliveryResult{Kind: report.DeliveryRetry, At: t1, Reason: "nul \x00 byte", Attempted: true}},
		{jobs[2], report.DeliveryResult{Kind: report.DeliveryUseForm, At: t1}},
		{jobs[3], report.DeliveryResult{Kind: report.DeliveryDone, At: t1, Reference: "bad utf-8 \xff"}},
		{jobs[4], report.DeliveryResult{Kind: report.DeliveryDead, At: t1, Reason: "refused", Attempted: true}},
	}
	wait := completeAsync(s, outs)
	close(g.release)
	noErrors(t, first())
	errs := wait()
	for i, want := range []string{"delivered", "pending", "use_form", "pending", "dead"} {
		ok := want != "pending"
		if (errs[i] == nil) != ok {
			t.Errorf("outcome %d: err = %v, want success %v", i, errs[i], ok)
		}
		if errors.Is(errs[i], report.ErrUnavailable) {
			t.Errorf("outcome %d: a bad value is reported as unavailable: %v", i, errs[i])
		}
		if got := jobState(t, s, rs[i].ID); got.state != want || got.attempts != map[bool]int32{true: 1, false: 0}[ok && outs[i].res.Attempted] {
			t.Errorf("outcome %d: job %+v, want %s", i, got, want)
		}
	}
	if st := s.Stats(); st.OutcomesOneByOne != 1 || st.FailedOutcomeBatches != 0 {
		t.Errorf("Stats = %+v, want one outcome batch redone one by one, none failed", st)
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestOutcomeBatchFailure fails a batch of outcomes just before its
// COMMIT: every Complete in it gets ErrUnavailable, nothing of it is
// recorded, and the next batch goes through.
func TestOutcomeBatchFailure(t *testing.T) {
	g := newOutcomeGate()
	g.fail = func(call int) error {
		if call == 2 {
			return errors.New("injected commit failure")
		}
		return nil
	}
	s, rs, jobs, first := gatedQueue(t, g, 4)
	t1 := t0.Add(time.Second)
	outs := make([]outcome, len(jobs))
	for i, j := range jobs {
		outs[i] = outcome{j, report.DeliveryResult{Kind: report.DeliveryDone, At: t1, Attempted: true}}
	}
	wait := completeAsync(s, outs)
	close(g.release)
	noErrors(t, first())
	for i, err := range wait() {
		if !errors.Is(err, report.ErrUnavailable) {
			t.Errorf("outcome %d of a failed batch: %v, want ErrUnavailable", i, err)
		}
		if got := jobState(t, s, rs[i].ID); got.state != "pending" || got.attempts != 0 {
			t.Errorf("outcome %d of a failed batch recorded: %+v", i, got)
		}
	}
	if st := s.Stats(); st.FailedOutcomeBatches != 1 {
		t.Errorf("Stats = %+v, want 1 failed outcome batch", st)
	}
	if err := s.Complete(context.Background(), jobs[0], outs[0].res); err != nil {
		t.Errorf("Complete after a failed batch: %v", err)
	}
	if got := jobState(t, s, rs[0].ID); got.state != "delivered" {
		t.Errorf("job after a retried Complete: %+v", got)
	}
}

// TestCloseDrainsOutcomes closes the store with outcomes queued: Close
// waits for them, all are recorded, and Complete after Close fails.
func TestCloseDrainsOutcomes(t *testing.T) {
	g := newOutcomeGate()
	s, rs, jobs, first := gatedQueue(t, g, 10)
	t1 := t0.Add(time.Second)
	outs := make([]outcome, len(jobs))
	for i, j := range jobs {
		outs[i] = outcome{j, report.DeliveryResult{Kind: report.DeliveryUseForm, At: t1}}
	}
	wait := completeAsync(s, outs)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	close(g.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	noErrors(t, append(first(), wait()...))
	if err := s.Complete(context.Background(), jobs[0], outs[0].res); !errors.Is(err, report.ErrUnavailable) {
		t.Errorf("Complete after Close = %v, want ErrUnavailable", err)
	}
	s2 := openURL(t, s.pool.Config().ConnString())
	for _, r := range rs {
		v, err := s2.Status(context.Background(), r.Reference)
		if err != nil || v.Status != report.StatusUseHotlineForm {
			t.Errorf("%s after Close: %+v, %v", r.Reference, v, err)
		}
	}
}

// TestCompleteCancelledWhileQueued: a caller that gives up before its
// outcome joins a batch gets the context's error, and nothing is recorded.
func TestCompleteCancelledWhileQueued(t *testing.T) {
	g := newOutcomeGate()
	s, rs, jobs, first := gatedQueue(t, g, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Complete(ctx, jobs[0], report.DeliveryResult{Kind: report.DeliveryDone, At: t0, Attempted: true})
	}()
	waitOutcomesQueued(s, 1)
	cancel()
	close(g.release)
	noErrors(t, first())
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Complete cancelled while queued = %v, want context.Canceled", err)
	}
	if got := jobState(t, s, rs[0].ID); got.state != "pending" {
		t.Errorf("cancelled outcome recorded: %+v", got)
	}
}

// TestDefaultMaxConns: without pool_max_conns in the URL the pool gets
// DefaultMaxConns, not pgx's default (4 on a 2-core machine); the URL's
// setting wins over that, and WithMaxConns over both.
func TestDefaultMaxConns(t *testing.T) {
	dbURL := newDatabase(t)
	for _, c := range []struct {
		name string
		url  string
		opts []Option
		want int32
	}{
		{"default", dbURL, nil, DefaultMaxConns},
		{"two writers", dbURL, []Option{WithWriters(2)}, DefaultMaxConns + 1},
		{"URL", withParam(t, dbURL, "pool_max_conns", "3"), nil, 3},
		{"option", withParam(t, dbURL, "pool_max_conns", "3"), []Option{WithMaxConns(5)}, 5},
	} {
		s := openURL(t, c.url, c.opts...)
		if got := s.pool.Config().MaxConns; got != c.want {
			t.Errorf("%s: MaxConns = %d, want %d", c.name, got, c.want)
		}
		s.Close()
	}
	if !setsMaxConns("host=127.0.0.1 dbname=x pool_max_conns=7") || setsMaxConns("host=127.0.0.1 dbname=x") {
		t.Error("setsMaxConns misreads a key=value string")
	}
	if strings.Contains(dbURL, "pool_max_conns") {
		t.Fatal("test database URL sets pool_max_conns")
	}
}
