package outbox

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/delivery"
	"github.com/reportit/reportit/internal/report"
)

func TestResultOf(t *testing.T) {
	at := time.Unix(1700000000, 0)
	tests := []struct {
		in   delivery.Outcome
		want report.DeliveryResult
	}{
		{delivery.Outcome{Kind: delivery.OutcomeDelivered, At: at, Reference: "HL-1", Attempted: true},
			report.DeliveryResult{Kind: report.DeliveryDone, At: at, Reference: "HL-1", Attempted: true}},
		{delivery.Outcome{Kind: delivery.OutcomeRetry, At: at, Err: errors.New("503"), Attempted: true},
			report.DeliveryResult{Kind: report.DeliveryRetry, At: at, Reason: "503", Attempted: true}},
		{delivery.Outcome{Kind: delivery.OutcomeRetry, At: at, Err: delivery.ErrBusy},
			report.DeliveryResult{Kind: report.DeliveryRetry, At: at, Reason: delivery.ErrBusy.Error()}},
		{delivery.Outcome{Kind: delivery.OutcomeDead, At: at, Reason: "refused (400)", Attempted: true},
			report.DeliveryResult{Kind: report.DeliveryDead, At: at, Reason: "refused (400)", Attempted: true}},
		{delivery.Outcome{Kind: delivery.OutcomeUseForm, At: at},
			report.DeliveryResult{Kind: report.DeliveryUseForm, At: at}},
	}
	for _, tt := range tests {
		if got := resultOf(tt.in); got != tt.want {
			t.Errorf("resultOf(%v) = %+v, want %+v", tt.in.Kind, got, tt.want)
		}
	}
}

// fakeQueue hands out its jobs once and records completions.
type fakeQueue struct {
	report.Queue
	mu   sync.Mutex
	jobs []report.DeliveryJob
	done map[string]report.DeliveryResult
	all  chan struct{}
	wake chan struct{}
}

func (q *fakeQueue) Claim(_ context.Context, _ time.Time, n int, _ time.Duration) ([]report.DeliveryJob, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.jobs))
	out := q.jobs[:n]
	q.jobs = q.jobs[n:]
	return out, nil
}

func (q *fakeQueue) Complete(_ context.Context, j report.DeliveryJob, r report.DeliveryResult) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, dup := q.done[j.ReportID]; dup {
		panic("job completed twice: " + j.ReportID)
	}
	q.done[j.ReportID] = r
	if len(q.done) == cap(q.all) {
		close(q.all)
	}
	return nil
}

func (q *fakeQueue) Wake() <-chan struct{} { return q.wake }

type fakeDispatcher struct{ calls sync.Map }

func (d *fakeDispatcher) Deliver(_ context.Context, j delivery.Job) delivery.Outcome {
	d.calls.Store(j.ReportID, true)
	return delivery.Outcome{Kind: delivery.OutcomeDelivered, At: time.Now(), Attempted: true}
}

func TestRunnerDeliversEachJobOnceAndParksPullJobs(t *testing.T) {
	const n = 300
	q := &fakeQueue{done: map[string]report.DeliveryResult{}, all: make(chan struct{}, n), wake: make(chan struct{})}
	for i := 0; i < n; i++ {
		h := "de-eco-beschwerdestelle"
		if i%3 == 0 {
			h = "gb-iwf"
		}
		q.jobs = append(q.jobs, report.DeliveryJob{ReportID: string(rune('a'+i%26)) + time.Duration(i).String(), HotlineID: h, Attempt: 1, EnqueuedAt: time.Now()})
	}
	d := &fakeDispatcher{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		New(Config{Queue: q, Dispatcher: d, Pull: map[string]bool{"gb-iwf": true}, Workers: 8, Batch: 16}).Run(ctx)
		close(done)
	}()
	select {
	case <-q.all:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d jobs completed", len(q.done), n)
	}
	cancel()
	<-done
	for id, r := range q.done {
		_, pushed := d.calls.Load(id)
		switch r.Kind {
		case report.DeliveryAwaitPull:
			if pushed {
				t.Errorf("pull job %s was pushed", id)
			}
		case report.DeliveryDone:
			if !pushed {
				t.Errorf("job %s marked delivered without a delivery", id)
			}
		default:
			t.Errorf("job %s: %s", id, r.Kind)
		}
	}
}
