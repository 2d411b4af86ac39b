package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reportit/reportit/internal/hotlineclient"
	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
)

// The hotline pull API: a hotline's system exchanges client credentials
// for a short-lived token, lists the reports routed to it with a cursor,
// and acknowledges each one. Every query is scoped to the hotline of the
// authenticated client.

// HotlinePull is what the pull API needs of the store.
type HotlinePull interface {
	hotlineclient.Store
	ListForHotline(ctx context.Context, hotlineID, after string, limit int) ([]report.PulledReport, string, error)
	Ack(ctx context.Context, hotlineID, reportID, reference string, at time.Time) error
}

// HotlineTokens issues and checks hotline-client tokens.
type HotlineTokens interface {
	Issue(clientID string) (token string, expires time.Time, err error)
	Check(raw string) (clientID string, err error)
}

const (
	ctxHotline       = "reportit.hotline"
	defaultPullLimit = 100
	maxPullLimit     = 1000
	maxHotlineRef    = 128
)

// pulledReport is a report in the pull API: the push payload (schema
// reportit.report/v1), plus the acknowledgement.
type pulledReport struct {
	portal.Payload
	AckedAt          *time.Time `json:"acked_at,omitempty"`
	HotlineReference string     `json:"hotline_reference,omitempty"`
}

type pullPage struct {
	Reports []pulledReport `json:"reports"`
	// Next is the cursor for the following page; an empty page with the
	// same cursor means there is nothing new yet.
	Next string `json:"next"`
}

type ackRequest struct {
	Reference string `json:"reference"`
}

func (a *api) hotlineRoutes(r *gin.Engine) {
	g := r.Group("/v1/hotline")
	g.POST("/token", a.limitByClient, a.hotlineToken)
	g.GET("/reports", a.authenticateHotline, a.pullReports)
	g.POST("/reports/:id/ack", a.authenticateHotline, a.ackReport)
}

// hotlineToken implements the OAuth 2.0 client credentials grant (RFC 6749
// section 4.4) with HTTP Basic client authentication.
func (a *api) hotlineToken(c *gin.Context) {
	id, secret, ok := c.Request.BasicAuth()
	if !ok {
		a.unauthorizedClient(c)
		return
	}
	if ct, _, _ := strings.Cut(c.GetHeader("Content-Type"), ";"); strings.TrimSpace(ct) != "application/x-www-form-urlencoded" {
		writeProblem(c, problemFor(codeUnsupportedMedia, "Send grant_type=client_credentials as application/x-www-form-urlencoded."))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<10)
	if err := c.Request.ParseForm(); err != nil || c.Request.PostForm.Get("grant_type") != "client_credentials" {
		writeProblem(c, problemFor(codeInvalidGrant, "Send grant_type=client_credentials."))
		return
	}
	client, err := hotlineclient.Authenticate(c.Request.Context(), a.Pull, id, secret)
	if errors.Is(err, hotlineclient.ErrInvalid) {
		a.unauthorizedClient(c)
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	tok, exp, err := a.HotlineTokens.Issue(client.ID)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.log.Info("hotline token issued", "client", client.ID, "hotline", client.HotlineID)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"access_token": tok, "token_type": "Bearer", "expires_in": int64(time.Until(exp).Seconds())})
}

func (a *api) unauthorizedClient(c *gin.Context) {
	a.metrics.authFailures.Inc()
	c.Header("WWW-Authenticate", `Basic realm="reportit-hotline"`)
	writeProblem(c, problemFor(codeUnauthorized, "Authenticate with your hotline client id and secret (HTTP Basic)."))
}

// authenticateHotline checks a hotline token and that its client is still
// active, and sets the client's hotline for the handlers.
func (a *api) authenticateHotline(c *gin.Context) {
	raw, ok := bearer(c)
	if !ok {
		a.unauthorized(c, false)
		return
	}
	id, err := a.HotlineTokens.Check(raw)
	if err != nil {
		a.unauthorized(c, true)
		return
	}
	client, err := a.Pull.Client(c.Request.Context(), id)
	if err != nil || !client.RevokedAt.IsZero() {
		a.unauthorized(c, true)
		return
	}
	c.Set(ctxHotline, client.HotlineID)
	c.Next()
}

func (a *api) pullReports(c *gin.Context) {
	limit := defaultPullLimit
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPullLimit {
			writeProblem(c, withField(problemFor(report.CodeInvalid, "limit must be a number from 1 to "+strconv.Itoa(maxPullLimit)+"."), "limit"))
			return
		}
		limit = n
	}
	after := c.Query("after")
	if len(after) > 128 {
		writeProblem(c, withField(problemFor(report.CodeInvalid, "after must be a cursor from a previous page."), "after"))
		return
	}
	list, next, err := a.Pull.ListForHotline(c.Request.Context(), c.GetString(ctxHotline), after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page := pullPage{Reports: make([]pulledReport, 0, len(list)), Next: next}
	for _, p := range list {
		pr := pulledReport{Payload: portal.FromReport(p.Report, p.Sightings), HotlineReference: p.Reference}
		if !p.Acked.IsZero() {
			at := p.Acked.UTC()
			pr.AckedAt = &at
		}
		page.Reports = append(page.Reports, pr)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, page)
}

func (a *api) ackReport(c *gin.Context) {
	var req ackRequest
	if c.Request.ContentLength != 0 && !a.readJSON(c, &req) {
		return
	}
	if len(req.Reference) > maxHotlineRef {
		writeProblem(c, withField(problemFor(report.CodeInvalid, "reference may be at most "+strconv.Itoa(maxHotlineRef)+" characters."), "reference"))
		return
	}
	hotline := c.GetString(ctxHotline)
	id := c.Param("id")
	if err := a.Pull.Ack(c.Request.Context(), hotline, id, req.Reference, time.Now()); err != nil {
		a.fail(c, err)
		return
	}
	a.log.Info("report acknowledged by hotline", "id", id, "hotline", hotline)
	c.JSON(http.StatusOK, gin.H{"id": id, "status": report.StatusDelivered})
}

func withField(p Problem, field string) Problem {
	p.Field = field
	p.Errors = []FieldError{{Type: p.Type, Field: field, Detail: p.Detail}}
	return p
}
