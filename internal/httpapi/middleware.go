package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reportit/reportit/internal/clientip"
	"github.com/reportit/reportit/internal/ratelimit"
)

// recover turns a panic into a 500 problem without leaking its detail.
func (a *api) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			a.log.Error("panic", "route", c.FullPath(), "panic", r)
			if !c.Writer.Written() {
				writeProblem(c, problemFor(codeInternal, "Something went wrong on our side. Please try again later."))
			}
		}
	}()
	c.Next()
}

// observe records metrics per route template. It logs nothing that could
// identify a reporter: no address, no User-Agent, no path parameters.
func (a *api) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := statusLabel(c.Writer.Status())
	a.metrics.requests.WithLabelValues(route, status).Inc()
	a.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// statusLabel is strconv.Itoa without an allocation for the codes this
// API answers with (Itoa allocates for numbers of 100 and more).
func statusLabel(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusCreated:
		return "201"
	case http.StatusAccepted:
		return "202"
	case http.StatusNoContent:
		return "204"
	case http.StatusNotModified:
		return "304"
	case http.StatusBadRequest:
		return "400"
	case http.StatusUnauthorized:
		return "401"
	case http.StatusForbidden:
		return "403"
	case http.StatusNotFound:
		return "404"
	case http.StatusMethodNotAllowed:
		return "405"
	case http.StatusConflict:
		return "409"
	case http.StatusRequestEntityTooLarge:
		return "413"
	case http.StatusUnsupportedMediaType:
		return "415"
	case http.StatusUnprocessableEntity:
		return "422"
	case http.StatusTooManyRequests:
		return "429"
	case http.StatusInternalServerError:
		return "500"
	case http.StatusServiceUnavailable:
		return "503"
	}
	return strconv.Itoa(code)
}

// bearer extracts the token from "Authorization: Bearer <token>". A request
// with several Authorization fields has none: which one counts would depend
// on who reads them (a proxy may check the last, Go's Get returns the first).
func bearer(c *gin.Context) (string, bool) {
	vals := c.Request.Header["Authorization"]
	if len(vals) != 1 {
		return "", false
	}
	h := vals[0]
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(h[len(prefix):])
	return t, t != ""
}

// unauthorized answers 401 with one generic body, whatever was wrong with
// the token: telling expired from forged helps nobody but an attacker.
func (a *api) unauthorized(c *gin.Context, invalid bool) {
	a.metrics.authFailures.Inc()
	if invalid {
		c.Header("WWW-Authenticate", `Bearer realm="reportit", error="invalid_token"`)
	} else {
		c.Header("WWW-Authenticate", `Bearer realm="reportit"`)
	}
	writeProblem(c, problemFor(codeUnauthorized, "A valid installation token is required. Get one from POST /v1/installations, or renew it."))
}

// installation returns the installation of the request's token, or answers
// 401 itself.
func (a *api) installation(c *gin.Context) (string, bool) {
	raw, ok := bearer(c)
	if !ok {
		a.unauthorized(c, false)
		return "", false
	}
	inst, err := a.Tokens.Check(raw)
	if err != nil {
		a.unauthorized(c, true)
		return "", false
	}
	return inst, true
}

// limitByClient applies the per-address policy (token issue and refresh).
func (a *api) limitByClient(c *gin.Context) {
	addr, _ := a.ClientIP.Client(c.Request.RemoteAddr, c.Request.Header)
	if a.allow(c, limitCheck{a.Policies.Tokens, clientip.Key(addr), true}) {
		c.Next()
	}
}

// allowReport applies the per-installation policy and the global cap.
func (a *api) allowReport(c *gin.Context, installation string) bool {
	// The global cap's remaining count would tell anyone the overall report
	// volume, so it is only shown when it is what refuses the request.
	return a.allow(c, limitCheck{a.Policies.Reports, installation, true}, limitCheck{a.Policies.Global, "global", false})
}

type limitCheck struct {
	policy ratelimit.Policy
	id     string
	public bool // headers for this policy are sent even when it allows
}

// allow applies checks in order and writes their headers. It answers the
// request itself (429, or 503 for a broken policy) and returns false when
// one refuses.
func (a *api) allow(c *gin.Context, checks ...limitCheck) bool {
	// On the stack for the one or two checks a route makes.
	var buf [2]ratelimit.Decision
	ds := buf[:0]
	for _, ch := range checks {
		d, err := a.Limiter.Allow(c.Request.Context(), ch.policy, ch.id)
		if err != nil {
			// The limiter has its own fallback when its store fails; an
			// error here is a bug, and refusing is the safe answer.
			a.log.Error("rate limiter failed", "policy", ch.policy.Name, "err", err)
			writeProblem(c, problemFor(codeServiceUnavailable, "Please try again shortly."))
			return false
		}
		if ch.public || !d.Allowed {
			ds = append(ds, d)
		}
		if !d.Allowed {
			break
		}
	}
	ratelimit.SetHeaders(c.Writer.Header(), ds...)
	for _, d := range ds {
		if !d.Allowed {
			a.metrics.limited.WithLabelValues(d.Policy.Name).Inc()
			writeProblem(c, problemFor(codeRateLimited, "You have sent too many requests. Please wait before trying again; the Retry-After header says how long."))
			return false
		}
	}
	return true
}
