package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// No outbound connections (issue 7): the server connects to nothing but
// the intake endpoints it is configured with (and, scaled out, the
// configured PostgreSQL and Redis). It never resolves or fetches a reported
// address. The proof is the kernel's view: the real binary runs under
// strace, every connect() (and every sendto/sendmsg that names an address,
// as unconnected UDP would) of every thread is recorded, and each one must
// go to an allowed loopback endpoint; no DNS (port 53), no Unix socket
// (nscd, systemd-resolved), and no opening of the files a name lookup reads
// (/etc/hosts, /etc/resolv.conf, ...), which catches a lookup answered
// from /etc/hosts too.

// outboundStracePath is where the test looks for strace; .ci/run installs it.
const outboundStracePath = "/usr/bin/strace"

func needStrace(t *testing.T) string {
	t.Helper()
	path := outboundStracePath
	if _, err := os.Stat(path); err != nil {
		var lerr error
		if path, lerr = exec.LookPath("strace"); lerr != nil {
			t.Skipf("strace is not installed (%v): the outbound-connection audit needs it (apt-get install strace)", err)
		}
	}
	// ptrace may be forbidden (a container without CAP_SYS_PTRACE, say).
	out, err := exec.Command(path, "-f", "-qq", "-e", "trace=connect", "-o", "/dev/null", "true").CombinedOutput()
	if err != nil {
		t.Skipf("strace cannot trace here: %v %s", err, out)
	}
	return path
}

// tracedServer is a server running under strace. proc's cmd is strace itself;
// pid is the server's.
type tracedServer struct {
	*proc
	pid   int
	trace string
}

// startTraced is start (server_test.go) under strace. SIGTERM goes to the
// server, so that its shutdown is traced too; strace exits with it.
func startTraced(t *testing.T, strace, dataDir string, env ...string) *tracedServer {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "connect.trace")
	cmd := serveCmd(t, dataDir, []string{strace, "-f", "--seccomp-bpf", "-qq", "-e", "signal=none",
		"-e", outboundTraceSet, "-o", trace}, env...)
	p := launch(t, cmd, io.Discard)
	tr := &tracedServer{proc: p, trace: trace}
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return
		}
		// The server first, by its own id: killing strace alone would
		// leave it running, untraced.
		if tr.pid > 0 {
			syscall.Kill(tr.pid, syscall.SIGKILL)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
	})
	// strace's one child is the server.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if f := strings.Fields(string(b)); err == nil && len(f) == 1 {
		tr.pid, _ = strconv.Atoi(f[0])
	}
	if tr.pid == 0 {
		t.Fatalf("cannot find the server under strace %d: %q %v", cmd.Process.Pid, b, err)
	}
	return tr
}

// stop ends the server with SIGTERM and waits for strace to finish the
// trace.
func (tr *tracedServer) stop(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(tr.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-tr.done:
		if err != nil {
			t.Errorf("server under strace: exit %v; stderr: %s", err, tail(tr.stderr.String(), 2000))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not stop within 60 s of SIGTERM")
	}
}

// outboundTraceSet is what strace records: every call that can name a
// socket address, and file opens (for resolverFile).
const outboundTraceSet = "trace=connect,sendto,sendmsg,openat,open"

// resolverFile reports whether path is read by a host name lookup (Go's
// resolver or glibc's): the hosts file, resolver and NSS configuration,
// systemd-resolved's stub.
func resolverFile(path string) bool {
	for _, f := range []string{"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf"} {
		if path == f {
			return true
		}
	}
	return strings.HasPrefix(path, "/run/systemd/resolve/")
}

// outboundCall is one traced system call that names a socket address.
type outboundCall struct {
	syscall string
	family  string         // AF_INET, AF_INET6, AF_UNIX, ...
	addr    netip.AddrPort // for AF_INET and AF_INET6
	path    string         // for AF_UNIX, as strace prints it
	line    string
}

var (
	outboundReCall   = regexp.MustCompile(`^(?:\d+\s+)?(connect|sendto|sendmsg|openat|open)\(`)
	outboundRePath   = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	outboundReFamily = regexp.MustCompile(`sa_family=(AF_[A-Z0-9]+)`)
	outboundReInet4  = regexp.MustCompile(`sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)`)
	outboundReInet6  = regexp.MustCompile(`sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"`)
	outboundReUnix   = regexp.MustCompile(`sun_path=(@?"(?:[^"\\]|\\.)*"|[^,}]+)`)
)

// parseConnectTrace returns the calls of an strace log that name an address
// (connect always does; sendto and sendmsg on a connected socket do not).
// A line strace split ("<unfinished ...>" and "<... resumed>") names the
// address in its first part.
func parseConnectTrace(r io.Reader) ([]outboundCall, error) {
	var calls []outboundCall
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := outboundReCall.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[1] == "open" || m[1] == "openat" {
			// Only the files a name lookup reads: the server never
			// resolves a name, so it never opens them.
			if p := outboundRePath.FindStringSubmatch(line); p != nil && resolverFile(p[1]) {
				calls = append(calls, outboundCall{syscall: m[1], family: "FILE", path: p[1], line: line})
			}
			continue
		}
		fam := outboundReFamily.FindStringSubmatch(line)
		if fam == nil {
			if m[1] == "connect" && !strings.Contains(line, "resumed>") {
				return nil, fmt.Errorf("connect without an address family: %q", line)
			}
			continue
		}
		c := outboundCall{syscall: m[1], family: fam[1], line: line}
		var port, ip string
		switch c.family {
		case "AF_INET":
			if a := outboundReInet4.FindStringSubmatch(line); a != nil {
				port, ip = a[1], a[2]
			}
		case "AF_INET6":
			if a := outboundReInet6.FindStringSubmatch(line); a != nil {
				port, ip = a[1], a[2]
			}
		case "AF_UNIX":
			if a := outboundReUnix.FindStringSubmatch(line); a != nil {
				c.path = a[1]
			}
		}
		if c.family == "AF_INET" || c.family == "AF_INET6" {
			n, err := strconv.ParseUint(port, 10, 16)
			a, aerr := netip.ParseAddr(ip)
			if err != nil || aerr != nil {
				return nil, fmt.Errorf("cannot read the address of %q", line)
			}
			c.addr = netip.AddrPortFrom(a, uint16(n))
		}
		calls = append(calls, c)
	}
	return calls, sc.Err()
}

// classifyOutbound returns how many calls reached each allowed endpoint
// (loopback only), and a problem for every other call.
func classifyOutbound(calls []outboundCall, allowed map[netip.AddrPort]string) (seen map[string]int, problems []string) {
	seen = map[string]int{}
	for _, c := range calls {
		switch c.family {
		case "AF_INET", "AF_INET6":
			a := netip.AddrPortFrom(c.addr.Addr().Unmap(), c.addr.Port())
			if c.addr.Port() == 53 {
				problems = append(problems, "a DNS query (port 53): "+c.line)
			}
			if name, ok := allowed[a]; ok && a.Addr().IsLoopback() {
				seen[name]++
				continue
			}
			problems = append(problems, fmt.Sprintf("%s to %s, which is no configured endpoint: %s", c.syscall, a, c.line))
		case "FILE":
			problems = append(problems, fmt.Sprintf("a name lookup: %s opened: %s", c.path, c.line))
		case "AF_UNIX":
			// Nothing needs one: the stores are reached over TCP here,
			// the resolver is never used, and there is no syslog. An nscd
			// or systemd-resolved socket would mean a name lookup.
			problems = append(problems, fmt.Sprintf("%s to a Unix socket %s: %s", c.syscall, c.path, c.line))
		default:
			problems = append(problems, fmt.Sprintf("%s with address family %s: %s", c.syscall, c.family, c.line))
		}
	}
	return seen, problems
}

// loopbackEndpoint is the loopback host:port of a URL, for the allow-list.
func loopbackEndpoint(t *testing.T, raw, defaultPort string) netip.AddrPort {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = defaultPort
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port))
	if err != nil || !ap.Addr().IsLoopback() {
		t.Skipf("%s is not a loopback IP address and port: the outbound audit expects its stores on loopback", raw)
	}
	return ap
}

// outboundURLs are reported addresses on hosts the server must never
// contact or resolve: an IP literal of a real web server, a public name,
// an onion service, a name that exists nowhere, a bracketed IPv6 literal
// and one the validation refuses (which must not resolve it either).
func outboundURLs(tag string) []string {
	return []string{
		"http://93.184.216.34/outbound-" + tag,
		"https://example.com/img-" + tag + ".jpg",
		"http://2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion/" + tag,
		"https://no-such-host-" + tag + ".reportit-outbound-test.net/x",
		"https://[2606:2800:220:1:248:1893:25c8:1946]/" + tag,
		"https://reportit-outbound-" + tag + ".localhost/x",
	}
}

// exerciseOutbound drives every public endpoint of p: installations,
// refresh, reports on outboundURLs (pushed to the sim for NL, pulled for
// DE), status, the hotline pull API, health, readiness, metrics, JWKS and
// the directory. It returns the reports accepted for the push hotline.
func exerciseOutbound(t *testing.T, p *proc, data, tag string, opEnv ...string) []accepted {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/v1/hotlines", "/nowhere"} {
		r, err := client.Get(p.base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	tok := p.token(t)
	req, _ := http.NewRequest("POST", p.base+"/v1/token/refresh", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if r, err := client.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("refresh: %v %v", r, err)
	} else {
		r.Body.Close()
	}

	var pushed, pulled []accepted
	refused := 0
	for i, u := range outboundURLs(tag) {
		for _, country := range []string{"NL", "DE"} {
			body := fmt.Sprintf(`{"url":%q,"page_url":%q,"content_type":"image","category":"csam","country":%q,`+
				`"comment":"seen at %s","client":{"name":"e2e","version":"1"}}`, u, outboundURLs(tag)[(i+1)%len(outboundURLs(tag))], country, u)
			req, _ := http.NewRequest("POST", p.base+"/v1/reports", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("outbound-%s-%d-%s", tag, i, country))
			r, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			switch r.StatusCode {
			case http.StatusAccepted:
				var a accepted
				if err := json.Unmarshal(b, &a); err != nil {
					t.Fatal(err)
				}
				if country == "NL" {
					pushed = append(pushed, a)
				} else {
					pulled = append(pulled, a)
				}
			case http.StatusUnprocessableEntity:
				refused++ // .localhost, or a page_url on it
			default:
				t.Fatalf("report of %s: %d %s", u, r.StatusCode, b)
			}
		}
	}
	if len(pushed) < 4 || refused == 0 {
		t.Fatalf("%d reports pushed, %d refused: the URLs did not exercise what they should", len(pushed), refused)
	}
	p.waitStatuses(t, pushed, "delivered", 60*time.Second)
	for _, a := range pulled {
		p.view(t, a)
	}
	// The pull API, with a client made by the operator command.
	id, secret := operatorHotlineClient(t, data, pullHotline, opEnv...)
	htok := p.hotlineToken(t, id, secret)
	list := p.pullAll(t, htok, 100)
	if len(list) != len(pulled) {
		t.Errorf("pulled %d reports, want %d", len(list), len(pulled))
	}
	for i, r := range list {
		if code := p.ack(htok, r.ID, fmt.Sprintf("ECO-%d", i)); code != 200 {
			t.Errorf("ack %s: %d", r.ID, code)
		}
	}
	p.waitStatuses(t, pulled, "delivered", 30*time.Second)
	p.metrics(t)
	return pushed
}

func TestOutboundOnlyToConfiguredEndpoints(t *testing.T) {
	strace := needStrace(t)

	t.Run("sqlite", func(t *testing.T) {
		s := startSim(t)
		data := t.TempDir()
		tr := startTraced(t, strace, data, append(s.env(), "REPORTIT_PULL_HOTLINES="+pullHotline)...)
		tag := runID()
		pushed := exerciseOutbound(t, tr.proc, data, tag)
		checkReceived(t, s, pushed)
		time.Sleep(time.Second) // background loops get a turn
		tr.stop(t)

		allowed := map[netip.AddrPort]string{loopbackEndpoint(t, s.intake, "80"): "intake portal"}
		auditConnectTrace(t, tr, allowed, "intake portal")
	})

	t.Run("postgres-redis", func(t *testing.T) {
		needRedis(t)
		dbURL := testDatabaseURL(t)
		s := startSim(t)
		data := t.TempDir()
		redisURL := "redis://" + localRedis + "/0"
		tr := startTraced(t, strace, data, append(s.env(),
			"REPORTIT_PULL_HOTLINES="+pullHotline,
			"REPORTIT_DATABASE_URL="+dbURL,
			"REPORTIT_REDIS_URL="+redisURL,
			"REPORTIT_REPLICA_ID=outbound-"+runID())...)
		tag := runID()
		pushed := exerciseOutbound(t, tr.proc, data, tag, "REPORTIT_DATABASE_URL="+dbURL)
		checkReceived(t, s, pushed)
		time.Sleep(time.Second)
		tr.stop(t)

		allowed := map[netip.AddrPort]string{
			loopbackEndpoint(t, s.intake, "80"):   "intake portal",
			loopbackEndpoint(t, dbURL, "5432"):    "PostgreSQL",
			loopbackEndpoint(t, redisURL, "6379"): "Redis",
		}
		auditConnectTrace(t, tr, allowed, "intake portal", "PostgreSQL", "Redis")
	})

	// Negative control, end to end: a traced process that connects where
	// the allow-list does not permit (the healthcheck command probing a
	// server) is caught.
	t.Run("control", func(t *testing.T) {
		p := start(t, t.TempDir())
		server := loopbackEndpoint(t, p.base, "80")
		allowServer := map[netip.AddrPort]string{server: "server"}
		// The healthcheck command probing the server by address: a connect
		// the empty allow-list refuses and allowServer lets through.
		calls := traceCommand(t, strace, "healthcheck", "-url", p.base+"/readyz")
		if _, problems := classifyOutbound(calls, nil); len(problems) == 0 {
			t.Fatalf("a connect to %s, allowed by nothing, went unnoticed (%d calls parsed)", server, len(calls))
		}
		if seen, problems := classifyOutbound(calls, allowServer); seen["server"] == 0 || len(problems) != 0 {
			t.Fatalf("with the server allowed: seen %v, problems %q", seen, problems)
		}
		// By name: "localhost" is looked up (in /etc/hosts, so nothing
		// leaves the machine), and the lookup is caught.
		calls = traceCommand(t, strace, "healthcheck", "-url", strings.Replace(p.base, "127.0.0.1", "localhost", 1)+"/readyz")
		_, problems := classifyOutbound(calls, allowServer)
		lookup := false
		for _, pr := range problems {
			lookup = lookup || strings.HasPrefix(pr, "a name lookup")
		}
		if !lookup {
			t.Fatalf("a name lookup went unnoticed; problems %q", problems)
		}
	})
}

// traceCommand runs the binary with args under strace (its exit status is
// ignored) and returns the calls it made.
func traceCommand(t *testing.T, strace string, args ...string) []outboundCall {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "command.trace")
	argv := append([]string{"-f", "--seccomp-bpf", "-qq", "-e", "signal=none", "-e", outboundTraceSet, "-o", trace, binary}, args...)
	cmd := exec.Command(strace, argv...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Run()
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls, err := parseConnectTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

// auditConnectTrace reads tr's trace, checks every call against allowed, and
// checks that each of want was seen: the trace is complete enough to have
// caught a forbidden connection.
func auditConnectTrace(t *testing.T, tr *tracedServer, allowed map[netip.AddrPort]string, want ...string) {
	t.Helper()
	f, err := os.Open(tr.trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls, err := parseConnectTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	seen, problems := classifyOutbound(calls, allowed)
	for _, p := range problems {
		t.Error(p)
	}
	for _, w := range want {
		if seen[w] == 0 {
			t.Errorf("no connect to the %s in the trace: the trace misses connections, so it proves nothing (%d calls parsed)", w, len(calls))
		}
	}
	t.Logf("%d traced calls naming an address, all to configured loopback endpoints: %v", len(calls), seen)
}

// The parser itself, on lines as strace 6 prints them, so that a change
// of format fails here rather than letting connections slip by.
func TestOutboundTraceParser(t *testing.T) {
	trace := `1234  connect(7, {sa_family=AF_INET, sin_port=htons(41234), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)
1235  connect(8, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2606:2800:220:1::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>
1235  <... connect resumed>) = -1 EINPROGRESS (Operation now in progress)
1236  connect(9, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
1237  sendto(10, "\x12\x34", 2, MSG_NOSIGNAL, NULL, 0) = 2
1237  sendto(11, "\x12\x34\x01\x00", 4, 0, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("8.8.8.8")}, 16) = 4
1238  sendmsg(12, {msg_name={sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, msg_namelen=28, msg_iov=[{iov_base="x", iov_len=1}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 1
1239  openat(AT_FDCWD, "/proc/self/stat", O_RDONLY|O_CLOEXEC) = 13
1239  openat(AT_FDCWD, "/etc/resolv.conf", O_RDONLY|O_CLOEXEC) = 13
1239  +++ exited with 0 +++
`
	calls, err := parseConnectTrace(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"connect AF_INET 127.0.0.1:41234", "connect AF_INET6 [2606:2800:220:1::1]:443", `connect AF_UNIX "/var/run/nscd/socket"`,
		"sendto AF_INET 8.8.8.8:53", "sendmsg AF_INET6 [::1]:53", "openat FILE /etc/resolv.conf"}
	var got []string
	for _, c := range calls {
		s := c.syscall + " " + c.family + " "
		if c.family == "AF_UNIX" || c.family == "FILE" {
			s += c.path
		} else {
			s += c.addr.String()
		}
		got = append(got, s)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("parsed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// classifyOutbound lets the allowed loopback endpoint through and
	// reports every other call, DNS twice (as DNS and as not allowed).
	seen, problems := classifyOutbound(calls, map[netip.AddrPort]string{netip.MustParseAddrPort("127.0.0.1:41234"): "sim"})
	if seen["sim"] != 1 || len(problems) != len(calls)-1+2 {
		t.Fatalf("classifyOutbound: seen %v, problems %q; want the sim once and %d problems", seen, problems, len(calls)+1)
	}
	// The same endpoint off loopback is not allowed, even if listed.
	if _, problems := classifyOutbound(calls[:1], map[netip.AddrPort]string{netip.MustParseAddrPort("127.0.0.1:41234"): "sim"}); len(problems) != 0 {
		t.Fatalf("problems %q", problems)
	}
}

// operatorHotlineClient is hotlineClientCreate (delivery_e2e_test.go) with
// an environment, so that it reaches the PostgreSQL store too.
func operatorHotlineClient(t *testing.T, data, hotlineID string, env ...string) (id, secret string) {
	t.Helper()
	cmd := exec.Command(binary, "hotline-client", "create", "-data-dir", data, hotlineID, "e2e "+hotlineID)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hotline-client create: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(l, ":")
		switch v = strings.TrimSpace(v); {
		case ok && k == "client_id":
			id = v
		case ok && k == "client_secret":
			secret = v
		}
	}
	if id == "" || secret == "" {
		t.Fatalf("hotline-client create printed no client_id/client_secret: %s", out)
	}
	return id, secret
}
