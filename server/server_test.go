package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary as a separate process, so that SIGKILL
// and SIGTERM are real.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "reportit-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "reportit")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd    *exec.Cmd
	base   string
	stderr *lockedBuffer
	done   chan error
}

func start(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	p := launch(t, serveCmd(t, dataDir, nil, env...), io.Discard)
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// serveCmd runs `reportit serve` on dataDir with the tests' defaults (any
// port, generous limits), after prefix: a tracer and its options, if any.
func serveCmd(t *testing.T, dataDir string, prefix []string, env ...string) *exec.Cmd {
	args := append(append(prefix[:len(prefix):len(prefix)], binary), "serve")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "REPORTIT_ADDR=127.0.0.1:0", "REPORTIT_DATA_DIR=" + dataDir,
		"REPORTIT_RATE_TOKENS=10000-H", "REPORTIT_RATE_REPORTS=100000-H"}, env...)
	return cmd
}

// launch starts cmd, waits for the server's address line and copies it and
// the rest of stdout to out. Stopping the process is the caller's.
func launch(t *testing.T, cmd *exec.Cmd, out io.Writer) *proc {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("no address line: %v; stderr: %s", err, p.stderr)
	}
	io.WriteString(out, line)
	p.base = strings.TrimSpace(strings.TrimPrefix(line, "reportit listening on "))
	go func() { io.Copy(out, br); p.done <- cmd.Wait() }()
	return p
}

func (p *proc) kill(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit")
		return nil
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

func (p *proc) token(t *testing.T) string {
	t.Helper()
	r, err := client.Post(p.base+"/v1/installations", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var v struct{ Token string }
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || r.StatusCode != 201 {
		t.Fatalf("installation: %d %v", r.StatusCode, err)
	}
	return v.Token
}

type accepted struct {
	ID, Reference, Receipt string
}

// submit sends one report; ok is false when no 202 came back (for example
// because the server was killed), which is allowed: only a 202 promises.
func (p *proc) submit(tok string, n int) (accepted, bool) {
	body := fmt.Sprintf(`{"url":"https://example.com/e2e/%d","content_type":"page","category":"csam","country":"NL","client":{"name":"e2e","version":"1"}}`, n)
	req, _ := http.NewRequest("POST", p.base+"/v1/reports", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), n))
	r, err := client.Do(req)
	if err != nil {
		return accepted{}, false
	}
	defer r.Body.Close()
	var a accepted
	if r.StatusCode != http.StatusAccepted || json.NewDecoder(r.Body).Decode(&a) != nil {
		return accepted{}, false
	}
	return a, true
}

func (p *proc) status(t *testing.T, a accepted) int {
	t.Helper()
	req, _ := http.NewRequest("GET", p.base+"/v1/reports/"+a.Reference, nil)
	req.Header.Set("Report-Receipt", a.Receipt)
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r.StatusCode
}

// load sends reports from several goroutines until stop is closed and
// returns every acknowledged one.
func load(p *proc, tok string, workers int, stop <-chan struct{}) []accepted {
	var (
		mu   sync.Mutex
		acks []accepted
		wg   sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if a, ok := p.submit(tok, w*1_000_000+i); ok {
					mu.Lock()
					acks = append(acks, a)
					mu.Unlock()
				} else {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}(w)
	}
	wg.Wait()
	return acks
}

func TestAcknowledgedReportsSurviveSIGKILL(t *testing.T) {
	data := t.TempDir()
	p := start(t, data)
	tok := p.token(t)
	stop := make(chan struct{})
	result := make(chan []accepted)
	go func() { result <- load(p, tok, 8, stop) }()
	time.Sleep(700 * time.Millisecond)
	p.kill(t, syscall.SIGKILL) // mid-load: requests are in flight
	close(stop)
	acks := <-result
	if len(acks) == 0 {
		t.Fatal("no report was acknowledged before the kill")
	}

	p2 := start(t, data)
	for _, a := range acks {
		if code := p2.status(t, a); code != 200 {
			t.Fatalf("report %s acknowledged before SIGKILL is gone after restart: %d", a.Reference, code)
		}
	}
	t.Logf("%d acknowledged reports all present after SIGKILL and restart", len(acks))
}

func TestSIGTERMFinishesInFlightRequests(t *testing.T) {
	data := t.TempDir()
	p := start(t, data)
	tok := p.token(t)
	stop := make(chan struct{})
	result := make(chan []accepted)
	go func() { result <- load(p, tok, 8, stop) }()
	time.Sleep(500 * time.Millisecond)
	if err := p.kill(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, p.stderr)
	}
	close(stop)
	acks := <-result
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop logged: %s", p.stderr)
	}
	p2 := start(t, data)
	for _, a := range acks {
		if code := p2.status(t, a); code != 200 {
			t.Fatalf("report %s acknowledged during shutdown is missing: %d", a.Reference, code)
		}
	}
	t.Logf("%d reports acknowledged around SIGTERM, all present", len(acks))
}

func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	data := t.TempDir()
	p := start(t, data)
	old := p.token(t)
	out, err := exec.Command(binary, "rotate-keys", "-data-dir", data).CombinedOutput()
	if err != nil {
		t.Fatalf("rotate-keys: %v %s", err, out)
	}
	if _, ok := p.submit(old, 1); !ok {
		t.Fatal("token signed before rotation refused by the running server")
	}
	// The server follows a rotation within a minute by itself; SIGHUP makes
	// it immediate.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "signing keys reloaded") })
	if _, ok := p.submit(old, 3); !ok {
		t.Fatal("token signed before rotation refused after reload")
	}
	fresh := p.token(t)
	kid := func(tok string) string {
		seg := strings.Split(tok, ".")[0]
		b, _ := base64Decode(seg)
		var m map[string]any
		json.Unmarshal(b, &m)
		return fmt.Sprint(m["kid"])
	}
	if kid(old) == kid(fresh) {
		t.Fatalf("running server still signs with the old key %s", kid(old))
	}
	if _, ok := p.submit(fresh, 2); !ok {
		t.Fatal("token signed with the new key refused")
	}
	r, err := client.Get(p.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(body), kid(old)) || !strings.Contains(string(body), kid(fresh)) {
		t.Fatalf("JWKS should publish both keys during the grace period: %s", body)
	}
}

func TestDefaultsUseDataDirInWorkingDirectory(t *testing.T) {
	cwd := t.TempDir()
	cmd := exec.Command(binary)
	cmd.Dir = cwd
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "REPORTIT_ADDR=127.0.0.1:0"}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"data/reportit.db", "data/secret.key", "data/keys"} {
		if _, err := os.Stat(filepath.Join(cwd, f)); err != nil {
			t.Errorf("%s not created: %v", f, err)
		}
	}
}

func TestCommandLine(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"help"}, func(string) string { return "" }, &out, &errb); code != 0 || !strings.Contains(out.String(), "rotate-keys") {
		t.Fatalf("help: %d %s", code, out.String())
	}
	if code := run(t.Context(), []string{"frobnicate"}, func(string) string { return "" }, &out, &errb); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
	errb.Reset()
	env := map[string]string{"REPORTIT_RATE_GLOBAL": "lots", "REPORTIT_TRUSTED_PROXIES": "10.0.0.0/33"}
	if code := run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "REPORTIT_RATE_GLOBAL") || !strings.Contains(errb.String(), "REPORTIT_TRUSTED_PROXIES") {
		t.Fatalf("bad config: exit %d, %s", code, errb.String())
	}
}

func base64Decode(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 5 s")
}

// lockedBuffer collects a child's stderr, written by exec's copying
// goroutine while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
