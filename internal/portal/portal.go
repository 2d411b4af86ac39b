// Package portal pushes reports to a hotline's intake portal: the JSON
// payload (schema reportit.report/v1, documented in
// docs/delivery-payload.md), signed per Standard Webhooks, and the
// classification of the portal's answer into Delivered, Retry or
// Permanent.
//
// It makes one attempt per call. When to try again, and when to give up,
// is the delivery package's business.
//
// Nothing here logs, and no error text holds a report's URL, comment or
// contact, or the endpoint: errors name the report id and the status or
// failure kind only.
package portal

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/reportit/reportit/internal/webhook"
)

// DefaultTimeout bounds one delivery attempt: connection, request, answer
// and the part of its body we read.
const DefaultTimeout = 10 * time.Second

// Config configures a Client.
type Config struct {
	// Signer signs each delivery with the hotline's secret. Required.
	Signer *webhook.Signer
	// Version goes in the User-Agent, "reportit/<version>"; default "dev".
	Version string
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// MaxRetryAfter caps a Retry-After we honour; default
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Transport carries the requests; default a clone of
	// http.DefaultTransport (proxy from the environment) with room for a
	// few idle connections per host. Clients may share one.
	Transport http.RoundTripper
	// Now is the clock for webhook-timestamp and Retry-After dates;
	// default time.Now.
	Now func() time.Time
}

// Client pushes reports to intake portals, signing them with one hotline's
// secret. It is safe for concurrent use.
type Client struct {
	http          *http.Client
	signer        *webhook.Signer
	userAgent     string
	maxRetryAfter time.Duration
	now           func() time.Time
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrConfig)
	}
	if cfg.Timeout < 0 || cfg.MaxRetryAfter < 0 {
		return nil, fmt.Errorf("%w: negative duration", ErrConfig)
	}
	c := &Client{
		signer:        cfg.Signer,
		userAgent:     "reportit/" + orDefault(cfg.Version, "dev"),
		maxRetryAfter: orDefault(cfg.MaxRetryAfter, DefaultMaxRetryAfter),
		now:           cfg.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	rt := cfg.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The delivery package runs a few requests at once per portal;
		// the default of 2 idle connections would reconnect for the rest.
		t.MaxIdleConnsPerHost = 16
		rt = t
	}
	c.http = &http.Client{
		Transport: rt,
		Timeout:   orDefault(cfg.Timeout, DefaultTimeout),
		// A redirect is answered as Permanent: reports go to the configured
		// endpoint only, never wherever a Location header points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// CheckEndpoint reports whether endpoint is an absolute http or https URL.
// Configuration should call it at start-up rather than find out on the
// first delivery.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Not quoted: the endpoint may carry a token.
		return ErrBadEndpoint
	}
	return nil
}

// Deliver makes one attempt to deliver p to endpoint and classifies the
// outcome. A Delivered answer may carry the hotline's reference; a Retry
// answer, the wait the portal asked for.
//
// When ctx ends first, the result is Retry and Err wraps ctx's error: the
// portal may or may not have the report.
func (c *Client) Deliver(ctx context.Context, endpoint string, p Payload) Result {
	fail := func(kind Kind, status int, err error) Result {
		return Result{Kind: kind, Status: status, Err: &Error{ReportID: safeID(p.ID), Status: status, Kind: err}}
	}
	if err := p.Validate(); err != nil {
		return fail(Permanent, 0, err)
	}
	body, err := p.Encode()
	if err != nil {
		return fail(Permanent, 0, ErrBadPayload)
	}
	if CheckEndpoint(endpoint) != nil {
		return fail(Permanent, 0, ErrBadEndpoint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fail(Permanent, 0, ErrBadEndpoint)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	c.signer.SetHeaders(req.Header, p.ID, c.now(), body)

	resp, err := c.http.Do(req)
	if err != nil {
		return fail(Retry, 0, transportKind(ctx, err))
	}
	defer resp.Body.Close()
	// A read error is ignored: the status line has decided, and the body
	// only matters for the optional reference, which a cut-off body lacks.
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBody))
	r := interpret(resp.StatusCode, resp.Header, ans, c.now(), c.maxRetryAfter)
	switch r.Kind {
	case Retry:
		r.Err = &Error{ReportID: safeID(p.ID), Status: r.Status, Kind: ErrUnavailable}
	case Permanent:
		r.Err = &Error{ReportID: safeID(p.ID), Status: r.Status, Kind: ErrRejected}
	}
	return r
}

// safeID keeps a malformed id out of error text: it may be anything.
func safeID(id string) string {
	if !validID(id) {
		return "(invalid id)"
	}
	return id
}

// transportKind names a failure to get an answer without quoting it: the
// error text of net/http holds the endpoint URL.
func transportKind(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var (
		netErr net.Error
		dnsErr *net.DNSError
		recErr tls.RecordHeaderError
		cvErr  *tls.CertificateVerificationError
		uaErr  x509.UnknownAuthorityError
		hnErr  x509.HostnameError
		ciErr  x509.CertificateInvalidError
		alert  tls.AlertError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return ErrTimeout
	case errors.As(err, &dnsErr):
		return ErrDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ErrReset
	case errors.As(err, &recErr), errors.As(err, &cvErr), errors.As(err, &uaErr),
		errors.As(err, &hnErr), errors.As(err, &ciErr), errors.As(err, &alert):
		return ErrTLS
	}
	return ErrNetwork
}
