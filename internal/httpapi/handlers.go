package httpapi

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reportit/reportit/internal/strictjson"
)

// Context keys set by the middleware.
const ctxInstallation = "reportit.installation"

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

func (a *api) submitReport(c *gin.Context) {
	key, ok := idempotencyKey(c)
	if !ok {
		return
	}
	var req reportRequest
	if !a.readJSON(c, &req) {
		return
	}
	rec, err := a.Reports.Submit(c.Request.Context(), c.GetString(ctxInstallation), key, req.submission())
	if err != nil {
		a.fail(c, err)
		return
	}
	a.metrics.reports.WithLabelValues(boolLabel(rec.Duplicate()), boolLabel(rec.Replayed)).Inc()
	// Report ids only: never the URL, comment or contact.
	a.log.Info("report accepted", "id", rec.ID, "hotline", rec.HotlineID, "duplicate", rec.Duplicate(), "replayed", rec.Replayed)
	c.Header("Cache-Control", "no-store")
	c.Header("Location", "/v1/reports/"+rec.Reference)
	if rec.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	c.JSON(http.StatusAccepted, acceptedOf(rec))
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
	c.JSON(http.StatusOK, reportStatus{Reference: v.Reference, Status: v.Status, Hotline: refOf(h), ReceivedAt: v.ReceivedAt, DeliveredAt: v.DeliveredAt})
}

// readJSON reads a bounded JSON body strictly into v, answering the problem
// itself when it cannot.
func (a *api) readJSON(c *gin.Context, v any) bool {
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		writeProblem(c, problemFor(codeUnsupportedMedia, "Send the body as application/json (UTF-8)."))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	if err != nil {
		a.fail(c, err)
		return false
	}
	if err := strictjson.Unmarshal(body, v); err != nil {
		a.fail(c, err)
		return false
	}
	return true
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
	k := strings.TrimSpace(vals[0])
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
