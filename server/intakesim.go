package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/reportit/reportit/internal/intakesim"
	"github.com/reportit/reportit/internal/webhook"
)

// intakeSim runs the reference hotline intake portal: for development,
// demos, the docker-compose stack and tests.
func intakeSim(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reportit intake-sim", flag.ContinueOnError)
	envSecret, err := envOrFile(getenv, "REPORTIT_INTAKE_SECRET")
	if err != nil {
		return err
	}
	addr := fs.String("addr", envOr(getenv, "REPORTIT_INTAKESIM_ADDR", "127.0.0.1:9090"), "listen address (REPORTIT_INTAKESIM_ADDR)")
	secret := fs.String("secret", envSecret, "whsec_… (HMAC) or whpk_… (Ed25519) secret that deliveries are signed with (REPORTIT_INTAKE_SECRET or _FILE); a new one is made and printed if empty")
	path := fs.String("path", "/intake", "path that takes deliveries")
	failure := fs.Float64("failure-rate", 0, "share of requests answered 503 or 429 (0..1)")
	retryAfter := fs.Duration("retry-after", 0, "Retry-After sent with injected failures")
	latency := fs.Duration("latency", 0, "latency added to each request")
	jitter := fs.Duration("jitter", 0, "random extra latency, up to this")
	reset := fs.Float64("reset-rate", 0, "share of requests whose connection is cut after the report is stored (0..1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		*secret = webhook.NewSecret()
		fmt.Fprintf(stdout, "intake-sim: no secret given; deliveries must be signed with %s\n", *secret)
	}
	p, err := intakesim.New(intakesim.Config{
		Secrets: []string{*secret},
		Path:    *path,
		Faults: intakesim.Faults{FailureRate: *failure, RetryAfter: *retryAfter, Latency: *latency, Jitter: *jitter,
			ResetRate: *reset},
		Now: time.Now,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "intake-sim listening on http://%s%s\n", ln.Addr(), p.Path())
	return p.Serve(ctx, ln)
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
