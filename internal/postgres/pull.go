package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportit/reportit/internal/report"
)

// The store side of the hotline pull API (report.Pull).

// MaxPullLimit bounds one page of ListForHotline.
const MaxPullLimit = 1000

var errInvalidClient = errors.New("postgres: invalid hotline client")

// ListForHotline lists up to limit (at most MaxPullLimit) primary reports
// routed to hotlineID, in the order their transactions committed, after
// the cursor after ("" for the start). next is the cursor to pass for the
// following page; after itself when the page is empty, so that a client
// can poll with it.
//
// The cursor is the job's seq among its hotline's jobs. Several replicas
// commit batches at once, so neither a global sequence nor the report ids
// nor the times follow commit order: a transaction can take a number and
// commit after one that took a larger number, and a reader past the larger
// one would skip the smaller for good. seq is handed out under the lock of
// the hotline's delivery_seqs row, held until COMMIT (see insertDeliveries),
// so a transaction numbers its jobs only after the previous numbering
// transaction of that hotline has committed: a page that shows seq n has
// every job of the hotline below n that will ever commit.
//
// A malformed cursor or a limit below 1 is a report.CodeInvalid error.
func (s *Store) ListForHotline(ctx context.Context, hotlineID, after string, limit int) ([]report.PulledReport, string, error) {
	seq, err := report.ParseCursor(after)
	if err != nil {
		return nil, after, err
	}
	if limit < 1 {
		return nil, after, report.Errorf(report.CodeInvalid, "limit", "must be at least 1")
	}
	if s.isClosed() {
		return nil, after, errClosed
	}
	rows, err := s.pool.Query(ctx, s.q.listForHotline, hotlineID, seq, min(limit, MaxPullLimit))
	if err != nil {
		return nil, after, unavailable("list for hotline", err)
	}
	next := after
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (report.PulledReport, error) {
		var p report.PulledReport
		var ct, cat string
		var count int64
		var acked *time.Time
		if err := row.Scan(&seq, &p.ID, &p.Report.Reference, &p.URL, &p.URLKey, &p.PageURL, &ct, &cat, &p.Country,
			&p.HotlineID, &p.Comment, &p.Contact, &p.Client.Name, &p.Client.Version, &p.ReceivedAt,
			&count, &p.Sightings.First, &p.Sightings.Last, &acked, &p.Reference); err != nil {
			return p, err
		}
		p.ContentType, p.Category, p.ReceivedAt = report.ContentType(ct), report.Category(cat), p.ReceivedAt.UTC()
		p.Sightings.Count, p.Sightings.First, p.Sightings.Last = int(count), p.Sightings.First.UTC(), p.Sightings.Last.UTC()
		if acked != nil {
			p.Acked = acked.UTC()
		}
		next = report.FormatCursor(seq)
		return p, nil
	})
	if err != nil {
		return nil, after, unavailable("list for hotline", err)
	}
	return out, next, nil
}

// Ack marks reportID delivered to hotlineID, which pulled it, at at with
// the hotline's own reference, and the report's status delivered. Only
// the first ack counts: a repeated one changes nothing and succeeds. A job
// already delivered by push keeps its delivery time and reference, and
// gets its ack time. ErrNotFound unless reportID is a primary report
// routed to hotlineID: a hotline cannot touch another's reports, nor learn
// whether they exist.
func (s *Store) Ack(ctx context.Context, hotlineID, reportID, reference string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("%w: ack without a time", errInvalidResult)
	}
	if s.isClosed() {
		return errClosed
	}
	var found bool
	if err := s.pool.QueryRow(ctx, s.q.ack, micro(at), reference, reportID, hotlineID).Scan(&found); err != nil {
		return unavailable("ack", err)
	}
	if !found {
		return report.ErrNotFound
	}
	return nil
}

// CreateClient stores c. It fails if c lacks an id, hotline, secret hash
// or creation time, or if a client with its id exists.
func (s *Store) CreateClient(ctx context.Context, c report.HotlineClient) error {
	if c.ID == "" || c.HotlineID == "" || c.SecretHash == "" || c.CreatedAt.IsZero() {
		return fmt.Errorf("%w: id, hotline, secret hash and creation time are required", errInvalidClient)
	}
	if s.isClosed() {
		return errClosed
	}
	var revoked *time.Time
	if !c.RevokedAt.IsZero() {
		t := micro(c.RevokedAt)
		revoked = &t
	}
	if _, err := s.pool.Exec(ctx, s.q.insertClient, c.ID, c.HotlineID, c.Name, c.SecretHash, micro(c.CreatedAt), revoked); err != nil {
		return fmt.Errorf("postgres: create hotline client: %w", err)
	}
	return nil
}

// Client returns the client with id, revoked or not; ErrNotFound if none.
func (s *Store) Client(ctx context.Context, id string) (report.HotlineClient, error) {
	if s.isClosed() {
		return report.HotlineClient{}, errClosed
	}
	rows, err := s.pool.Query(ctx, s.q.client, id)
	if err != nil {
		return report.HotlineClient{}, unavailable("hotline client", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanClient)
	if errors.Is(err, pgx.ErrNoRows) {
		return report.HotlineClient{}, report.ErrNotFound
	}
	if err != nil {
		return report.HotlineClient{}, unavailable("hotline client", err)
	}
	return c, nil
}

// RevokeClient revokes client id at at; revoking again keeps the first
// time. ErrNotFound if there is no such client.
func (s *Store) RevokeClient(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("%w: revocation without a time", errInvalidClient)
	}
	if s.isClosed() {
		return errClosed
	}
	var found bool
	if err := s.pool.QueryRow(ctx, s.q.revokeClient, micro(at), id).Scan(&found); err != nil {
		return unavailable("revoke hotline client", err)
	}
	if !found {
		return report.ErrNotFound
	}
	return nil
}

// Clients lists every client, revoked ones too, oldest first.
func (s *Store) Clients(ctx context.Context) ([]report.HotlineClient, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	rows, err := s.pool.Query(ctx, s.q.clients)
	if err != nil {
		return nil, unavailable("hotline clients", err)
	}
	out, err := pgx.CollectRows(rows, scanClient)
	if err != nil {
		return nil, unavailable("hotline clients", err)
	}
	return out, nil
}

func scanClient(row pgx.CollectableRow) (report.HotlineClient, error) {
	var c report.HotlineClient
	var revoked *time.Time
	if err := row.Scan(&c.ID, &c.HotlineID, &c.Name, &c.SecretHash, &c.CreatedAt, &revoked); err != nil {
		return report.HotlineClient{}, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	if revoked != nil {
		c.RevokedAt = revoked.UTC()
	}
	return c, nil
}
