// Package outbox runs the delivery queue: it claims due jobs from the
// store's outbox, hands each to the delivery dispatcher, and records the
// outcome. The store wrote each job in the same transaction as its report,
// so a report that got a 202 always reaches this loop, after a crash too: a
// job whose worker died is claimed again when its lease ends.
package outbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/reportit/reportit/internal/delivery"
	"github.com/reportit/reportit/internal/report"
)

// Defaults of Config.
const (
	DefaultBatch   = 256
	DefaultWorkers = 64
	// DefaultLease must outlast one delivery attempt (the portal client's
	// timeout) with room to record the outcome.
	DefaultLease = 2 * time.Minute
	// DefaultPoll bounds how long a job due later (a retry) waits past its
	// time when nothing wakes the loop.
	DefaultPoll = time.Second
)

// Dispatcher delivers one job (see delivery.Dispatcher).
type Dispatcher interface {
	Deliver(ctx context.Context, job delivery.Job) delivery.Outcome
}

// Config configures a Runner.
type Config struct {
	Queue      report.Queue
	Dispatcher Dispatcher
	// Pull lists the hotlines that pull their reports: their jobs wait for
	// the hotline's acknowledgement instead of being pushed.
	Pull    map[string]bool
	Batch   int
	Workers int
	Lease   time.Duration
	Poll    time.Duration
	Log     *slog.Logger
	Now     func() time.Time
}

// Runner moves jobs from the queue to the dispatcher.
type Runner struct {
	cfg Config
}

// New returns a Runner with defaults filled in.
func New(cfg Config) *Runner {
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg}
}

// Run claims and delivers until ctx ends, then waits for deliveries in
// flight to be recorded. Jobs claimed but not run are left to their lease.
func (r *Runner) Run(ctx context.Context) {
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, r.cfg.Workers)
		freed = make(chan struct{}, 1) // a worker finished: claim again
		timer = time.NewTimer(0)
	)
	defer timer.Stop()
	defer wg.Wait()
	for {
		free := r.cfg.Workers - len(slots)
		n := min(r.cfg.Batch, free)
		var jobs []report.DeliveryJob
		if n > 0 {
			var err error
			jobs, err = r.cfg.Queue.Claim(ctx, r.cfg.Now(), n, r.cfg.Lease)
			if err != nil && ctx.Err() == nil {
				r.cfg.Log.Error("claiming delivery jobs", "err", err)
			}
		}
		for _, j := range jobs {
			slots <- struct{}{}
			wg.Add(1)
			go func(j report.DeliveryJob) {
				defer wg.Done()
				defer func() {
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
				r.run(ctx, j)
			}(j)
		}
		if len(jobs) == n && n > 0 {
			continue // there may be more due right now
		}
		timer.Reset(r.cfg.Poll)
		select {
		case <-ctx.Done():
			return
		case <-r.cfg.Queue.Wake():
		case <-freed:
		case <-timer.C:
		}
	}
}

func (r *Runner) run(ctx context.Context, j report.DeliveryJob) {
	var res report.DeliveryResult
	if r.cfg.Pull[j.HotlineID] {
		res = report.DeliveryResult{Kind: report.DeliveryAwaitPull, At: r.cfg.Now()}
	} else {
		o := r.cfg.Dispatcher.Deliver(ctx, delivery.Job{ReportID: j.ReportID, HotlineID: j.HotlineID, Attempt: j.Attempt, EnqueuedAt: j.EnqueuedAt})
		res = resultOf(o)
		if o.Err != nil {
			// Errors name the report id and the kind of failure only.
			r.cfg.Log.Debug("delivery attempt", "id", j.ReportID, "hotline", j.HotlineID, "outcome", o.Kind.String(), "err", o.Err)
		}
	}
	// Record the outcome even when we are stopping: a delivered report
	// must not be sent again just because shutdown began.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.cfg.Queue.Complete(cctx, j, res); err != nil {
		r.cfg.Log.Error("recording delivery outcome", "id", j.ReportID, "err", err)
		return
	}
	switch res.Kind {
	case report.DeliveryDone:
		r.cfg.Log.Info("report delivered", "id", j.ReportID, "hotline", j.HotlineID, "attempt", j.Attempt)
	case report.DeliveryDead:
		r.cfg.Log.Warn("delivery given up", "id", j.ReportID, "hotline", j.HotlineID, "reason", res.Reason)
	}
}

func resultOf(o delivery.Outcome) report.DeliveryResult {
	res := report.DeliveryResult{At: o.At, Reference: o.Reference, Reason: o.Reason, Attempted: o.Attempted}
	switch o.Kind {
	case delivery.OutcomeDelivered:
		res.Kind = report.DeliveryDone
	case delivery.OutcomeDead:
		res.Kind = report.DeliveryDead
	case delivery.OutcomeUseForm:
		res.Kind = report.DeliveryUseForm
	default:
		res.Kind = report.DeliveryRetry
		if o.Err != nil && res.Reason == "" {
			res.Reason = o.Err.Error()
		}
	}
	return res
}
