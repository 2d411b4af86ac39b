package report

import (
	"context"
	"strconv"
	"time"
)

// The delivery side of the domain. A store that accepts a new primary
// report writes its delivery job in the same transaction, so a report that
// got a 202 always has a job. Workers claim due jobs with a lease: a worker
// that dies mid-delivery loses its lease, and the job is claimed again.

// DeliveryJob is one pending delivery, as a worker sees it after Claim.
type DeliveryJob struct {
	ReportID  string
	HotlineID string
	// Attempt numbers this run, 1 for the first.
	Attempt    int
	EnqueuedAt time.Time
}

// DeliveryKind says what became of a delivery run.
type DeliveryKind string

const (
	// DeliveryDone: the hotline has the report (push answered 2xx/409, or
	// the hotline acknowledged a pulled report).
	DeliveryDone DeliveryKind = "delivered"
	// DeliveryRetry: run again at At.
	DeliveryRetry DeliveryKind = "retry"
	// DeliveryDead: given up (permanent refusal or maximum age); an operator
	// can list and retry it.
	DeliveryDead DeliveryKind = "dead"
	// DeliveryUseForm: the hotline takes no automated reports; the reporter
	// is sent to its own form.
	DeliveryUseForm DeliveryKind = "use_form"
	// DeliveryAwaitPull: the hotline pulls its reports; the job waits for
	// the hotline's acknowledgement.
	DeliveryAwaitPull DeliveryKind = "await_pull"
)

// DeliveryResult is what a worker records with Complete.
type DeliveryResult struct {
	Kind DeliveryKind
	// At: delivered at, next attempt at, or given up at.
	At time.Time
	// Reference is the hotline's own reference, if it gave one.
	Reference string
	// Reason says why a job is dead, or the last error of a retry: safe to
	// store and show an operator, never report content.
	Reason string
	// Attempted is false when nothing was sent (a lane was full, or the
	// worker was stopping): the attempt is not counted.
	Attempted bool
}

// Sightings is how often a report's URL was reported to its hotline within
// the dedup window, counting the first report.
type Sightings struct {
	Count       int
	First, Last time.Time
}

// QueueStats feed the delivery metrics.
type QueueStats struct {
	Pending int64 // jobs waiting (due or not), excluding awaiting pull
	Dead    int64
	// OldestPending is when the oldest undelivered job was enqueued; zero
	// when there is none.
	OldestPending time.Time
}

// DeadDelivery is a job in the dead-letter state, for operators.
type DeadDelivery struct {
	ReportID   string
	Reference  string
	HotlineID  string
	Attempts   int
	EnqueuedAt time.Time
	DiedAt     time.Time
	Reason     string
}

// Queue is the durable delivery queue.
type Queue interface {
	// Claim leases up to n jobs due at now for lease. A claimed job is not
	// claimed again until its lease ends or it is completed.
	Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]DeliveryJob, error)
	// Complete records the result of a claimed job and, for DeliveryDone
	// and DeliveryUseForm, the report's new status.
	Complete(ctx context.Context, job DeliveryJob, r DeliveryResult) error
	// Load returns a report and its sightings for delivery.
	Load(ctx context.Context, id string) (Report, Sightings, error)
	// QueueStats reports depth and age for metrics.
	QueueStats(ctx context.Context) (QueueStats, error)
	// Dead lists dead-letter jobs, oldest first.
	Dead(ctx context.Context, limit int) ([]DeadDelivery, error)
	// Revive puts a dead job back as due at now with its attempts reset;
	// ErrNotFound if there is no such dead job.
	Revive(ctx context.Context, reportID string, now time.Time) error
	// Erase removes the URL, comment and contact of reports delivered (or
	// sent to the hotline's form) before the given time; counters stay.
	Erase(ctx context.Context, before time.Time) (int64, error)
	// Wake is signalled after a commit that enqueued due work, so workers
	// need not poll tightly.
	Wake() <-chan struct{}
}

// PulledReport is a report as a pulling hotline lists it.
type PulledReport struct {
	Report
	Sightings Sightings
	// Acked is when the hotline acknowledged it; zero if not yet.
	Acked     time.Time
	Reference string // the hotline's own reference given with the ack
}

// HotlineClient is a hotline's system allowed to pull its reports.
type HotlineClient struct {
	ID        string
	HotlineID string
	Name      string
	// SecretHash is a hash of the client secret; the secret itself is shown
	// once at creation and never stored.
	SecretHash string
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while active
}

// Pull is the store side of the hotline pull API. Every method is scoped to
// one hotline: a hotline never sees another hotline's reports.
type Pull interface {
	// ListForHotline lists primary reports routed to hotlineID in the order
	// they were accepted, after the cursor ("" for the start).
	ListForHotline(ctx context.Context, hotlineID, after string, limit int) (reports []PulledReport, next string, err error)
	// Ack marks a report delivered to the hotline that pulled it, with its
	// own reference. ErrNotFound if the report is not that hotline's.
	Ack(ctx context.Context, hotlineID, reportID, reference string, at time.Time) error
	CreateClient(ctx context.Context, c HotlineClient) error
	Client(ctx context.Context, id string) (HotlineClient, error)
	RevokeClient(ctx context.Context, id string, at time.Time) error
	Clients(ctx context.Context) ([]HotlineClient, error)
}

// ParseCursor reads a pull cursor: the decimal position of a hotline's job
// in commit order, "" for the start. Both stores use this form, so a
// hotline's cursor survives a move from one store to the other.
func ParseCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	seq, err := strconv.ParseInt(c, 10, 64)
	if err != nil || seq < 0 || FormatCursor(seq) != c {
		return 0, Errorf(CodeInvalid, "cursor", "not a cursor this API gave out")
	}
	return seq, nil
}

// FormatCursor is the cursor for position seq. Clients must treat cursors
// as opaque.
func FormatCursor(seq int64) string { return strconv.FormatInt(seq, 10) }
