package delivery

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/webhook"
)

// Result is the outcome of one delivery attempt by any channel.
type Result = portal.Result

// Sightings says how often a report's URL was reported to its hotline in
// the deduplication window.
type Sightings = portal.Sightings

// Channel delivers a report to a hotline one way: push to its intake
// portal here; SCARt e-mail elsewhere. Deliver makes one attempt and
// classifies it (portal.Delivered, Retry or Permanent, with RetryAfter if
// the hotline asked for a wait). Result.Err must be safe to log: the
// report id and the kind of failure, never the report's URL, comment or
// contact. A Channel is called concurrently.
type Channel interface {
	Deliver(ctx context.Context, r report.Report, s Sightings) Result
}

// Push is the channel to a hotline's intake portal.
type Push struct {
	client   *portal.Client
	endpoint string
}

// NewPush returns a push channel to endpoint through client.
func NewPush(client *portal.Client, endpoint string) (*Push, error) {
	if err := portal.CheckEndpoint(endpoint); err != nil {
		return nil, err
	}
	return &Push{client: client, endpoint: endpoint}, nil
}

// Deliver pushes r, with its sightings, to the portal.
func (p *Push) Deliver(ctx context.Context, r report.Report, s Sightings) Result {
	return p.client.Deliver(ctx, p.endpoint, portal.FromReport(r, s))
}

// PushTarget is a hotline intake portal in the configuration.
type PushTarget struct {
	// Endpoint is the absolute URL reports are POSTed to.
	Endpoint string `json:"endpoint"`
	// Secrets sign deliveries: "whsec_…" (HMAC-SHA256) or "whsk_…"
	// (Ed25519). The first is current; further ones are also signed with
	// during a rotation.
	Secrets []string `json:"secrets"`
	// Concurrency bounds deliveries in flight to this portal; 0 takes the
	// dispatcher's default.
	Concurrency int `json:"concurrency,omitempty"`
}

// RoutesConfig says how each hotline takes reports. A hotline's route is,
// in this order: its entry in Channels, its entry in Push, the shared
// Intake portal, or else the hotline's own web form.
type RoutesConfig struct {
	// Intake, if set, takes the reports of every hotline without a route
	// of its own: REPORTIT_INTAKE_URL and REPORTIT_INTAKE_SECRET. All those
	// hotlines share its concurrency limit and breaker: they are one
	// portal.
	Intake *PushTarget
	// Push maps hotline ids to their own intake portals.
	Push map[string]PushTarget
	// Channels maps hotline ids to other channels (e-mail). The key
	// "lane" of each is the hotline id.
	Channels map[string]Channel
	// AllowHTTP permits plain-http endpoints on hosts other than loopback,
	// for development stacks (docker-compose). Reports hold URLs of abuse
	// material: in production they go over TLS only.
	AllowHTTP bool
	// Client is the template for the portal clients: Version, Timeout,
	// MaxRetryAfter, Transport, Now. Its Signer is set per target.
	Client portal.Config
}

// Route is how one hotline takes reports.
type Route struct {
	// Channel delivers; nil means the hotline takes reports through its
	// own web form only.
	Channel Channel
	// Lane names the destination for the concurrency limit, the breaker and
	// metrics: the hotline id, or "intake" for the shared portal. Never a
	// URL.
	Lane string
	// Concurrency bounds deliveries in flight in the lane; 0 for the
	// dispatcher's default.
	Concurrency int
}

// IntakeLane is the lane of the shared intake portal.
const IntakeLane = "intake"

// Routes resolves hotline ids to routes. It is immutable and safe for
// concurrent use.
type Routes struct {
	byHotline map[string]Route
	intake    *Route
}

// NewRoutes checks cfg and builds a portal client for every push target.
// Errors name the hotline, never an endpoint or a secret.
func NewRoutes(cfg RoutesConfig) (*Routes, error) {
	rt := &Routes{byHotline: map[string]Route{}}
	for id, ch := range cfg.Channels {
		if id == "" || ch == nil {
			return nil, fmt.Errorf("%w: channel for hotline %q", ErrConfig, id)
		}
		if _, dup := cfg.Push[id]; dup {
			return nil, fmt.Errorf("%w: hotline %q has both a push target and another channel", ErrConfig, id)
		}
		rt.byHotline[id] = Route{Channel: ch, Lane: id}
	}
	for _, id := range sortedKeys(cfg.Push) {
		if id == "" || id == IntakeLane {
			return nil, fmt.Errorf("%w: push target for hotline %q", ErrConfig, id)
		}
		r, err := newPushRoute(cfg, cfg.Push[id], id)
		if err != nil {
			return nil, fmt.Errorf("push target for hotline %q: %w", id, err)
		}
		rt.byHotline[id] = r
	}
	if cfg.Intake != nil {
		r, err := newPushRoute(cfg, *cfg.Intake, IntakeLane)
		if err != nil {
			return nil, fmt.Errorf("intake portal: %w", err)
		}
		rt.intake = &r
	}
	return rt, nil
}

func newPushRoute(cfg RoutesConfig, t PushTarget, lane string) (Route, error) {
	if err := checkEndpoint(t.Endpoint, cfg.AllowHTTP); err != nil {
		return Route{}, err
	}
	if len(t.Secrets) == 0 {
		return Route{}, fmt.Errorf("%w: no secret", ErrConfig)
	}
	if t.Concurrency < 0 {
		return Route{}, fmt.Errorf("%w: negative concurrency", ErrConfig)
	}
	signer, err := webhook.NewSigner(t.Secrets[0], t.Secrets[1:]...)
	if err != nil {
		return Route{}, fmt.Errorf("%w: secret: %w", ErrConfig, err)
	}
	pc := cfg.Client
	pc.Signer = signer
	client, err := portal.New(pc)
	if err != nil {
		return Route{}, err
	}
	push, err := NewPush(client, t.Endpoint)
	if err != nil {
		return Route{}, err
	}
	return Route{Channel: push, Lane: lane, Concurrency: t.Concurrency}, nil
}

// checkEndpoint wants https, or http to loopback (the intake simulator on
// the same machine) unless allowHTTP.
func checkEndpoint(endpoint string, allowHTTP bool) error {
	if err := portal.CheckEndpoint(endpoint); err != nil {
		return fmt.Errorf("%w: endpoint is not an absolute http(s) URL", ErrConfig)
	}
	u, _ := url.Parse(endpoint)
	if u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%w: endpoint must use https (plain http only to loopback)", ErrConfig)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Route returns the route of a hotline. ok is false when the hotline has
// no channel: the reporter uses the hotline's form.
func (rt *Routes) Route(hotlineID string) (r Route, ok bool) {
	if r, ok := rt.byHotline[hotlineID]; ok {
		return r, true
	}
	if rt.intake != nil {
		return *rt.intake, true
	}
	return Route{}, false
}

// IntakeFromEnv reads the shared intake portal from REPORTIT_INTAKE_URL
// and REPORTIT_INTAKE_SECRET (several secrets separated by spaces during a
// rotation, the current one first). It returns nil when neither is set.
func IntakeFromEnv(getenv func(string) string) (*PushTarget, error) {
	endpoint := strings.TrimSpace(getenv("REPORTIT_INTAKE_URL"))
	secrets := strings.Fields(getenv("REPORTIT_INTAKE_SECRET"))
	switch {
	case endpoint == "" && len(secrets) == 0:
		return nil, nil
	case endpoint == "":
		return nil, fmt.Errorf("%w: REPORTIT_INTAKE_SECRET is set but REPORTIT_INTAKE_URL is not", ErrConfig)
	case len(secrets) == 0:
		return nil, fmt.Errorf("%w: REPORTIT_INTAKE_URL is set but REPORTIT_INTAKE_SECRET is not", ErrConfig)
	}
	return &PushTarget{Endpoint: endpoint, Secrets: secrets}, nil
}
