package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/strictjson"
)

// ProblemTypePrefix starts every problem type URI; the code that follows is
// stable and documented in api/openapi.yaml.
const ProblemTypePrefix = "urn:reportit:problem:"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Field  string       `json:"field,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one field's problem in a validation failure.
type FieldError struct {
	Type   string `json:"type"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// HTTP-level problem codes; domain codes come from package report.
const (
	codeInvalidJSON         report.Code = "invalid-json"
	codeBodyTooLarge        report.Code = "body-too-large"
	codeUnsupportedMedia    report.Code = "unsupported-media-type"
	codeMissingIdempotency  report.Code = "idempotency-key-missing"
	codeInvalidIdempotency  report.Code = "idempotency-key-invalid"
	codeUnauthorized        report.Code = "unauthorized"
	codeRateLimited         report.Code = "rate-limited"
	codeRouteNotFound       report.Code = "route-not-found"
	codeMethodNotAllowed    report.Code = "method-not-allowed"
	codeInternal            report.Code = "internal"
	codeValidationFailed    report.Code = "validation-failed"
	codeServiceUnavailable  report.Code = "unavailable"
	codeUnacceptableReceipt report.Code = "receipt-missing"
	codeInvalidGrant        report.Code = "invalid-grant"
)

// problems is the one table from a code to its HTTP status and title.
var problems = map[report.Code]struct {
	status int
	title  string
}{
	report.CodeInvalid:             {http.StatusUnprocessableEntity, "A field is not valid"},
	codeValidationFailed:           {http.StatusUnprocessableEntity, "The report has invalid fields"},
	report.CodeURLIsContent:        {http.StatusUnprocessableEntity, "This address is the material itself"},
	report.CodeURLScheme:           {http.StatusUnprocessableEntity, "This kind of address cannot be reported"},
	report.CodeURLHost:             {http.StatusUnprocessableEntity, "A hotline cannot reach this address"},
	report.CodeURLTooLong:          {http.StatusUnprocessableEntity, "The address is too long"},
	report.CodeURLMalformed:        {http.StatusUnprocessableEntity, "The address is not a valid web address"},
	report.CodeUnknownHotline:      {http.StatusUnprocessableEntity, "Unknown hotline"},
	report.CodeNoHotline:           {http.StatusUnprocessableEntity, "No hotline for this country"},
	report.CodeIdempotencyConflict: {http.StatusUnprocessableEntity, "Idempotency-Key reused with a different report"},
	report.CodeNotFound:            {http.StatusNotFound, "Report not found"},
	report.CodeUnavailable:         {http.StatusServiceUnavailable, "Service temporarily unavailable"},
	codeInvalidJSON:                {http.StatusBadRequest, "The request body is not acceptable JSON"},
	codeBodyTooLarge:               {http.StatusRequestEntityTooLarge, "The request body is too large"},
	codeUnsupportedMedia:           {http.StatusUnsupportedMediaType, "The request body must be JSON"},
	codeMissingIdempotency:         {http.StatusBadRequest, "Idempotency-Key header required"},
	codeInvalidIdempotency:         {http.StatusBadRequest, "Idempotency-Key header not valid"},
	codeUnauthorized:               {http.StatusUnauthorized, "Authentication required"},
	codeRateLimited:                {http.StatusTooManyRequests, "Too many requests"},
	codeRouteNotFound:              {http.StatusNotFound, "No such endpoint"},
	codeMethodNotAllowed:           {http.StatusMethodNotAllowed, "Method not allowed"},
	codeInternal:                   {http.StatusInternalServerError, "Internal error"},
	codeUnacceptableReceipt:        {http.StatusNotFound, "Report not found"},
	codeInvalidGrant:               {http.StatusBadRequest, "Unsupported grant type"},
}

// ProblemCodes lists every code the API can answer with (for the docs test).
func ProblemCodes() []report.Code {
	codes := make([]report.Code, 0, len(problems))
	for c := range problems {
		codes = append(codes, c)
	}
	return codes
}

// retryAfterUnavailable is what a 503 tells clients to wait, in seconds.
const retryAfterUnavailable = 5

func problemFor(code report.Code, detail string) Problem {
	p, ok := problems[code]
	if !ok {
		p = problems[codeInternal]
		code = codeInternal
	}
	return Problem{Type: ProblemTypePrefix + string(code), Title: p.title, Status: p.status, Detail: detail}
}

// writeProblem answers with a problem and aborts the handler chain.
func writeProblem(c *gin.Context, p Problem) {
	if p.Status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", strconv.Itoa(retryAfterUnavailable))
	}
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"` + ProblemTypePrefix + `internal","title":"Internal error","status":500}`)
	}
	c.Abort()
	c.Data(p.Status, "application/problem+json", body)
}

// fail maps any error to a problem: the one place where errors become HTTP.
// Details of unexpected errors are logged, never sent.
func (a *api) fail(c *gin.Context, err error) {
	var (
		verrs report.Errors
		derr  *report.Error
		jerr  *strictjson.Error
		merr  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &verrs) && len(verrs) == 1:
		writeProblem(c, fromDomain(verrs[0]))
	case errors.As(err, &verrs):
		p := problemFor(codeValidationFailed, "Some fields are not valid; see errors for each one.")
		for _, e := range verrs {
			p.Errors = append(p.Errors, FieldError{Type: ProblemTypePrefix + string(e.Code), Field: e.Field, Detail: e.Message})
		}
		writeProblem(c, p)
	case errors.As(err, &derr):
		if derr.Code == report.CodeUnavailable {
			a.log.Error("store unavailable", "err", err)
		}
		writeProblem(c, fromDomain(derr))
	case errors.As(err, &jerr):
		p := problemFor(codeInvalidJSON, jerr.Message)
		p.Field = jerr.Field
		writeProblem(c, p)
	case errors.As(err, &merr):
		writeProblem(c, problemFor(codeBodyTooLarge, "A report body may be at most "+strconv.FormatInt(merr.Limit, 10)+" bytes."))
	default:
		a.log.Error("request failed", "route", c.FullPath(), "err", err)
		writeProblem(c, problemFor(codeInternal, "Something went wrong on our side. Please try again later."))
	}
}

func fromDomain(e *report.Error) Problem {
	p := problemFor(e.Code, e.Message)
	p.Field = e.Field
	if e.Field != "" {
		p.Errors = []FieldError{{Type: p.Type, Field: e.Field, Detail: e.Message}}
	}
	return p
}
