package portal

import (
	"errors"
	"strconv"
	"time"
)

// Kind classifies the outcome of one delivery attempt.
type Kind uint8

const (
	// Delivered: the hotline has the report (2xx, or 409 "already have it").
	Delivered Kind = iota + 1
	// Retry: the hotline may not have it; try again later (408, 429, 5xx,
	// network failures, timeouts).
	Retry
	// Permanent: the hotline refused the report (other 4xx, 3xx, a payload
	// or endpoint we cannot send); sending it again unchanged will not help.
	Permanent
)

func (k Kind) String() string {
	switch k {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Result is the outcome of one delivery attempt. Channels other than push
// (e-mail) return the same type.
type Result struct {
	Kind Kind
	// Status is the HTTP status of the answer, 0 when there was none.
	Status int
	// Reference is the hotline's own reference for the report, when it
	// gave one with a Delivered answer; "" otherwise.
	Reference string
	// RetryAfter is the wait the hotline asked for with a Retry answer
	// (Retry-After), already capped; 0 when it asked for none.
	RetryAfter time.Duration
	// Err says why the report was not delivered; nil when Delivered. It
	// names the report id and the status or failure kind, never the report's
	// content or the endpoint.
	Err error
}

// Errors. An Err in a Result is an *Error that wraps exactly one of these
// (or context.Canceled / context.DeadlineExceeded when the caller's context
// ended), so callers can tell them apart with errors.Is.
var (
	// ErrRejected is an answer that refuses the report for good (4xx but
	// 408, 409 and 429; or 3xx, as redirects are not followed).
	ErrRejected = errors.New("rejected by the portal")
	// ErrUnavailable is an answer asking to try again (408, 429, 5xx).
	ErrUnavailable = errors.New("portal unavailable")
	// ErrTimeout is no complete answer within the client's timeout.
	ErrTimeout = errors.New("timeout")
	// ErrReset is a connection closed or reset before a complete answer.
	// The portal may have the report: the retry must carry the same id.
	ErrReset = errors.New("connection reset")
	// ErrRefused is a connection refused.
	ErrRefused = errors.New("connection refused")
	// ErrDNS is a failure to resolve the portal's host.
	ErrDNS = errors.New("name resolution failed")
	// ErrTLS is a TLS handshake or certificate failure.
	ErrTLS = errors.New("TLS failure")
	// ErrNetwork is any other transport failure.
	ErrNetwork = errors.New("network failure")
	// ErrBadPayload is a payload that cannot be sent; nothing was sent.
	ErrBadPayload = errors.New("portal: invalid payload")
	// ErrBadEndpoint is an endpoint that is not an absolute http(s) URL;
	// nothing was sent.
	ErrBadEndpoint = errors.New("portal: invalid endpoint")
	// ErrConfig is an unusable Config.
	ErrConfig = errors.New("portal: invalid config")
)

// Error is why one delivery attempt failed. Its text holds the report id,
// the HTTP status if any and the kind of failure: safe to log.
type Error struct {
	ReportID string
	Status   int
	// Kind is one of the sentinel errors above, or a context error.
	Kind error
}

func (e *Error) Error() string {
	s := "portal: report " + e.ReportID + ": " + e.Kind.Error()
	if e.Status != 0 {
		s += ": HTTP " + strconv.Itoa(e.Status)
	}
	return s
}

// Unwrap returns Kind. The underlying transport error is deliberately not
// kept: its text quotes the endpoint URL, which may carry a token.
func (e *Error) Unwrap() error { return e.Kind }
