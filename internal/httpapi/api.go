// Package httpapi is the HTTP adapter: the Gin router, the wire shapes of
// the API, and the one mapping from errors to RFC 9457 problems. It holds no
// rules about reports; those live in package intake and package report.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reportit/reportit/internal/clientip"
	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/intake"
	"github.com/reportit/reportit/internal/ratelimit"
	"github.com/reportit/reportit/internal/report"
)

// Reports is what the API needs of the intake service.
type Reports interface {
	Submit(ctx context.Context, installation, idempotencyKey string, s report.Submission) (intake.Receipt, error)
	Status(ctx context.Context, reference, receipt string) (report.StatusView, *hotline.Hotline, error)
	Directory() *hotline.Directory
}

// Tokens issues and checks installation tokens.
type Tokens interface {
	// NewInstallation issues a token for a new anonymous installation.
	NewInstallation() (token string, expires time.Time, err error)
	// Renew checks a valid token and issues a fresh one for the same installation.
	Renew(raw string) (token string, expires time.Time, err error)
	// Check returns the installation a valid token was issued to.
	Check(raw string) (installation string, err error)
	// JWKS is the public key set, as JSON.
	JWKS() []byte
}

// Limiter decides whether a request may go ahead.
type Limiter interface {
	Allow(ctx context.Context, p ratelimit.Policy, id string) (ratelimit.Decision, error)
}

// Pinger tells whether the store can serve (for readiness).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Policies are the rate limits the API applies.
type Policies struct {
	Tokens  ratelimit.Policy // per client address, on token issue and refresh
	Reports ratelimit.Policy // per installation
	Global  ratelimit.Policy // all reports together
}

// Deps is everything the router needs.
type Deps struct {
	Reports  Reports
	Tokens   Tokens
	Limiter  Limiter
	Policies Policies
	ClientIP *clientip.Resolver
	Store    Pinger
	// Pull and HotlineTokens serve the hotline pull API; both nil leaves
	// it out.
	Pull          HotlinePull
	HotlineTokens HotlineTokens
	Registry      *prometheus.Registry
	Log           *slog.Logger
}

type api struct {
	Deps
	metrics *metrics
	log     *slog.Logger
	// bodyBuffers are read buffers for request bodies: io.ReadAll grew a
	// new one, in several steps, for every request.
	bodyBuffers sync.Pool
	// reportRequests are decoded report bodies (*reportRequest), reset
	// before they go back: decoding into an interface made a new one
	// escape to the heap for every report.
	reportRequests sync.Pool
	// hotlineJSON keeps the JSON of the hotlines named in answers.
	hotlineJSON hotlineJSON
}

// MaxBodyBytes bounds a report body: two URLs, a comment of 2,000
// characters and some JSON, with room for escaping.
const MaxBodyBytes = 32 << 10

// New builds the router.
func New(d Deps) *gin.Engine {
	a := &api{Deps: d, log: d.Log, metrics: newMetrics(d.Registry)}
	r := gin.New()
	// Forwarding headers are interpreted by clientip with the configured
	// trusted proxies; Gin itself must believe none of them, or its
	// ClientIP() would hand a forged X-Forwarded-For to anything using it.
	_ = r.SetTrustedProxies(nil)
	r.ForwardedByClientIP = false
	r.RemoteIPHeaders = nil
	r.HandleMethodNotAllowed = true
	r.Use(a.recover, a.observe)
	r.NoRoute(func(c *gin.Context) {
		writeProblem(c, problemFor(codeRouteNotFound, "There is no endpoint at this path. See the API description."))
	})
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, problemFor(codeMethodNotAllowed, "This endpoint does not support the "+c.Request.Method+" method."))
	})

	r.GET("/healthz", a.healthz)
	r.GET("/readyz", a.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{})))
	r.GET("/.well-known/jwks.json", a.jwks)

	v1 := r.Group("/v1")
	v1.POST("/installations", a.limitByClient, a.createInstallation)
	v1.POST("/token/refresh", a.limitByClient, a.refreshToken)
	v1.POST("/reports", a.postReport)
	v1.GET("/reports/:reference", a.reportStatus)
	v1.GET("/hotlines", a.hotlines)
	if d.Pull != nil && d.HotlineTokens != nil {
		a.hotlineRoutes(r)
	}
	return r
}

func (a *api) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (a *api) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := a.Store.Ping(ctx); err != nil {
		a.log.Warn("not ready", "err", err)
		writeProblem(c, problemFor(codeServiceUnavailable, "The report store is not reachable."))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (a *api) jwks(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/jwk-set+json", a.Tokens.JWKS())
}

func (a *api) hotlines(c *gin.Context) {
	body, etag := a.Reports.Directory().JSON()
	c.Header("ETag", etag)
	c.Header("Cache-Control", "public, max-age=3600")
	if match := c.GetHeader("If-None-Match"); match != "" && etagMatches(match, etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}
