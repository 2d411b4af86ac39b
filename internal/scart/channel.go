// Package scart delivers reports by e-mail to a hotline's SCARt mailbox.
//
// SCARt (Sexual Child Abuse Reporting Tool, AbuseIO and the Dutch hotline
// EOKM) reads an import mailbox over IMAP. A message from a whitelisted
// sender whose subject is the subject of an "import webform" defined in
// SCARt has its body read as YAML, one field per line; each field the
// webform defines becomes the report's url, referer, note or an extra
// attribute. docs/scart.md has the details and the sources.
//
// A Channel sends one report per message over SMTP with STARTTLS (or
// implicit TLS) and AUTH PLAIN, and classifies the server's answer the way
// the delivery queue expects: 2xx delivered, 4xx and network failures
// retried, 5xx refused for good.
package scart

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
)

// Errors. The Kind of an *Error is one of these, one of portal's transport
// kinds (portal.ErrTimeout, ErrReset, ErrRefused, ErrDNS, ErrTLS,
// ErrNetwork), an error wrapping ErrBadMessage, or the caller's context
// error. Each of this package's kinds also wraps the portal kind it
// corresponds to, so the dispatcher's metrics label both channels alike.
var (
	// ErrRejected is a 5xx reply: the server refuses the message for good.
	ErrRejected error = &kindError{msg: "rejected by the mail server", base: portal.ErrRejected}
	// ErrUnavailable is a 4xx reply: the server asks to try again later.
	ErrUnavailable error = &kindError{msg: "mail server asked to try again later", base: portal.ErrUnavailable}
	// ErrAuth is a 5xx reply to AUTH, or a server that offers no AUTH
	// PLAIN: a configuration error that retrying will not mend.
	ErrAuth error = &kindError{msg: "authentication refused: check the username and password, and that the server offers AUTH PLAIN", base: portal.ErrRejected}
	// ErrNoStartTLS is a server that does not offer STARTTLS. Nothing more
	// is said to it; it is retried, as a man in the middle can strip the
	// offer and go away, and it ends in the dead letters after the maximum
	// age if the server is simply configured so.
	ErrNoStartTLS error = &kindError{msg: "mail server does not offer STARTTLS; nothing sent in plain text", base: portal.ErrTLS}
	// ErrProtocol is an answer that is not SMTP or not the one expected.
	ErrProtocol error = &kindError{msg: "unexpected answer from the mail server", base: portal.ErrNetwork}
)

// Error is why one attempt failed: the report id, the step of the SMTP
// dialogue, the reply code if there was one. Never the server's reply
// text (a content filter may quote the message), the report's URL,
// comment or contact, or the password.
type Error struct {
	ReportID string
	// Step is where it failed: "message", "connect", "greeting", "hello",
	// "starttls", "auth", "mail", "rcpt", "data".
	Step string
	// Code is the SMTP reply code, 0 when there was no reply.
	Code int
	// Enhanced is the RFC 3463 enhanced status code of the reply ("5.1.1"),
	// "" when the server gave none.
	Enhanced string
	Kind     error
}

func (e *Error) Error() string {
	s := "scart: report " + e.ReportID + ": " + e.Step + ": " + e.Kind.Error()
	if e.Code != 0 {
		s += ": SMTP " + strconv.Itoa(e.Code)
		if e.Enhanced != "" {
			s += " " + e.Enhanced
		}
	}
	return s
}

// Unwrap returns Kind. The underlying error is not kept: net/smtp's
// errors carry the server's reply text.
func (e *Error) Unwrap() error { return e.Kind }

// Channel delivers reports to one SCARt mailbox. It is immutable and safe
// for concurrent use; each Deliver uses a connection of its own.
type Channel struct {
	cfg  Config
	tls  *tls.Config
	addr string
}

// New checks cfg and returns a channel.
func New(cfg Config) (*Channel, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	return &Channel{cfg: cfg, tls: cfg.tlsConfig(), addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}, nil
}

// Deliver makes one attempt to send r, with its sightings, and classifies
// the outcome. The attempt ends at ctx's deadline or after Config.Timeout,
// whichever is first; when ctx ends first the result is Retry with ctx's
// error. Delivered means the server accepted the message (250 after DATA):
// SCARt imports it at its next mailbox poll. Result.Status is always 0 (it
// is an HTTP status) and Result.Reference is "": SCARt answers by mail.
func (c *Channel) Deliver(ctx context.Context, r report.Report, s portal.Sightings) portal.Result {
	id := safeID(r.ID)
	msg, err := c.Message(r, s, c.cfg.Now())
	if err != nil {
		return portal.Result{Kind: portal.Permanent, Err: &Error{ReportID: id, Step: "message", Kind: err}}
	}
	if err := ctx.Err(); err != nil {
		return portal.Result{Kind: portal.Retry, Err: &Error{ReportID: id, Step: "connect", Kind: err}}
	}
	if step, err := c.send(ctx, msg); err != nil {
		kind, e := classify(ctx, step, err)
		e.ReportID = id
		return portal.Result{Kind: kind, Err: e}
	}
	return portal.Result{Kind: portal.Delivered}
}

// send runs one SMTP session. It returns the step that failed and why.
func (c *Channel) send(ctx context.Context, msg []byte) (string, error) {
	deadline := time.Now().Add(c.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := net.Dialer{Deadline: deadline}
	tcp, err := dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return "connect", err
	}
	defer tcp.Close()
	// One deadline for the whole dialogue, pulled in when ctx ends so that
	// a blocked read or write returns at once.
	if err := tcp.SetDeadline(deadline); err != nil {
		return "connect", err
	}
	stop := context.AfterFunc(ctx, func() { tcp.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	conn := tcp
	if c.cfg.TLS == TLSImplicit {
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return "connect", err
		}
		conn = tc
	}
	// net/smtp: frozen but maintained, and it sets no deadlines of its own,
	// so the one above holds for every step.
	cl, err := smtp.NewClient(conn, c.cfg.Host)
	if err != nil {
		return "greeting", err
	}
	defer cl.Close()
	if err := cl.Hello(c.cfg.HelloName); err != nil {
		return "hello", err
	}
	if c.cfg.TLS == TLSStartTLS {
		// Hello has said EHLO (or HELO, when EHLO was refused, and then
		// no extension is offered at all).
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return "starttls", ErrNoStartTLS
		}
		if err := cl.StartTLS(c.tls); err != nil {
			return "starttls", err
		}
	}
	if c.cfg.Username != "" {
		if _, ok := cl.TLSConnectionState(); !ok {
			// Config.check makes this unreachable; it stays as the last guard
			// before a password goes on the wire.
			return "auth", ErrNoStartTLS
		}
		if !offersPlain(cl) {
			return "auth", ErrAuth
		}
		if err := cl.Auth(smtp.PlainAuth("", c.cfg.Username, c.cfg.Password, c.cfg.Host)); err != nil {
			return "auth", err
		}
	}
	if err := cl.Mail(c.cfg.From); err != nil {
		return "mail", err
	}
	if err := cl.Rcpt(c.cfg.To); err != nil {
		return "rcpt", err
	}
	w, err := cl.Data()
	if err != nil {
		return "data", err
	}
	if _, err := w.Write(msg); err != nil {
		return "data", err
	}
	// Close sends the final dot and reads the server's verdict: the
	// message is ours until this returns nil, the server's after.
	if err := w.Close(); err != nil {
		return "data", err
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = cl.Quit()
	return "", nil
}

func offersPlain(cl *smtp.Client) bool {
	ok, mechs := cl.Extension("AUTH")
	if !ok {
		return false
	}
	for _, m := range strings.Fields(mechs) {
		if strings.EqualFold(m, "PLAIN") {
			return true
		}
	}
	return false
}

// classify turns a failed step into a result kind and an *Error without
// ReportID.
func classify(ctx context.Context, step string, err error) (portal.Kind, *Error) {
	e := &Error{Step: step}
	var te *textproto.Error
	var ke *kindError
	switch {
	case errors.As(err, &te):
		e.Code = te.Code
		e.Enhanced = enhanced(te.Code, te.Msg)
		switch {
		case te.Code >= 500 && step == "auth":
			e.Kind = ErrAuth
			return portal.Permanent, e
		case te.Code >= 500:
			e.Kind = ErrRejected
			return portal.Permanent, e
		case te.Code >= 400:
			e.Kind = ErrUnavailable
			return portal.Retry, e
		}
		e.Kind = ErrProtocol
		return portal.Retry, e
	case errors.As(err, &ke):
		e.Kind = err
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrBadMessage) {
			return portal.Permanent, e
		}
		return portal.Retry, e
	case ctx.Err() != nil:
		e.Kind = ctx.Err()
		return portal.Retry, e
	}
	e.Kind = transportKind(err)
	if d, ok := ctx.Deadline(); ok && e.Kind == portal.ErrTimeout && !time.Now().Before(d) {
		// The connection's deadline is the context's: the read timed out a
		// moment before the context's own timer said so.
		e.Kind = context.DeadlineExceeded
		return portal.Retry, e
	}
	if e.Kind == portal.ErrNetwork && step == "auth" {
		// net/smtp's own refusals (an unexpected challenge): the server
		// and we do not agree on AUTH PLAIN.
		e.Kind = ErrAuth
		return portal.Permanent, e
	}
	return portal.Retry, e
}

// transportKind names a failure to get an answer, as portal does.
func transportKind(err error) error {
	var (
		netErr net.Error
		dnsErr *net.DNSError
		recErr tls.RecordHeaderError
		cvErr  *tls.CertificateVerificationError
		uaErr  x509.UnknownAuthorityError
		hnErr  x509.HostnameError
		ciErr  x509.CertificateInvalidError
		alert  tls.AlertError
		proto  textproto.ProtocolError
	)
	switch {
	case errors.As(err, &cvErr), errors.As(err, &uaErr), errors.As(err, &hnErr),
		errors.As(err, &ciErr), errors.As(err, &alert), errors.As(err, &recErr):
		return portal.ErrTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return portal.ErrTimeout
	case errors.As(err, &dnsErr):
		return portal.ErrDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return portal.ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return portal.ErrReset
	case errors.As(err, &proto):
		return ErrProtocol
	}
	return portal.ErrNetwork
}

// enhanced returns the RFC 3463 status code at the start of a reply text
// ("5.1.1 ..."), checked to be one and to agree with the reply's class.
func enhanced(code int, msg string) string {
	f, _, _ := strings.Cut(msg, " ")
	parts := strings.Split(f, ".")
	if len(parts) != 3 || len(f) > 11 || parts[0] != strconv.Itoa(code/100) {
		return ""
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || len(p) > 3 {
			return ""
		}
	}
	return f
}

// safeID keeps a malformed id out of error text: it may be anything.
func safeID(id string) string {
	if id == "" || len(id) > 64 || !printableASCII(id) || strings.ContainsAny(id, " ") {
		return "(invalid id)"
	}
	return id
}
