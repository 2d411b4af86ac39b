// Package report holds the domain of reportit: what a report is, how a
// submission becomes one, and the contracts the adapters around it fulfil.
//
// It imports no HTTP, SQL or framework package. Adapters (the Gin API, the
// SQLite and PostgreSQL stores) import it, never the other way round.
package report

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ContentType says what the reported URL points at.
type ContentType string

const (
	ContentPage  ContentType = "page"
	ContentImage ContentType = "image"
	ContentVideo ContentType = "video"
	ContentLink  ContentType = "link"
	ContentOther ContentType = "other"
)

// ContentTypes lists every accepted content type, in display order.
var ContentTypes = []ContentType{ContentPage, ContentImage, ContentVideo, ContentLink, ContentOther}

// Category is the reporter's view of what the material is. The hotline makes
// its own assessment; we never show that assessment back to the reporter.
type Category string

const (
	CategoryCSAM       Category = "csam"
	CategoryGrooming   Category = "grooming"
	CategorySextortion Category = "sextortion"
	CategoryOther      Category = "other"
)

// Categories lists every accepted category, in display order.
var Categories = []Category{CategoryCSAM, CategoryGrooming, CategorySextortion, CategoryOther}

// Limits on what a reporter may send. They are part of the public contract.
const (
	MaxCommentRunes = 2000
	MaxContactLen   = 254 // RFC 5321 path limit
	MaxClientField  = 64
)

// Client names the software that sent a report (the extension and its version).
type Client struct {
	Name    string
	Version string
}

// Submission is a report as the reporter sent it, before validation.
type Submission struct {
	URL         string
	PageURL     string
	ContentType ContentType
	Category    Category
	Country     string
	Hotline     string
	Comment     string
	Contact     string
	Client      Client
}

// Status is where a report stands, as the reporter may see it. It never
// carries the hotline's assessment.
type Status string

const (
	StatusAccepted Status = "accepted"
	// StatusDelivered means the hotline has the report.
	StatusDelivered Status = "delivered"
	// StatusUseHotlineForm means the hotline takes no automated reports: the
	// reporter is sent to the hotline's own form.
	StatusUseHotlineForm Status = "use_hotline_form"
)

// Report is an accepted report, as stored.
type Report struct {
	ID          string // opaque, unique; the webhook-id on delivery
	Reference   string // human-readable, shown to the reporter
	URL         string // canonical form
	URLKey      string // hash of the canonical URL, for duplicate detection
	PageURL     string // canonical form, may be empty
	ContentType ContentType
	Category    Category
	Country     string
	HotlineID   string
	Comment     string
	Contact     string
	Client      Client
	ReceivedAt  time.Time
}

// NewReport is what the intake service hands a Store to keep.
type NewReport struct {
	Report
	// IdempotencyKey is a keyed hash of the installation and the
	// Idempotency-Key header; it never holds either in the clear.
	IdempotencyKey string
	// Fingerprint is a hash of the request body, so that a retry with the
	// same key and a different body can be told apart.
	Fingerprint string
}

// ErrIncomplete is a NewReport missing what a store relies on: a caller
// bug, not a reporter's mistake.
var ErrIncomplete = errors.New("report: incomplete new report")

// Check returns ErrIncomplete (wrapped, naming the field) unless every field
// a store relies on is set.
func (r *NewReport) Check() error {
	for _, f := range []struct{ name, v string }{
		{"ID", r.ID}, {"Reference", r.Reference}, {"URL", r.URL}, {"URLKey", r.URLKey},
		{"HotlineID", r.HotlineID}, {"IdempotencyKey", r.IdempotencyKey}, {"Fingerprint", r.Fingerprint},
	} {
		if f.v == "" {
			return fmt.Errorf("%w: %s is empty", ErrIncomplete, f.name)
		}
	}
	if r.ReceivedAt.IsZero() {
		return fmt.Errorf("%w: ReceivedAt is zero", ErrIncomplete)
	}
	return nil
}

// Accepted is a Store's answer to a NewReport.
type Accepted struct {
	ID         string
	Reference  string
	HotlineID  string
	ReceivedAt time.Time
	// PrimaryID is the report this one is a sighting of, or ID itself if it
	// is the first report of its URL to its hotline in the dedup window.
	PrimaryID string
	// Replayed is true when the answer comes from an earlier request with
	// the same idempotency key.
	Replayed bool
}

// Duplicate reports whether the report was stored as a sighting of an earlier one.
func (a Accepted) Duplicate() bool { return a.PrimaryID != "" && a.PrimaryID != a.ID }

// StatusView is what the reporter sees with a valid receipt.
type StatusView struct {
	ID          string
	Reference   string
	HotlineID   string
	Status      Status
	ReceivedAt  time.Time
	DeliveredAt *time.Time
}

// Store keeps reports durably. Implementations must only return from Accept
// once the report (or the replayed answer) is durably committed.
type Store interface {
	// Accept stores r, or returns the earlier answer for the same
	// IdempotencyKey (Replayed set), or ErrIdempotencyConflict if that key
	// was used with another Fingerprint. A report whose URLKey was already
	// reported to the same hotline within dedupWindow becomes a sighting of
	// the first one.
	Accept(ctx context.Context, r NewReport, dedupWindow time.Duration) (Accepted, error)
	// Status looks a report up by its reference. ErrNotFound if unknown.
	Status(ctx context.Context, reference string) (StatusView, error)
	// Ping tells whether the store can serve.
	Ping(ctx context.Context) error
	Close() error
}

// IdempotencyTTL is how long a client may retry a report with the same
// Idempotency-Key and get the same answer. The extension queues reports
// while offline and may retry days later, so this is a week, not a day.
const IdempotencyTTL = 7 * 24 * time.Hour

// DedupWindow is how long the same URL to the same hotline counts as a
// sighting of the first report rather than a new one.
const DedupWindow = 24 * time.Hour
