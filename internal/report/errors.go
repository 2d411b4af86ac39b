package report

import (
	"errors"
	"fmt"
)

// Code names a kind of failure. Codes are stable: they become the last part
// of the problem type URI clients see, and the extension switches on them.
// The one mapping from Code to HTTP status lives in the HTTP adapter.
type Code string

const (
	// CodeInvalid is a field that does not pass validation.
	CodeInvalid Code = "invalid-field"
	// CodeURLIsContent is a data: or blob: URL: the material itself.
	CodeURLIsContent Code = "url-is-content"
	// CodeURLScheme is a scheme a hotline cannot visit (javascript:, file:, ...).
	CodeURLScheme Code = "url-scheme"
	// CodeURLHost is a host a hotline cannot reach (loopback, private, ...).
	CodeURLHost Code = "url-host"
	// CodeURLTooLong is a URL over the length limit.
	CodeURLTooLong Code = "url-too-long"
	// CodeURLMalformed is a URL that does not parse.
	CodeURLMalformed Code = "url-malformed"
	// CodeUnknownHotline is a hotline id not in the directory.
	CodeUnknownHotline Code = "unknown-hotline"
	// CodeNoHotline means no hotline could be chosen for the report.
	CodeNoHotline Code = "no-hotline"
	// CodeIdempotencyConflict is an Idempotency-Key reused with another body.
	CodeIdempotencyConflict Code = "idempotency-key-reused"
	// CodeNotFound is an unknown report or a wrong receipt (not told apart).
	CodeNotFound Code = "not-found"
	// CodeUnavailable is a store that cannot take writes (disk full, closed).
	CodeUnavailable Code = "unavailable"
)

// Error is a domain error: a code, the field it concerns (if any), and a
// message safe to show a reporter.
type Error struct {
	Code    Code
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds a domain error.
func Errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors the stores return; compare with errors.Is.
var (
	ErrNotFound            = &Error{Code: CodeNotFound, Message: "No report with this reference and receipt."}
	ErrIdempotencyConflict = &Error{Code: CodeIdempotencyConflict, Field: "Idempotency-Key", Message: "This Idempotency-Key was already used for a different report. Use a new key for a new report."}
	ErrUnavailable         = &Error{Code: CodeUnavailable, Message: "The service cannot store reports right now. Please try again shortly with the same Idempotency-Key: the report was not accepted, and a retry cannot store it twice."}
)

// ErrorCode returns the Code of err, or "" when err is not a domain error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Errors is a list of field errors from one validation, all reported at once
// so the reporter can fix everything in one go.
type Errors []*Error

func (es Errors) Error() string {
	if len(es) == 0 {
		return "no errors"
	}
	s := es[0].Error()
	if len(es) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(es)-1)
	}
	return s
}
