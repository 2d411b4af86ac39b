package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	binenc "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	libredis "github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/reportit/reportit/internal/clientip"
	"github.com/reportit/reportit/internal/ratelimit"
)

// Privacy audit, end to end (issue 7). The real binary serves reporters
// who carry marker values: their addresses (behind a trusted proxy, in
// X-Forwarded-For, IPv4 and IPv6; and a direct peer), User-Agent, Origin,
// Referer, their tokens, installation ids and Idempotency-Keys. They get
// tokens, send reports (new, retried, conflicting, invalid, unauthorised,
// cut off mid-body), look up statuses; the reports are delivered to the
// intake simulator. Then everything the service keeps or emits is
// searched: every file of the data directory (raw bytes), the logs
// (stdout and stderr, at debug level), /metrics, what the hotline
// received, and with the scaled-out store the whole PostgreSQL database and
// Redis. No marker may be anywhere; the reported URL, comment and contact
// must be in the store and at the hotline (positive controls, so that the
// search can fail).
//
// Then the schema: no stored column may link a report to the installation
// that sent it. Every column is classified below; a new one fails the test
// until someone decides, and writes down, why it cannot identify a
// reporter.

// Addresses of the audit. The proxy and the direct reporter are loopback
// addresses other than 127.0.0.1 (Linux routes all of 127/8 to lo), so
// that they are markers too.
var (
	privProxy    = netip.MustParseAddr("127.0.0.66") // the trusted proxy's own address
	privDirect   = netip.MustParseAddr("127.0.0.77") // a reporter without a proxy
	privClient4  = netip.MustParseAddr("203.0.113.77")
	privClient6  = netip.MustParseAddr("2001:db8:7777:4242::77")
	privForged   = netip.MustParseAddr("198.51.100.99") // left of the real hop: what a client forges
	privForgedDT = netip.MustParseAddr("198.51.100.77") // X-Forwarded-For from an untrusted peer
)

// A privMarker is one form of a value that must not be kept.
type privMarker struct {
	name string
	b    []byte
	raw  bool // binary form: searched in binary sinks only, exactly
	// exact: case matters (base64); text markers are matched ignoring
	// case.
	exact bool
}

// A privSink is something the service wrote: a file, a log, a dump.
type privSink struct {
	name   string
	data   []byte
	binary bool
}

func privText(name, s string) privMarker { return privMarker{name: name, b: []byte(s)} }

// privBytesMarkers are the encodings of raw bytes b worth searching for: the
// bytes themselves (binary sinks), hex, and base64 in its two alphabets.
func privBytesMarkers(name string, b []byte) []privMarker {
	std := strings.TrimRight(base64.StdEncoding.EncodeToString(b), "=")
	url := base64.RawURLEncoding.EncodeToString(b)
	ms := []privMarker{
		{name: name + " (raw bytes)", b: b, raw: true, exact: true},
		privText(name+" (hex)", hex.EncodeToString(b)),
		{name: name + " (base64)", b: []byte(std), exact: true},
	}
	if url != std {
		ms = append(ms, privMarker{name: name + " (base64url)", b: []byte(url), exact: true})
	}
	return ms
}

// privIPMarkers are the forms an address could be kept in: text, the /64
// rate-limit identity of an IPv6 address, expanded, and as raw bytes.
func privIPMarkers(name string, a netip.Addr) []privMarker {
	ms := []privMarker{privText(name, a.String())}
	if a.Is4() {
		b := a.As4()
		ms = append(ms, privBytesMarkers(name, b[:])...)
		ms = append(ms, privText(name+" (decimal)", strconv.FormatUint(uint64(binenc.BigEndian.Uint32(b[:])), 10)))
		m := netip.AddrFrom16(a.As16()).As16()
		ms = append(ms, privMarker{name: name + " (IPv4-mapped raw)", b: m[:], raw: true, exact: true})
		return ms
	}
	b := a.As16()
	p := netip.PrefixFrom(a, 64).Masked()
	ms = append(ms,
		privText(name+" (expanded)", a.StringExpanded()),
		privText(name+" (/64)", strings.TrimSuffix(p.String(), "/64")),
		privText(name+" (/64 expanded)", p.Addr().StringExpanded()[:19]))
	ms = append(ms, privBytesMarkers(name, b[:])...)
	ms = append(ms, privBytesMarkers(name+" /64", b[:8])...)
	return ms
}

// privIDMarkers are the forms of a base64url id of raw bytes (the
// installation id: 16 random bytes).
func privIDMarkers(name, id string) []privMarker {
	ms := []privMarker{privText(name, id)}
	if raw, err := base64.RawURLEncoding.DecodeString(id); err == nil {
		ms = append(ms, privBytesMarkers(name, raw)...)
	}
	return ms
}

// privFind returns a line for each marker found in a sink.
func privFind(sinks []privSink, markers []privMarker) []string {
	var found []string
	for _, s := range sinks {
		lower := bytes.ToLower(s.data)
		for _, m := range markers {
			if m.raw && !s.binary {
				continue
			}
			i := -1
			if m.raw || m.exact {
				i = bytes.Index(s.data, m.b)
			} else {
				i = bytes.Index(lower, bytes.ToLower(m.b))
			}
			if i >= 0 {
				found = append(found, fmt.Sprintf("%s found in %s at byte %d: %q", m.name, s.name, i, privExcerpt(s.data, i, len(m.b))))
			}
		}
	}
	return found
}

func privExcerpt(b []byte, i, n int) []byte {
	lo, hi := max(0, i-100), min(len(b), i+n+100)
	return b[lo:hi]
}

// privContains reports whether any of sinks holds text (ignoring case).
func privContains(sinks []privSink, text string) bool {
	for _, s := range sinks {
		if bytes.Contains(bytes.ToLower(s.data), bytes.ToLower([]byte(text))) {
			return true
		}
	}
	return false
}

// privStart is start (server_test.go) keeping stdout too.
func privStart(t *testing.T, dataDir string, env ...string) (*proc, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	p := launch(t, serveCmd(t, dataDir, nil, env...), out)
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p, out
}

// A privReporter is a reporter of the audit: a source address, what it puts in
// X-Forwarded-For, and its marker headers.
type privReporter struct {
	name   string
	local  netip.Addr
	xff    string
	client *http.Client
	ua     string
	origin string
	ref    string
}

func newPrivReporter(name string, local netip.Addr, xff, tag string) *privReporter {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: 10 * time.Second}
	return &privReporter{
		name: name, local: local, xff: xff,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil}},
		ua:     fmt.Sprintf("PrivacyMarkerUA/%s-%s (X11; Linux)", tag, name),
		origin: fmt.Sprintf("https://origin-marker-%s-%s.example", tag, name),
		ref:    fmt.Sprintf("https://referer-marker-%s-%s.example/page", tag, name),
	}
}

func (r *privReporter) headers(h http.Header) {
	h.Set("User-Agent", r.ua)
	h.Set("Origin", r.origin)
	h.Set("Referer", r.ref)
	if r.xff != "" {
		h.Set("X-Forwarded-For", r.xff)
	}
}

// do sends a request with the reporter's headers and extra ones.
func (r *privReporter) do(t *testing.T, method, url, body string, extra map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	r.headers(req.Header)
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", method, url, r.name, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

func (r *privReporter) newToken(t *testing.T, base string) (string, int) {
	t.Helper()
	code, _, b := r.do(t, "POST", base+"/v1/installations", "", nil)
	var v struct{ Token string }
	json.Unmarshal(b, &v)
	return v.Token, code
}

// abortBody sends a report whose body stops half-way, then resets the
// connection: a reporter whose laptop lid closes mid-upload. The server
// meets a read error inside the handler.
func (r *privReporter) abortBody(t *testing.T, base, tok, key string) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: r.local.AsSlice()}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	r.headers(h)
	var req strings.Builder
	fmt.Fprintf(&req, "POST /v1/reports HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: %s\r\nContent-Length: 600\r\n", host, tok, key)
	h.Write(&req)
	req.WriteString("\r\n{\"url\":\"https://example.com/aborted")
	if _, err := c.Write([]byte(req.String())); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the handler is reading the body
	c.(*net.TCPConn).SetLinger(0)      // close with a reset
	c.Close()
	time.Sleep(100 * time.Millisecond)
}

// privTokenClaims reads the sub and jti of a token (unverified: the test
// only needs the values to search for).
func privTokenClaims(t *testing.T, tok string) (sub, jti string) {
	t.Helper()
	seg := strings.Split(tok, ".")
	if len(seg) != 3 {
		t.Fatalf("token %q is not a JWS", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(seg[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sub, Jti string }
	if err := json.Unmarshal(b, &c); err != nil || c.Sub == "" {
		t.Fatalf("token claims %s: %v", b, err)
	}
	return c.Sub, c.Jti
}

func privTokenMarkers(name, tok string) []privMarker {
	seg := strings.Split(tok, ".")
	// Not the header segment: every token under one key shares it.
	return []privMarker{
		{name: name, b: []byte(tok), exact: true},
		{name: name + " (claims segment)", b: []byte(seg[1]), exact: true},
		{name: name + " (signature)", b: []byte(seg[2]), exact: true},
	}
}

// intakeMAC is intake.Service's keyed hash (internal/intake mac), under the
// data directory's secret: HMAC-SHA-256(derive(secret, "intake"),
// length-prefixed purpose and parts), first 18 bytes, base64url.
func intakeMAC(secret []byte, purpose string, parts ...string) string {
	var in []byte
	for _, p := range append([]string{purpose}, parts...) {
		in = binenc.BigEndian.AppendUint32(in, uint32(len(p)))
		in = append(in, p...)
	}
	m := hmac.New(sha256.New, derive(secret, "intake"))
	m.Write(in)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// installationDerived are values a store could hold that are functions of
// the installation id alone (given the server's secrets): none may be
// stored, for it would link every report of one installation.
func installationDerived(secret []byte, lim *ratelimit.Limiter, inst string) []privMarker {
	sum := sha256.Sum256([]byte(inst))
	now := time.Now()
	ms := []privMarker{
		privText("SHA-256 of the installation id", hex.EncodeToString(sum[:])),
		{name: "SHA-256 of the installation id (base64url)", b: []byte(base64.RawURLEncoding.EncodeToString(sum[:])), exact: true},
		{name: "the installation's rate-limit key", b: []byte(lim.Key(now, "reports", inst)), exact: true},
	}
	for _, purpose := range []string{"idempotency", "receipt", "installation", "report"} {
		ms = append(ms,
			privMarker{name: "intake MAC " + purpose + "(installation)", b: []byte(intakeMAC(secret, purpose, inst)), exact: true},
			privMarker{name: "intake MAC " + purpose + "(installation, \"\")", b: []byte(intakeMAC(secret, purpose, inst, "")), exact: true})
	}
	return ms
}

// privStoredColumns is every column the stores have, with why it cannot
// identify the reporter or link a report to the installation that sent
// it. Both stores' columns are here; a column a store has that is not
// here fails TestPrivacyAudit.
var privStoredColumns = map[string]string{
	"reports.id":             "random UUIDv7 made per report",
	"reports.reference":      "random, 60 bits, made per report",
	"reports.primary_id":     "another report's id (dedup by URL and hotline, across reporters)",
	"reports.url":            "what the reporter reports (erased after retention)",
	"reports.url_key":        "key of the canonical URL, for dedup (erased after retention)",
	"reports.page_url":       "what the reporter reports (erased after retention)",
	"reports.content_type":   "one of five values",
	"reports.category":       "one of four values",
	"reports.country":        "country the reporter chose, for routing",
	"reports.hotline_id":     "routing",
	"reports.comment":        "the reporter's own words (erased after retention)",
	"reports.contact":        "given only by a reporter who wants to be contacted (erased after retention)",
	"reports.client_name":    "the client's name, shared by every installation of it",
	"reports.client_version": "the client's version, shared by every installation of it",
	"reports.received_at":    "time",
	"reports.sighting_count": "counter",
	"reports.first_seen_at":  "time",
	"reports.last_seen_at":   "time",
	"reports.status":         "delivery state",
	"reports.delivered_at":   "time",
	"reports.erased_at":      "time",
	// The only column computed from the installation: with the
	// Idempotency-Key the client chose for this one report, which the
	// extension makes a random UUID v4 per report. Without that key
	// (122 random bits, which only the reporter's browser holds) it cannot
	// be computed from the installation id, even with the server secret;
	// two reports of one installation have unrelated keys. Purged after
	// report.IdempotencyTTL. Checked in checkIdempotencyLink.
	"idempotency.key":         "HMAC(secret, installation ‖ Idempotency-Key): needs the per-report key the client chose",
	"idempotency.fingerprint": "SHA-256 of the report's own fields (URL, comment, …), nothing of the sender",
	"idempotency.report_id":   "the report",
	"idempotency.reference":   "the report",
	"idempotency.hotline_id":  "routing",
	"idempotency.primary_id":  "the report's primary",
	"idempotency.received_at": "time",

	"deliveries.seq":               "per-hotline (PostgreSQL) or global (SQLite) commit order",
	"deliveries.report_id":         "the report",
	"deliveries.hotline_id":        "routing",
	"deliveries.state":             "delivery state",
	"deliveries.attempts":          "counter",
	"deliveries.enqueued_at":       "time",
	"deliveries.next_attempt_at":   "time",
	"deliveries.lease_until":       "time",
	"deliveries.lease_owner":       "the replica delivering it",
	"deliveries.last_reason":       "delivery error class, never report content",
	"deliveries.hotline_reference": "the hotline's reference",
	"deliveries.delivered_at":      "time",
	"deliveries.died_at":           "time",
	"deliveries.acked_at":          "time",
	"delivery_seqs.hotline_id":     "routing",
	"delivery_seqs.last_seq":       "counter",

	"hotline_clients.id":          "a hotline's pull client, made by an operator",
	"hotline_clients.hotline_id":  "routing",
	"hotline_clients.name":        "operator's label",
	"hotline_clients.secret_hash": "the hotline client's secret, hashed",
	"hotline_clients.created_at":  "time",
	"hotline_clients.revoked_at":  "time",

	"schema_migrations.version":    "migration bookkeeping",
	"schema_migrations.name":       "migration bookkeeping",
	"schema_migrations.applied_at": "migration bookkeeping",
}

// privacyRun is one audited server and what it was sent.
type privacyRun struct {
	tag     string
	data    string
	sim     *sim
	p       *proc
	stdout  *lockedBuffer
	markers []privMarker // never to be kept anywhere
	// content is what reporters typed, which the store and the hotline
	// must have and the logs and metrics must not.
	content   []privMarker
	insts     []string          // installation ids
	idem      map[string]string // Idempotency-Key of a 202 → installation
	reports   map[string]string // Idempotency-Key of a 202 → report id
	reportIDs []string
}

// exercisePrivacy starts the server with env and drives it as described
// at the top of the file.
func exercisePrivacy(t *testing.T, env ...string) *privacyRun {
	t.Helper()
	run := &privacyRun{tag: runID(), data: t.TempDir(), idem: map[string]string{}, reports: map[string]string{}}
	run.sim = startSim(t)
	env = append(append(run.sim.env(),
		"REPORTIT_TRUSTED_PROXIES="+privProxy.String(),
		"REPORTIT_RATE_TOKENS=4-H",
		"REPORTIT_LOG_LEVEL=debug"), env...)
	run.p, run.stdout = privStart(t, run.data, env...)
	p := run.p

	v4 := newPrivReporter("v4", privProxy, privForged.String()+", "+privClient4.String(), run.tag)
	v6 := newPrivReporter("v6", privProxy, privClient6.String(), run.tag)
	direct := newPrivReporter("direct", privDirect, privForgedDT.String(), run.tag)
	reporters := []*privReporter{v4, v6, direct}
	for _, a := range []struct {
		name string
		a    netip.Addr
	}{{"proxy peer address", privProxy}, {"direct peer address", privDirect}, {"client IPv4 address", privClient4},
		{"client IPv6 address", privClient6}, {"forged X-Forwarded-For entry", privForged}, {"untrusted X-Forwarded-For", privForgedDT}} {
		run.markers = append(run.markers, privIPMarkers(a.name, a.a)...)
	}
	for _, r := range reporters {
		run.markers = append(run.markers, privText("User-Agent of "+r.name, r.ua), privText("Origin of "+r.name, r.origin),
			privText("Referer of "+r.name, r.ref))
	}

	// Tokens. The limit is 4 an hour per client address: the fifth from
	// the IPv4 reporter is refused while the IPv6 and the direct reporter,
	// behind the same proxy or none, still get theirs. So the server did
	// see the addresses the audit then looks for.
	tokens := map[*privReporter]string{}
	for i := 0; i < 4; i++ {
		tok, code := v4.newToken(t, p.base)
		if code != http.StatusCreated {
			t.Fatalf("token %d for the IPv4 reporter: %d", i, code)
		}
		if i == 0 {
			tokens[v4] = tok
		}
		run.markers = append(run.markers, privTokenMarkers(fmt.Sprintf("token %d of v4", i), tok)...)
		sub, _ := privTokenClaims(t, tok)
		run.markers = append(run.markers, privIDMarkers(fmt.Sprintf("installation id of v4's token %d", i), sub)...)
	}
	if _, code := v4.newToken(t, p.base); code != http.StatusTooManyRequests {
		t.Fatalf("fifth token for %s: %d, want 429: X-Forwarded-For from the trusted proxy is not what the server keys on", privClient4, code)
	}
	for _, r := range []*privReporter{v6, direct} {
		tok, code := r.newToken(t, p.base)
		if code != http.StatusCreated {
			t.Fatalf("token for the %s reporter: %d (the proxy's or a forged address was used as the client's)", r.name, code)
		}
		tokens[r] = tok
		run.markers = append(run.markers, privTokenMarkers("token of "+r.name, tok)...)
	}
	// A refresh: same installation, new token.
	code, _, b := v6.do(t, "POST", p.base+"/v1/token/refresh", "", map[string]string{"Authorization": "Bearer " + tokens[v6]})
	var refreshed struct{ Token string }
	if json.Unmarshal(b, &refreshed); code != 200 || refreshed.Token == "" {
		t.Fatalf("refresh: %d %s", code, b)
	}
	run.markers = append(run.markers, privTokenMarkers("refreshed token of v6", refreshed.Token)...)
	tokens[v6] = refreshed.Token

	// Reports.
	var acks []accepted
	for _, r := range reporters {
		tok := tokens[r]
		inst, jti := privTokenClaims(t, tok)
		run.insts = append(run.insts, inst)
		run.markers = append(run.markers, privIDMarkers("installation id of "+r.name, inst)...)
		run.markers = append(run.markers, privText("jti of "+r.name+"'s token", jti))
		auth := "Bearer " + tok
		comment := fmt.Sprintf("comment-marker-%s-%s", run.tag, r.name)
		contact := fmt.Sprintf("contact-marker-%s-%s@example.org", run.tag, r.name)
		run.content = append(run.content, privText("comment of "+r.name, comment), privText("contact of "+r.name, contact))
		for j, country := range []string{"NL", "DE"} {
			u := fmt.Sprintf("https://example.com/privacy-marker-%s/%s/%d", run.tag, r.name, j)
			run.content = append(run.content, privText("reported URL of "+r.name, u))
			body := fmt.Sprintf(`{"url":%q,"content_type":"page","category":"csam","country":%q,"comment":%q,"contact":%q,"client":{"name":"e2e","version":"1"}}`,
				u, country, comment, contact)
			key := fmt.Sprintf("idem-marker-%s-%s-%d", run.tag, r.name, j)
			run.markers = append(run.markers, privText("Idempotency-Key "+key, key))
			hdr := map[string]string{"Authorization": auth, "Content-Type": "application/json", "Idempotency-Key": key}
			code, _, b := r.do(t, "POST", p.base+"/v1/reports", body, hdr)
			var a accepted
			if json.Unmarshal(b, &a); code != http.StatusAccepted || a.ID == "" {
				t.Fatalf("report from %s: %d %s", r.name, code, b)
			}
			acks = append(acks, a)
			run.idem[key], run.reports[key] = inst, a.ID
			run.reportIDs = append(run.reportIDs, a.ID)
			// A retry gets the same answer; a reuse with another body is
			// refused.
			if code, h, b := r.do(t, "POST", p.base+"/v1/reports", body, hdr); code != http.StatusAccepted || h.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("retry from %s: %d %v %s", r.name, code, h, b)
			}
			if code, _, b := r.do(t, "POST", p.base+"/v1/reports", strings.Replace(body, `"page"`, `"image"`, 1), hdr); code != http.StatusUnprocessableEntity {
				t.Fatalf("reused key from %s: %d %s", r.name, code, b)
			}
		}
		badKey := fmt.Sprintf("idem-marker-%s-%s-bad", run.tag, r.name)
		run.markers = append(run.markers, privText("Idempotency-Key "+badKey, badKey))
		if code, _, b := r.do(t, "POST", p.base+"/v1/reports", `{"url":"http://localhost/x","content_type":"page","category":"csam","country":"NL","client":{"name":"e2e","version":"1"}}`,
			map[string]string{"Authorization": auth, "Content-Type": "application/json", "Idempotency-Key": badKey}); code != http.StatusUnprocessableEntity {
			t.Fatalf("invalid report from %s: %d %s", r.name, code, b)
		}
		if code, _, _ := r.do(t, "POST", p.base+"/v1/reports", "{}", map[string]string{"Authorization": auth + "x", "Content-Type": "application/json", "Idempotency-Key": badKey}); code != http.StatusUnauthorized {
			t.Fatalf("tampered token from %s: %d", r.name, code)
		}
		abortKey := fmt.Sprintf("idem-marker-%s-%s-aborted", run.tag, r.name)
		run.markers = append(run.markers, privText("Idempotency-Key "+abortKey, abortKey))
		r.abortBody(t, p.base, tok, abortKey)
	}

	// Statuses, and delivery to the hotline.
	p.waitStatuses(t, acks, "delivered", 60*time.Second)
	for i, r := range reporters {
		a := acks[2*i]
		code, _, b := r.do(t, "GET", p.base+"/v1/reports/"+a.Reference, "", map[string]string{"Report-Receipt": a.Receipt})
		if code != 200 {
			t.Fatalf("status from %s: %d %s", r.name, code, b)
		}
		if code, _, _ := r.do(t, "GET", p.base+"/v1/reports/"+a.Reference, "", map[string]string{"Report-Receipt": "wrong"}); code != http.StatusNotFound {
			t.Fatalf("status with a wrong receipt: %d", code)
		}
		r.do(t, "GET", p.base+"/v1/hotlines", "", nil)
	}
	checkReceived(t, run.sim, acks)
	return run
}

// privFileSinks reads every file under dir.
func privFileSinks(t *testing.T, dir, when string) []privSink {
	t.Helper()
	var sinks []privSink
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		sinks = append(sinks, privSink{name: fmt.Sprintf("data dir file %s (%s, %d bytes)", rel, when, len(b)), data: b, binary: true})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sinks
}

func privSinkNames(sinks []privSink) string {
	var n []string
	for _, s := range sinks {
		n = append(n, s.name)
	}
	return strings.Join(n, "; ")
}

// runningSinks collects what the running server exposes or holds: data
// files (with the WAL as it is mid-run), /metrics, and what the hotline
// received.
func (run *privacyRun) runningSinks(t *testing.T) (files, metricsSink, hotline []privSink) {
	t.Helper()
	files = privFileSinks(t, run.data, "running")
	r, err := client.Get(run.p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(r.Body)
	r.Body.Close()
	metricsSink = []privSink{{name: "/metrics", data: mb}}
	for _, d := range run.sim.received(t) {
		hotline = append(hotline, privSink{name: "delivery " + d.ID + " at the hotline", data: d.Payload})
	}
	return files, metricsSink, hotline
}

func TestPrivacyAudit(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		run := exercisePrivacy(t)
		files, metricsSink, hotline := run.runningSinks(t)
		secret := run.secret(t)
		if err := run.p.kill(t, syscall.SIGTERM); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		files = append(files, privFileSinks(t, run.data, "stopped")...)
		rows := privSQLiteRows(t, filepath.Join(run.data, "reportit.db"))
		run.audit(t, secret, files, rows, metricsSink, hotline, nil)
		run.checkIdempotencyLink(t, secret, rows)
	})

	t.Run("postgres-redis", func(t *testing.T) {
		needRedis(t)
		dbURL := testDatabaseURL(t)
		redisURL := "redis://" + localRedis + "/0"
		run := exercisePrivacy(t, "REPORTIT_DATABASE_URL="+dbURL, "REPORTIT_REDIS_URL="+redisURL,
			"REPORTIT_REPLICA_ID=privacy-"+runID())
		files, metricsSink, hotline := run.runningSinks(t)
		secret := run.secret(t)
		rdb := libredis.NewClient(&libredis.Options{Addr: localRedis, DB: 0})
		defer rdb.Close()
		expected := run.redisKeys(t, secret)
		t.Cleanup(func() {
			// This run's keys only: HMACs under this data dir's secret.
			keys := make([]string, 0, len(expected))
			for k := range expected {
				keys = append(keys, k)
			}
			rdb.Del(context.Background(), keys...)
		})
		if err := run.p.kill(t, syscall.SIGTERM); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		files = append(files, privFileSinks(t, run.data, "stopped")...)
		rows := privPostgresRows(t, dbURL)
		stores := append(rows, privPGDump(t, dbURL)...)
		redisSinks := privRedisDump(t, rdb, expected, run.insts)
		run.audit(t, secret, files, stores, metricsSink, hotline, redisSinks)
		run.checkIdempotencyLink(t, secret, rows)
	})
}

func (run *privacyRun) secret(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(run.data, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// audit searches every sink for the markers and checks the positive
// controls. stores are the database's rows (and dump); for SQLite they
// are in files too.
func (run *privacyRun) audit(t *testing.T, secret []byte, files, stores, metricsSink, hotline, redisSinks []privSink) {
	t.Helper()
	logs := []privSink{{name: "stdout", data: []byte(run.stdout.String())}, {name: "stderr log", data: []byte(run.p.stderr.String())}}
	lim := ratelimit.New(memory.NewStore(), derive(secret, "ratelimit"))
	derived := []privMarker{}
	for _, inst := range run.insts {
		derived = append(derived, installationDerived(secret, lim, inst)...)
	}

	// Positive controls: the search finds what is legitimately there.
	if len(files) == 0 || len(stores) == 0 || len(hotline) == 0 {
		t.Fatalf("nothing to search: %d files, %d store sinks, %d deliveries", len(files), len(stores), len(hotline))
	}
	for _, m := range run.content {
		if !privContains(append(files, stores...), string(m.b)) {
			t.Errorf("positive control: %s (%q) is not in the store, so the search is blind", m.name, m.b)
		}
		if !privContains(hotline, string(m.b)) {
			t.Errorf("positive control: %s (%q) did not reach the hotline", m.name, m.b)
		}
	}
	for _, id := range run.reportIDs {
		if !privContains(logs, id) {
			t.Errorf("positive control: report id %s is not in the log, so the log search is blind", id)
		}
	}
	if !privContains(metricsSink, "reportit_") {
		t.Error("positive control: /metrics holds no reportit_ series")
	}

	// Nothing of the reporters anywhere; nothing they typed in the logs or
	// metrics; nothing computed from an installation alone in the store or
	// the logs.
	all := append(append(append(append(append([]privSink{}, files...), stores...), logs...), metricsSink...), hotline...)
	all = append(all, redisSinks...)
	found := privFind(all, run.markers)
	found = append(found, privFind(append(append([]privSink{}, logs...), metricsSink...), run.content)...)
	found = append(found, privFind(append(append(append([]privSink{}, files...), stores...), logs...), derived)...)
	for _, f := range found {
		t.Error(f)
	}
	t.Logf("searched %d markers (%d forms of reporter data, %d of what they typed, %d installation-derived values) in %d sinks: %s",
		len(run.markers)+len(run.content)+len(derived), len(run.markers), len(run.content), len(derived), len(all), privSinkNames(all))
}

// privRowsSink is one table's rows as lines of tab-separated "column=value".
func privRowsSink(name string, cols []string, rows [][]string) privSink {
	var b strings.Builder
	for _, r := range rows {
		for i, v := range r {
			fmt.Fprintf(&b, "%s=%s\t", cols[i], v)
		}
		b.WriteString("\n")
	}
	return privSink{name: name, data: []byte(b.String())}
}

// privTable is one table as the audit reads it.
type privTable struct {
	name string
	cols []string
	rows [][]string
}

// privSQLiteRows reads every table of the database file.
func privSQLiteRows(t *testing.T, path string) []privSink {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names, err := privQueryStrings(db, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []privTable
	for _, n := range names {
		tb, err := privReadTable(db, n, `SELECT * FROM "`+n+`"`)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	return privTableSinks(t, "SQLite", tables)
}

func privQueryStrings(db *sql.DB, q string) ([]string, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func privReadTable(db *sql.DB, name, q string) (privTable, error) {
	rows, err := db.Query(q)
	if err != nil {
		return privTable{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return privTable{}, err
	}
	tb := privTable{name: name, cols: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return privTable{}, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
			case []byte:
				row[i] = string(v)
			default:
				row[i] = fmt.Sprint(v)
			}
		}
		tb.rows = append(tb.rows, row)
	}
	return tb, rows.Err()
}

// privTableSinks checks every column against privStoredColumns and returns the
// tables as sinks (named "<engine> table <name>").
func privTableSinks(t *testing.T, engine string, tables []privTable) []privSink {
	t.Helper()
	var sinks []privSink
	var cols []string
	for _, tb := range tables {
		for _, c := range tb.cols {
			cols = append(cols, tb.name+"."+c)
			if _, ok := privStoredColumns[tb.name+"."+c]; !ok {
				t.Errorf("%s column %s.%s is not in privStoredColumns (privacy_e2e_test.go): decide whether it can identify a reporter "+
					"or link a report to an installation, and write down why not", engine, tb.name, c)
			}
		}
		sinks = append(sinks, privRowsSink(fmt.Sprintf("%s table %s (%d rows)", engine, tb.name, len(tb.rows)), tb.cols, tb.rows))
	}
	sort.Strings(cols)
	t.Logf("%s columns, all classified: %s", engine, strings.Join(cols, " "))
	return sinks
}

// privPostgresRows reads every table of the public schema.
func privPostgresRows(t *testing.T, dbURL string) []privSink {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var tables []privTable
	for _, n := range names {
		rows, err := conn.Query(ctx, `SELECT * FROM "`+n+`"`)
		if err != nil {
			t.Fatal(err)
		}
		tb := privTable{name: n}
		for _, f := range rows.FieldDescriptions() {
			tb.cols = append(tb.cols, f.Name)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			row := make([]string, len(vals))
			for i, v := range vals {
				switch v := v.(type) {
				case nil:
				case []byte:
					row[i] = string(v)
				case time.Time:
					row[i] = v.UTC().Format(time.RFC3339Nano)
				default:
					row[i] = fmt.Sprint(v)
				}
			}
			tb.rows = append(tb.rows, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	return privTableSinks(t, "PostgreSQL", tables)
}

// privPGDump is the whole database as pg_dump writes it (schema, data,
// sequences), when pg_dump is installed.
func privPGDump(t *testing.T, dbURL string) []privSink {
	t.Helper()
	path, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Logf("pg_dump not installed: the PostgreSQL audit reads the tables only")
		return nil
	}
	out, err := exec.Command(path, "--no-owner", "--no-privileges", "-d", dbURL).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Logf("pg_dump failed (%v: %s): the PostgreSQL audit reads the tables only", err, ee.Stderr)
			return nil
		}
		t.Fatal(err)
	}
	return []privSink{{name: fmt.Sprintf("pg_dump (%d bytes)", len(out)), data: out}}
}

// redisKeys are the keys this run's server must have made in Redis:
// rate-limit keys under its secret for each client address (tokens),
// each installation that reported (reports), and the global cap.
func (run *privacyRun) redisKeys(t *testing.T, secret []byte) map[string]string {
	t.Helper()
	lim := ratelimit.New(memory.NewStore(), derive(secret, "ratelimit"))
	keys := map[string]string{}
	// Today's keys; the day's secret changes at 00:00 UTC, so yesterday's
	// too for a run across midnight.
	for _, at := range []time.Time{time.Now(), time.Now().Add(-10 * time.Minute)} {
		for _, a := range []netip.Addr{privClient4, privClient6, privDirect} {
			keys[redisPrefix+":"+lim.Key(at, "tokens", clientip.Key(a))] = "tokens for " + a.String()
		}
		for _, inst := range run.insts {
			keys[redisPrefix+":"+lim.Key(at, "reports", inst)] = "reports of installation " + inst
		}
		keys[redisPrefix+":"+lim.Key(at, "global", "global")] = "global"
	}
	return keys
}

// privRedisDump returns every key of the database with its DUMP and TTL, and
// checks that the keys this run made are among them (positive control).
func privRedisDump(t *testing.T, rdb *libredis.Client, expected map[string]string, insts []string) []privSink {
	t.Helper()
	ctx := context.Background()
	var b bytes.Buffer
	seen := map[string]bool{}
	n := 0
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		n++
		seen[k] = true
		dump, err := rdb.Dump(ctx, k).Result()
		if err != nil && err != libredis.Nil {
			t.Fatal(err)
		}
		ttl, _ := rdb.PTTL(ctx, k).Result()
		fmt.Fprintf(&b, "key %s ttl %v dump %q\n", k, ttl, dump)
		b.WriteString(dump)
		b.WriteString("\n")
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for k, what := range expected {
		if seen[k] {
			mine[what] = true
		}
	}
	// (Not the global cap's key: its window is a second, so it is gone
	// by now.)
	want := []string{"tokens for " + privClient4.String(), "tokens for " + privClient6.String(), "tokens for " + privDirect.String()}
	for _, inst := range insts {
		want = append(want, "reports of installation "+inst)
	}
	for _, what := range want {
		if !mine[what] {
			t.Errorf("positive control: no Redis key for %s: the Redis search does not look where the server writes", what)
		}
	}
	t.Logf("Redis: %d keys scanned; this run's keys found: %d", n, len(mine))
	return []privSink{{name: fmt.Sprintf("Redis (%d keys, DUMP values)", n), data: b.Bytes(), binary: true}}
}

// checkIdempotencyLink shows what it takes to link a report to its
// installation through the one column computed from the installation:
// every idempotency record of an accepted report has the key
// intakeMAC(secret, "idempotency", installation, Idempotency-Key), and no
// record's key is computable from an installation alone. If the
// derivation changes, this fails and the linkability must be looked at
// again.
func (run *privacyRun) checkIdempotencyLink(t *testing.T, secret []byte, tables []privSink) {
	t.Helper()
	var idem []byte
	for _, s := range tables {
		if strings.Contains(s.name, "table idempotency ") {
			idem = s.data
		}
	}
	if idem == nil {
		t.Fatal("no idempotency table read")
	}
	records := map[string]string{} // key → report_id
	for _, line := range strings.Split(string(idem), "\n") {
		f := map[string]string{}
		for _, kv := range strings.Split(line, "\t") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		if f["key"] != "" {
			records[f["key"]] = f["report_id"]
		}
	}
	for key, inst := range run.idem {
		want := intakeMAC(secret, "idempotency", inst, key)
		if id, ok := records[want]; !ok || id != run.reports[key] {
			t.Errorf("no idempotency record HMAC(secret, installation, %q) → %s (got %q): the derivation changed; audit the link again", key, run.reports[key], id)
		}
		for _, other := range run.insts {
			if other != inst {
				if _, ok := records[intakeMAC(secret, "idempotency", other, key)]; ok {
					t.Errorf("the record of %q is also reachable from another installation", key)
				}
			}
		}
	}
	t.Logf("%d idempotency records: each key is HMAC(secret, installation, Idempotency-Key); without the per-report key the client chose, "+
		"an installation id (even with the secret) computes none of them", len(records))
}
