package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthcheckTimeout bounds one probe; the container engine retries.
const healthcheckTimeout = 3 * time.Second

// healthcheck probes a running server's /readyz over loopback and fails
// unless it answers 200. The container image has no shell, curl or wget
// (distroless), so the binary probes itself: HEALTHCHECK and compose's
// healthcheck run "reportit healthcheck".
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reportit healthcheck", flag.ContinueOnError)
	url := fs.String("url", "", "URL to probe (default: /readyz on the port of REPORTIT_ADDR, over loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		*url = readyzURL(envOr(getenv, "REPORTIT_ADDR", "127.0.0.1:8080"))
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, res.Status)
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}

// readyzURL is /readyz on the port of a listen address, over loopback: a
// server listening on 0.0.0.0 or [::] answers there too.
func readyzURL(addr string) string {
	port := "8080"
	if i := strings.LastIndex(addr, ":"); i >= 0 && i+1 < len(addr) {
		port = addr[i+1:]
	}
	return "http://127.0.0.1:" + port + "/readyz"
}

// envOrFile reads NAME, or the file named by NAME_FILE (the docker
// secrets convention), as config does for the server's own settings.
func envOrFile(getenv func(string) string, name string) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	if file == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("set %s or %s_FILE, not both", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", errors.New(name + "_FILE: the file is empty")
	}
	return s, nil
}
