package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// The store side of the hotline pull API (report.Pull).

// MaxPullLimit bounds one page of ListForHotline.
const MaxPullLimit = 1000

var errInvalidClient = errors.New("sqlite: invalid hotline client")

// ListForHotline lists up to limit (at most MaxPullLimit) primary reports
// routed to hotlineID, in the order their transactions committed, after
// the cursor after ("" for the start). next is the cursor to pass for the
// following page; after itself when the page is empty, so that a client
// can poll with it.
//
// The cursor is the job's seq, which the single writer hands out in commit
// order: a page never skips a report that commits later. Report ids are
// not used, though they are time-ordered: two reports accepted at the same
// time can commit in the other order than their ids, and a cursor past the
// later id would skip the earlier one for good.
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
	limit = min(limit, MaxPullLimit)
	rows, err := s.r.listForHotline.QueryContext(ctx, hotlineID, seq, limit)
	if err != nil {
		return nil, after, unavailable("list for hotline", err)
	}
	next := after
	var out []report.PulledReport
	for rows.Next() {
		var p report.PulledReport
		var ct, cat string
		var received, first, last int64
		var acked sql.NullInt64
		if err := rows.Scan(&seq, &p.ID, &p.Report.Reference, &p.URL, &p.URLKey, &p.PageURL, &ct, &cat, &p.Country,
			&p.HotlineID, &p.Comment, &p.Contact, &p.Client.Name, &p.Client.Version, &received,
			&p.Sightings.Count, &first, &last, &acked, &p.Reference); err != nil {
			rows.Close()
			return nil, after, unavailable("list for hotline", err)
		}
		p.ContentType, p.Category, p.ReceivedAt = report.ContentType(ct), report.Category(cat), fromMicros(received)
		p.Sightings.First, p.Sightings.Last = fromMicros(first), fromMicros(last)
		if acked.Valid {
			p.Acked = fromMicros(acked.Int64)
		}
		out = append(out, p)
		next = report.FormatCursor(seq)
	}
	if err := closeRows(rows); err != nil {
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
	var found bool
	err := s.submit(ctx, func(ctx context.Context, b *batchTx) error {
		res, err := b.stmt(s.w.ack).ExecContext(ctx, micros(at), reference, reportID, hotlineID)
		if err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		if n == 0 {
			found, err = exists(ctx, b.stmt(s.w.hotlineDeliveryExists), reportID, hotlineID)
			return err
		}
		found = true
		if _, err := b.stmt(s.w.reportDelivered).ExecContext(ctx, micros(at), reportID); err != nil {
			return fmt.Errorf("ack: report status: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
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
	var revoked sql.NullInt64
	if !c.RevokedAt.IsZero() {
		revoked = sql.NullInt64{Int64: micros(c.RevokedAt), Valid: true}
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q.insertClient, c.ID, c.HotlineID, c.Name, c.SecretHash, micros(c.CreatedAt), revoked)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create hotline client: %w", err)
	}
	return nil
}

// Client returns the client with id, revoked or not; ErrNotFound if none.
func (s *Store) Client(ctx context.Context, id string) (report.HotlineClient, error) {
	c, err := scanClient(s.r.client.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	var found bool
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.revokeClient, micros(at), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n > 0 {
			found = true
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, s.q.clientExists, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke hotline client: %w", err)
	}
	if !found {
		return report.ErrNotFound
	}
	return nil
}

// Clients lists every client, revoked ones too, oldest first.
func (s *Store) Clients(ctx context.Context) ([]report.HotlineClient, error) {
	rows, err := s.r.clients.QueryContext(ctx)
	if err != nil {
		return nil, unavailable("hotline clients", err)
	}
	var out []report.HotlineClient
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			rows.Close()
			return nil, unavailable("hotline clients", err)
		}
		out = append(out, c)
	}
	if err := closeRows(rows); err != nil {
		return nil, unavailable("hotline clients", err)
	}
	return out, nil
}

func scanClient(row interface{ Scan(...any) error }) (report.HotlineClient, error) {
	var c report.HotlineClient
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&c.ID, &c.HotlineID, &c.Name, &c.SecretHash, &created, &revoked); err != nil {
		return report.HotlineClient{}, err
	}
	c.CreatedAt = fromMicros(created)
	if revoked.Valid {
		c.RevokedAt = fromMicros(revoked.Int64)
	}
	return c, nil
}
