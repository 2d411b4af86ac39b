package httpapi

import (
	"bytes"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/strictjson"
)

func (a *api) createInstallation(c *gin.Context) {
	// The body, if any, must be an empty JSON object: nothing about the
	// installation is asked for or kept.
	if c.Request.ContentLength != 0 {
		if !a.readJSON(c, &struct{}{}) {
			return
		}
	}
	tok, exp, err := a.Tokens.NewInstallation()
	if err != nil {
		a.fail(c, err)
		return
	}
	a.metrics.installations.Inc()
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, tokenResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp.UTC(), ExpiresIn: int64(time.Until(exp).Seconds())})
}

func (a *api) refreshToken(c *gin.Context) {
	raw, ok := bearer(c)
	if !ok {
		a.unauthorized(c, false)
		return
	}
	tok, exp, err := a.Tokens.Renew(raw)
	if err != nil {
		a.unauthorized(c, true)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, tokenResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp.UTC(), ExpiresIn: int64(time.Until(exp).Seconds())})
}

// postReport is POST /v1/reports: the token, the rate limits, then the
// report. One handler rather than a chain of middleware, so that the
// installation is passed on as an argument and not through the context's
// map (three allocations for every report).
func (a *api) postReport(c *gin.Context) {
	inst, ok := a.installation(c)
	if !ok || !a.allowReport(c, inst) {
		return
	}
	a.submitReport(c, inst)
}

// noStore is the Cache-Control value of answers about a report or a token,
// shared so that setting it costs no allocation (gin does the same for
// Content-Type). Nothing appends to or changes a header's value slice in
// place.
var noStore = []string{"no-store"}

func (a *api) submitReport(c *gin.Context, installation string) {
	key, ok := idempotencyKey(c)
	if !ok {
		return
	}
	req, _ := a.reportRequests.Get().(*reportRequest)
	if req == nil {
		req = new(reportRequest)
	}
	defer func() {
		*req = reportRequest{}
		a.reportRequests.Put(req)
	}()
	if !a.readJSON(c, req) {
		return
	}
	rec, err := a.Reports.Submit(c.Request.Context(), installation, key, req.submission())
	if err != nil {
		a.fail(c, err)
		return
	}
	a.metrics.reports.WithLabelValues(boolLabel(rec.Duplicate()), boolLabel(rec.Replayed)).Inc()
	// Report ids only: never the URL, comment or contact. LogAttrs, so
	// that the attributes are not boxed into interfaces for every report.
	a.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "report accepted",
		slog.String("id", rec.ID), slog.String("hotline", rec.HotlineID),
		slog.Bool("duplicate", rec.Duplicate()), slog.Bool("replayed", rec.Replayed))
	c.Writer.Header()["Cache-Control"] = noStore
	c.Header("Location", "/v1/reports/"+rec.Reference)
	if rec.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	a.writeAccepted(c, acceptedOf(rec))
}

// jsonContentType is the Content-Type gin's c.JSON writes, shared as
// noStore is.
var jsonContentType = []string{"application/json; charset=utf-8"}

// writeAccepted answers 202 with r, as c.JSON would, but encoded by hand
// into a pooled buffer: encoding/json took three allocations and most of
// the time spent on the answer.
func (a *api) writeAccepted(c *gin.Context, r reportAccepted) {
	if hj, err := a.hotlineJSON.get(r.Hotline); err == nil {
		buf := a.buffer()
		defer a.release(buf)
		if b, ok := appendAccepted(buf.AvailableBuffer(), r, hj); ok {
			c.Writer.Header()["Content-Type"] = jsonContentType
			c.Writer.WriteHeader(http.StatusAccepted)
			_, _ = c.Writer.Write(b) // an error means the client went away
			return
		}
	}
	c.JSON(http.StatusAccepted, r)
}

// buffer returns a buffer from the pool of body buffers; release gives it
// back.
func (a *api) buffer() *bytes.Buffer {
	if buf, _ := a.bodyBuffers.Get().(*bytes.Buffer); buf != nil {
		return buf
	}
	return bytes.NewBuffer(make([]byte, 0, bodyBufferSize))
}

// release returns buf to the pool, unless it grew past bodyBufferSize: it
// is then left to the GC rather than kept for every later request.
func (a *api) release(buf *bytes.Buffer) {
	if buf.Cap() <= bodyBufferSize {
		buf.Reset()
		a.bodyBuffers.Put(buf)
	}
}

func (a *api) reportStatus(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	receipt := c.GetHeader("Report-Receipt")
	if receipt == "" {
		writeProblem(c, problemFor(codeUnacceptableReceipt, "Send the receipt you were given with the report in the Report-Receipt header."))
		return
	}
	v, h, err := a.Reports.Status(c.Request.Context(), c.Param("reference"), receipt)
	if err != nil {
		a.fail(c, err)
		return
	}
	st := reportStatus{Reference: v.Reference, Status: v.Status, Hotline: refOf(h), ReceivedAt: v.ReceivedAt}
	if v.Status == report.StatusDelivered {
		// Only a delivery has a delivery time: a report left for the
		// hotline's own form went nowhere.
		st.DeliveredAt = v.DeliveredAt
	}
	c.JSON(http.StatusOK, st)
}

// readJSON reads a bounded JSON body strictly into v, answering the problem
// itself when it cannot.
func (a *api) readJSON(c *gin.Context, v any) bool {
	if !jsonMediaType(c.GetHeader("Content-Type")) {
		writeProblem(c, problemFor(codeUnsupportedMedia, "Send the body as application/json (UTF-8)."))
		return false
	}
	buf := a.buffer()
	defer a.release(buf)
	body := c.Request.Body
	if n := c.Request.ContentLength; n < 0 || n > MaxBodyBytes {
		// Unknown or too long: the server reads a body with a known
		// length only up to it, so only these need the limit (and its
		// reader, an allocation).
		body = http.MaxBytesReader(c.Writer, body, MaxBodyBytes)
	}
	if _, err := buf.ReadFrom(body); err != nil {
		var merr *http.MaxBytesError
		if errors.As(err, &merr) {
			a.fail(c, err)
			return false
		}
		// The client stopped sending: it went away, or was slower than the
		// server's read timeout. Not a server failure, and the error's
		// text names the peer's address ("read tcp a->b: ..."), so it is
		// neither logged nor passed to fail.
		var ne net.Error
		a.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "request body not received",
			slog.String("route", c.FullPath()), slog.Bool("timeout", errors.As(err, &ne) && ne.Timeout()))
		writeProblem(c, problemFor(codeInvalidJSON, "The request body did not arrive in full. Please send the request again."))
		return false
	}
	// strictjson copies every string it keeps, so the buffer can go back
	// to the pool once v is filled.
	if err := strictjson.Unmarshal(buf.Bytes(), v); err != nil {
		a.fail(c, err)
		return false
	}
	return true
}

// bodyBufferSize covers a typical report with a long comment. Bodies up to
// MaxBodyBytes still work; their buffer is not pooled.
const bodyBufferSize = 4 << 10

// jsonMediaType reports whether a Content-Type is JSON in UTF-8. The two
// spellings clients send are recognised without mime.ParseMediaType, which
// allocates a map of parameters for every request.
func jsonMediaType(ct string) bool {
	if strings.EqualFold(ct, "application/json") || strings.EqualFold(ct, "application/json; charset=utf-8") {
		return true
	}
	mt, params, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json" && (params["charset"] == "" || strings.EqualFold(params["charset"], "utf-8"))
}

// maxIdempotencyKey bounds the header; clients send UUIDs.
const maxIdempotencyKey = 255

// idempotencyKey reads the Idempotency-Key header, a structured-field string
// per the IETF draft; a bare token is accepted too, as clients commonly
// send one.
func idempotencyKey(c *gin.Context) (string, bool) {
	vals := c.Request.Header.Values("Idempotency-Key")
	if len(vals) == 0 || vals[0] == "" {
		writeProblem(c, problemFor(codeMissingIdempotency, "Send a unique Idempotency-Key header (for example a random UUID) with each new report, and the same one when you retry it."))
		return "", false
	}
	k, ok := parseIdempotencyKey(vals)
	if !ok {
		writeProblem(c, problemFor(codeInvalidIdempotency, "The Idempotency-Key must be one value of 1 to 255 printable ASCII characters, such as a UUID."))
		return "", false
	}
	return k, true
}

func parseIdempotencyKey(vals []string) (string, bool) {
	if len(vals) != 1 {
		return "", false
	}
	// Optional white space is SP and HTAB only: TrimSpace would also take
	// away non-ASCII spaces (U+00A0, U+3000...), so that "\u00a0k" passed
	// as the key "k".
	k := strings.Trim(vals[0], " \t")
	if len(k) >= 2 && k[0] == '"' && k[len(k)-1] == '"' {
		k = k[1 : len(k)-1]
	}
	if k == "" || len(k) > maxIdempotencyKey {
		return "", false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' || k[i] == '"' || k[i] == '\\' {
			return "", false
		}
	}
	return k, true
}

// etagMatches implements If-None-Match's weak comparison for a list of tags.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
