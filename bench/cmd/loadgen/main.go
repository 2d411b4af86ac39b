// Command loadgen drives POST /v1/reports with the benchmark's request mix
// (package mix) using vegeta, in a process of its own so that its work is
// not mixed into the server's. reportit-bench runs it once per scenario;
// it can be run by hand against any reportit too:
//
//	loadgen -target http://127.0.0.1:8080 -rate 2000 -duration 10s -out s.json
//	loadgen -target http://127.0.0.1:8080 -rate 0 -conns 128 -duration 10s -out s.json
//
// -rate N is an open loop: N requests/s whatever the answers take. -rate 0
// is a closed loop at saturation: -conns workers, each on its own
// connection, sending the next request as soon as the last is answered.
//
// It first obtains -tokens installation tokens, then warms up for -warmup,
// then measures. The JSON summary (package summary) goes to -out; with -ids,
// the id of every report acknowledged as new is appended to that file, so
// that the driver can check each of them is in the database afterwards.
// It prints "phase measure" and "phase done" on stdout around the measured
// window, so that the driver samples the server's CPU and memory, and
// profiles it, over that window only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sync/errgroup"

	"github.com/reportit/reportit/bench/internal/mix"
	"github.com/reportit/reportit/bench/internal/procfs"
	"github.com/reportit/reportit/bench/internal/summary"
)

// The lines on stdout that mark the measured window for the driver.
const (
	phaseMeasure = "phase measure"
	phaseDone    = "phase done"
)

type config struct {
	target, name, scenario string
	rate                   int
	conns                  int
	duration, warmup       time.Duration
	warmupRate             int
	tokens                 int
	seed                   uint64
	ratios                 mix.Ratios
	timeout                time.Duration
	out, ids               string
	strict                 bool
}

func main() {
	var c config
	flag.StringVar(&c.target, "target", "", "base URL of the server, e.g. http://127.0.0.1:8080")
	flag.StringVar(&c.name, "name", "reportit", `what is measured: "reportit" (answers are checked against each request's kind) or "baseline"`)
	flag.StringVar(&c.scenario, "scenario", "", "scenario name for the summary (default from -rate/-conns)")
	flag.IntVar(&c.rate, "rate", 2000, "requests per second (open loop); 0 for saturation (closed loop with -conns workers)")
	flag.IntVar(&c.conns, "conns", 64, "connections (and workers) at saturation")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured duration")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "warm-up before measuring (not in the figures)")
	flag.IntVar(&c.warmupRate, "warmup-rate", 500, "requests per second during warm-up")
	flag.IntVar(&c.tokens, "tokens", 200, "installations to obtain tokens for and spread reports over")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the request mix")
	flag.Float64Var(&c.ratios.Duplicate, "dup", mix.DefaultRatios.Duplicate, "share of duplicates of recent URLs (new Idempotency-Key)")
	flag.Float64Var(&c.ratios.Retry, "retry", mix.DefaultRatios.Retry, "share of idempotent retries (same key and body)")
	flag.Float64Var(&c.ratios.Invalid, "invalid", mix.DefaultRatios.Invalid, "share of invalid requests (bad URL scheme, unknown field)")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.StringVar(&c.out, "out", "", "file for the JSON summary (required)")
	flag.StringVar(&c.ids, "ids", "", "file to append the ids of reports acknowledged as new to")
	flag.Parse()
	c.strict = c.name == "reportit"
	if c.scenario == "" {
		c.scenario = fmt.Sprintf("rate-%d", c.rate)
		if c.rate == 0 {
			c.scenario = fmt.Sprintf("sat-%d", c.conns)
		}
	}
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	if c.target == "" || c.out == "" {
		return errors.New("-target and -out are required")
	}
	if c.rate < 0 || (c.rate == 0 && c.conns <= 0) {
		return errors.New("-rate must be > 0, or 0 with -conns > 0")
	}
	tokens, err := obtainTokens(ctx, c.target, c.tokens)
	if err != nil {
		return err
	}
	gen, err := mix.New(c.seed, nonce(), tokens, c.ratios)
	if err != nil {
		return err
	}
	var idw *bufio.Writer
	if c.ids != "" {
		f, err := os.OpenFile(c.ids, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		idw = bufio.NewWriter(f)
		defer idw.Flush()
	}
	s := &summary.Summary{
		Target: c.name, Scenario: c.scenario, Offered: float64(c.rate),
		Measured: summary.NewTally(), Warmup: summary.NewTally(),
	}
	if c.rate == 0 {
		s.Conns = c.conns
	}
	tr := &targeter{gen: gen, url: strings.TrimSuffix(c.target, "/") + "/v1/reports#"}
	rec := recorder{strict: c.strict, ids: idw}

	if c.warmup > 0 && c.warmupRate > 0 {
		tr.tally = &s.Warmup
		atk := newAttacker(c, false)
		for res := range atk.Attack(tr.next, vegeta.Rate{Freq: c.warmupRate, Per: time.Second}, c.warmup, "warmup") {
			rec.record(&s.Warmup, res)
		}
	}

	// The driver samples the server's CPU and memory, and profiles it,
	// between these two lines.
	fmt.Println(phaseMeasure)
	cpu0, _ := procfs.ReadCPU(os.Getpid())
	tr.tally = &s.Measured
	atk := newAttacker(c, c.rate == 0)
	var first, last time.Time
	lat := make([]time.Duration, 0, c.rate*int(c.duration/time.Second+1))
	var acc []time.Duration
	for res := range atk.Attack(tr.next, vegeta.Rate{Freq: c.rate, Per: time.Second}, c.duration, s.Scenario) {
		rec.record(&s.Measured, res)
		lat = append(lat, res.Latency)
		if res.Code == http.StatusAccepted {
			acc = append(acc, res.Latency)
		}
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.End(); end.After(last) {
			last = end
		}
	}
	cpu1, _ := procfs.ReadCPU(os.Getpid())
	fmt.Println(phaseDone)
	s.GeneratorCPU = cpu1 - cpu0
	s.Elapsed = last.Sub(first)
	s.Latency = summary.Quantiles(lat)
	s.AcceptedLatency = summary.Quantiles(acc)
	if rec.err != nil {
		return rec.err
	}
	if err := summary.Write(c.out, s); err != nil {
		return err
	}
	m := &s.Measured
	fmt.Fprintf(os.Stderr, "loadgen %s %s: %d requests in %v (%.0f/s), 2xx %d, 4xx %d, 5xx %d, errors %d, p99 %v\n",
		c.name, s.Scenario, m.Requests, s.Elapsed.Round(time.Millisecond), s.Rate(),
		m.Class(200, 300), m.Class(400, 500), m.Class(500, 600), m.TransportErrors(), s.Latency.P99)
	return nil
}

func newAttacker(c config, closedLoop bool) *vegeta.Attacker {
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(c.timeout),
		vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow),
		// The target is on loopback; no proxy from the environment.
		vegeta.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil }),
	}
	if closedLoop {
		n := uint64(c.conns)
		opts = append(opts, vegeta.Workers(n), vegeta.MaxWorkers(n), vegeta.Connections(c.conns), vegeta.MaxConnections(c.conns))
	}
	return vegeta.NewAttacker(opts...)
}

// targeter hands vegeta the generator's requests. vegeta calls it from
// many workers at once.
type targeter struct {
	mu    sync.Mutex
	gen   *mix.Generator
	url   string
	tally *summary.Tally // where requests sent are counted by kind
}

func (t *targeter) next(tgt *vegeta.Target) error {
	t.mu.Lock()
	r := t.gen.Next()
	t.tally.ByKind[r.Kind.String()]++
	t.mu.Unlock()
	tgt.Method = http.MethodPost
	// The kind rides in the fragment, which an HTTP client never sends,
	// so that each result can be checked against what its request was.
	tgt.URL = t.url + string(r.Kind.Code())
	tgt.Body = r.Body
	tgt.Header = http.Header{
		"Authorization":   {"Bearer " + r.Token},
		"Content-Type":    {"application/json"},
		"Idempotency-Key": {r.Key},
	}
	return nil
}

// recorder counts results; it runs on the one goroutine reading them.
type recorder struct {
	strict bool
	ids    *bufio.Writer
	err    error
}

func (r *recorder) record(t *summary.Tally, res *vegeta.Result) {
	t.Requests++
	t.ByStatus[int(res.Code)]++
	if res.Code == 0 {
		t.Errors[shortError(res.Error)]++
	}
	kind, _ := mix.KindOf(res.URL[len(res.URL)-1])
	if res.Code == http.StatusAccepted {
		if res.Headers.Get("Idempotent-Replayed") == "true" {
			t.Replayed++
		} else {
			t.Accepted++
			if bytes.Contains(res.Body, []byte(`"duplicate":true`)) {
				t.Sightings++
			}
			if r.ids != nil && r.err == nil {
				id, err := acceptedID(res.Body)
				if err == nil {
					_, err = fmt.Fprintln(r.ids, id)
				}
				r.err = err
			}
		}
	}
	if r.strict && !expected(kind, int(res.Code)) {
		t.Unexpected[fmt.Sprintf("%s %d", kind, res.Code)]++
	}
}

// expected says whether status is the right answer to a request of kind k
// from a reportit configured for the benchmark (limits far above the load).
func expected(k mix.Kind, status int) bool {
	if k.Valid() {
		// A retry may reach the server before its original, which is
		// then the replay; either way both are 202.
		return status == http.StatusAccepted
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// acceptedID reads "id" from a 202 body.
func acceptedID(body []byte) (string, error) {
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.ID == "" {
		return "", fmt.Errorf("202 without an id: %.200s", body)
	}
	return v.ID, nil
}

// shortError trims a transport error to its gist (without addresses and
// ports that would make each one distinct).
func shortError(e string) string {
	if i := strings.LastIndex(e, ": "); i >= 0 {
		e = e[i+2:]
	}
	if len(e) > 80 {
		e = e[:80]
	}
	return e
}

// obtainTokens gets n installation tokens, a few requests at a time.
func obtainTokens(ctx context.Context, target string, n int) ([]string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	tokens := make([]string, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range tokens {
		g.Go(func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(target, "/")+"/v1/installations", nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("obtaining a token: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("obtaining a token: %s: %.300s", resp.Status, body)
			}
			var v struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(body, &v); err != nil || v.Token == "" {
				return fmt.Errorf("obtaining a token: no token in %.300s", body)
			}
			tokens[i] = v.Token
			return nil
		})
	}
	return tokens, g.Wait()
}

// nonce makes this run's URLs and keys its own.
func nonce() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
