package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reportit/reportit/internal/config"
	"github.com/reportit/reportit/internal/delivery"
	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/outbox"
	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/scart"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

// routesFile is the per-hotline delivery configuration
// (REPORTIT_ROUTES_FILE). Hotlines in none of its sections go to the shared
// intake portal if one is set (REPORTIT_INTAKE_URL), or else to their own
// web form.
type routesFile struct {
	// Push maps hotline ids to their intake portals.
	Push map[string]delivery.PushTarget `json:"push"`
	// Scart maps hotline ids to the SCARt mailboxes they import e-mail from.
	Scart map[string]scart.Target `json:"scart"`
	// Pull lists hotlines that pull their reports with the pull API.
	Pull []string `json:"pull"`
}

// deliveryRoutes builds the routes and the set of pull hotlines.
func deliveryRoutes(cfg *config.Config, dir *hotline.Directory, getenv func(string) string) (*delivery.Routes, map[string]bool, error) {
	var rf routesFile
	if cfg.RoutesFile != "" {
		b, err := os.ReadFile(cfg.RoutesFile)
		if err != nil {
			return nil, nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rf); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", cfg.RoutesFile, err)
		}
	}
	pull := map[string]bool{}
	for _, id := range append(rf.Pull, strings.FieldsFunc(cfg.PullHotlines, func(r rune) bool { return r == ',' || r == ' ' })...) {
		pull[id] = true
	}
	for id := range pull {
		if _, ok := dir.Get(id); !ok {
			return nil, nil, fmt.Errorf("pull hotline %q is not in the directory", id)
		}
	}
	for id := range rf.Push {
		if _, ok := dir.Get(id); !ok {
			return nil, nil, fmt.Errorf("%s: push hotline %q is not in the directory", cfg.RoutesFile, id)
		}
		if pull[id] {
			return nil, nil, fmt.Errorf("hotline %q is configured to both push and pull", id)
		}
	}
	channels := map[string]delivery.Channel{}
	for id, t := range rf.Scart {
		if _, ok := dir.Get(id); !ok {
			return nil, nil, fmt.Errorf("%s: SCARt hotline %q is not in the directory", cfg.RoutesFile, id)
		}
		if pull[id] {
			return nil, nil, fmt.Errorf("hotline %q is configured to both e-mail and pull", id)
		}
		sc, err := t.Config(getenv)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: SCARt mailbox of %q: %w", cfg.RoutesFile, id, err)
		}
		ch, err := scart.New(sc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: SCARt mailbox of %q: %w", cfg.RoutesFile, id, err)
		}
		channels[id] = ch
	}
	rc := delivery.RoutesConfig{
		Push:      rf.Push,
		Channels:  channels,
		AllowHTTP: cfg.AllowHTTP,
		Client:    portal.Config{Version: version, Transport: pushTransport()},
	}
	if cfg.IntakeURL != "" {
		// The shared portal takes every hotline's reports: give its lane as
		// many slots as the runner has workers, or jobs claimed for it would
		// bounce back as "lane busy" and drain a backlog a few at a time.
		rc.Intake = &delivery.PushTarget{Endpoint: cfg.IntakeURL, Secrets: strings.Fields(cfg.IntakeSecret), Concurrency: outbox.DefaultWorkers}
	}
	routes, err := delivery.NewRoutes(rc)
	return routes, pull, err
}

// pushTransport carries every push delivery. The runner has up to
// outbox.DefaultWorkers deliveries in flight, all to one portal when it is
// the shared intake: as many connections to a portal stay open between
// deliveries, or most would be dialled anew for each report (the portal
// client's own transport keeps 16, for the dispatcher's default of 4 per
// lane). Measured by reportit-bench -delivery: dialling took an eighth of
// the server's CPU while a backlog drained.
func pushTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = outbox.DefaultWorkers
	t.MaxIdleConns = max(t.MaxIdleConns, outbox.DefaultWorkers)
	return t
}

func newDispatcher(cfg *config.Config, src delivery.Source, routes *delivery.Routes, reg prometheus.Registerer) (*delivery.Dispatcher, error) {
	m, err := delivery.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return delivery.NewDispatcher(delivery.Config{
		Source:  src,
		Routes:  routes,
		Policy:  delivery.Policy{Base: cfg.BackoffBase, Max: cfg.BackoffMax, MaxAge: cfg.MaxAge},
		Breaker: delivery.BreakerConfig{Cooldown: cfg.BreakerCooldown},
		Metrics: m,
	})
}
