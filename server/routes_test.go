package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reportit/reportit/internal/config"
	"github.com/reportit/reportit/internal/delivery"
	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/scart"
)

func TestDeliveryRoutesFile(t *testing.T) {
	dir, err := hotline.Seed()
	if err != nil {
		t.Fatal(err)
	}
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "routes.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := map[string]string{"NL_SMTP_PASSWORD": "s3cret"}
	getenv := func(k string) string { return env[k] }

	good := write(`{
	  "push": {"de-eco-beschwerdestelle": {"endpoint": "https://intake.eco.example/reports", "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}},
	  "scart": {"nl-meldpunt-kinderporno": {"host": "smtp.meldpunt.example", "username": "reportit", "password_env": "NL_SMTP_PASSWORD",
	            "from": "reports@reportit.example", "to": "import@meldpunt.example", "subject": "REPORTIT"}},
	  "pull": ["gb-iwf"]
	}`)
	routes, pull, err := deliveryRoutes(&config.Config{RoutesFile: good, PullHotlines: "fr-point-de-contact"}, dir, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := routes.Route("de-eco-beschwerdestelle"); !ok {
		t.Error("push hotline has no route")
	} else if _, isPush := r.Channel.(*delivery.Push); !isPush {
		t.Errorf("push hotline routed to %T", r.Channel)
	}
	if r, ok := routes.Route("nl-meldpunt-kinderporno"); !ok {
		t.Error("SCARt hotline has no route")
	} else if _, isMail := r.Channel.(*scart.Channel); !isMail {
		t.Errorf("SCARt hotline routed to %T", r.Channel)
	}
	if _, ok := routes.Route("at-stopline"); ok {
		t.Error("a hotline with no channel and no shared intake should use its form")
	}
	if !pull["gb-iwf"] || !pull["fr-point-de-contact"] || len(pull) != 2 {
		t.Errorf("pull hotlines = %v", pull)
	}

	for name, tc := range map[string]struct{ file, pull, want string }{
		"unknown hotline":  {write(`{"pull": ["xx-none"]}`), "", "xx-none"},
		"push and pull":    {good, "de-eco-beschwerdestelle", "both push and pull"},
		"mail and pull":    {good, "nl-meldpunt-kinderporno", "both e-mail and pull"},
		"unknown field":    {write(`{"pusj": {}}`), "", "unknown field"},
		"missing password": {write(`{"scart": {"nl-meldpunt-kinderporno": {"host": "smtp.x.example", "username": "u", "password_env": "NOPE", "from": "a@b.example", "to": "c@d.example", "subject": "R"}}}`), "", "nl-meldpunt-kinderporno"},
	} {
		_, _, err := deliveryRoutes(&config.Config{RoutesFile: tc.file, PullHotlines: tc.pull}, dir, getenv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows the password", name)
		}
	}
}
