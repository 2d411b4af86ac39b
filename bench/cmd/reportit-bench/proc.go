package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// server is a started server process: reportit or the baseline.
type server struct {
	name      string
	cmd       *exec.Cmd
	addr      string // http://host:port
	endpoint  string // the URL the listening line printed, path included
	pprofAddr string // http://host:port, if the binary serves pprof
	// Start-up: from exec to the address line, and to a 200 from /readyz.
	listening, ready time.Duration
	exited           chan struct{}
	waitErr          error
}

// startServer runs bin with args and env, logging its stderr to logPath,
// and waits until GET /readyz answers 200. Stdout must carry
// "<name> listening on http://ADDR" (and, for a profiling build,
// "reportit-bench pprof on http://ADDR") before the server is ready.
func startServer(ctx context.Context, name, bin string, args, env []string, logPath string) (*server, error) {
	return startProcess(ctx, name, bin, args, env, logPath, "/readyz")
}

// startProcess is startServer for a server that is ready when GET
// readyPath answers 200 (the intake portal has no /readyz). A path in the
// listening line (the portal prints its intake endpoint) is kept in
// endpoint and left out of addr.
func startProcess(ctx context.Context, name, bin string, args, env []string, logPath, readyPath string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{name: name, cmd: cmd, exited: make(chan struct{})}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "reportit-bench pprof on "); ok {
				s.pprofAddr = a // written before the listening line, read after it
			}
			if _, a, ok := strings.Cut(line, " listening on "); ok && !sent {
				addrc <- strings.TrimSpace(a)
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()

	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	select {
	case s.endpoint = <-addrc:
		s.listening = time.Since(t0)
		s.addr = s.endpoint
		if u, err := url.Parse(s.endpoint); err == nil && u.Host != "" {
			s.addr = u.Scheme + "://" + u.Host
		}
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before listening (%v); see %s", name, s.waitErr, logPath)
	case <-deadline.C:
		s.kill()
		return nil, fmt.Errorf("%s did not print its address within 30s; see %s", name, logPath)
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}

	// Poll /readyz tightly: the poll interval bounds how precisely the
	// start-up time is measured.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	for {
		resp, err := client.Get(s.addr + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.ready = time.Since(t0)
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited before ready (%v); see %s", name, s.waitErr, logPath)
		case <-deadline.C:
			s.kill()
			return nil, fmt.Errorf("%s not ready within 30s; see %s", name, logPath)
		case <-ctx.Done():
			s.kill()
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop asks the server to shut down gracefully (SIGTERM: reportit then
// finishes in-flight requests and commits what it accepted) and waits.
func (s *server) stop() error {
	select {
	case <-s.exited:
		return s.exitErr()
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-s.exited:
		return s.exitErr()
	case <-time.After(60 * time.Second):
		s.kill()
		return fmt.Errorf("%s did not stop within 60s of SIGTERM; killed", s.name)
	}
}

func (s *server) exitErr() error {
	if s.waitErr != nil {
		return fmt.Errorf("%s: %w", s.name, s.waitErr)
	}
	return nil
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// fetch GETs url into path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
