//go:build linux

package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/reportit/reportit/internal/faultfs"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// Issue 7: a disk that fills up, and one whose fsync fails
// (fsyncfail_e2e_test.go). The real binary runs on a small tmpfs; the
// tests prove that while nothing can be stored every answer is a 503
// problem (never a 500, a hang or a crash), that nothing is acknowledged
// that was not committed, and that the service takes reports again by
// itself once the disk works, with everything acknowledged before intact.

// faultLatency bounds how long one answer may take while the store fails:
// failing is immediate, so this only leaves room for a busy machine.
const faultLatency = 3 * time.Second

// noGlobalLimit lifts the global report cap (2,000/s by default): 503s
// come back at once, and the tests send them faster than that.
const noGlobalLimit = "REPORTIT_RATE_GLOBAL=1000000-S"

// faultAnswer is what one POST /v1/reports got.
type faultAnswer struct {
	code        int
	contentType string
	problem     string // the problem's type, for a problem answer
	retryAfter  string
	acc         accepted
	took        time.Duration
	err         error // no answer at all
	body        string
}

// postFaultReport sends one report with a fresh Idempotency-Key; URLs differ by
// tag and n, so that no two reports of a test are duplicates.
func postFaultReport(p *proc, tok, tag string, n int) faultAnswer {
	body := fmt.Sprintf(`{"url":"https://example.com/issue7/%s/%d","content_type":"page","category":"csam","country":"NL","comment":%q,"client":{"name":"e2e","version":"1"}}`,
		tag, n, strings.Repeat("words of the reporter ", 20))
	req, _ := http.NewRequest("POST", p.base+"/v1/reports", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("issue7-%s-%d-%d", tag, n, time.Now().UnixNano()))
	began := time.Now()
	r, err := client.Do(req)
	a := faultAnswer{took: time.Since(began), err: err}
	if err != nil {
		return a
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	a.took = time.Since(began)
	a.code, a.contentType, a.retryAfter, a.body = r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Retry-After"), string(b)
	switch r.StatusCode {
	case http.StatusAccepted:
		if json.Unmarshal(b, &a.acc) != nil || a.acc.ID == "" || a.acc.Reference == "" || a.acc.Receipt == "" {
			a.code = -1 // a 202 without what it promises: check fails it
		}
	default:
		var pr struct{ Type string }
		if json.Unmarshal(b, &pr) == nil {
			a.problem = pr.Type
		}
	}
	return a
}

// faultTally checks and counts answers; safe for concurrent use.
type faultTally struct {
	t       *testing.T
	mu      sync.Mutex
	acks    []accepted
	ok, svc int // 202s and 503s
	bad     int // answers seen after the test failed
	maxTook time.Duration
	last    []int // codes of the latest answers, newest last
}

// add checks one answer: a 202 with an id, reference and receipt, or a
// 503 problem+json of type unavailable with Retry-After, within
// faultLatency. Anything else fails the test.
func (ft *faultTally) add(a faultAnswer) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.maxTook = max(ft.maxTook, a.took)
	if ft.t.Failed() {
		ft.bad++
		if ft.bad > 10 {
			return // enough said; the test ends soon
		}
	}
	if a.took > faultLatency {
		ft.t.Errorf("an answer took %s (> %s): code %d, err %v", a.took, faultLatency, a.code, a.err)
	}
	switch {
	case a.err != nil:
		ft.t.Errorf("no answer: %v", a.err)
	case a.code == http.StatusAccepted:
		ft.ok++
		ft.acks = append(ft.acks, a.acc)
	case a.code == http.StatusServiceUnavailable:
		ft.svc++
		if !strings.HasPrefix(a.contentType, "application/problem+json") || a.problem != "urn:reportit:problem:unavailable" || a.retryAfter == "" {
			ft.t.Errorf("503 is not an unavailable problem with Retry-After: %q %q %q", a.contentType, a.retryAfter, a.body)
		}
	default:
		ft.t.Errorf("answer %d %q: want 202 or 503: %s", a.code, a.contentType, a.body)
	}
	ft.last = append(ft.last, a.code)
	if len(ft.last) > 64 {
		ft.last = ft.last[len(ft.last)-64:]
	}
}

// lastAll reports whether the latest n answers were all code.
func (ft *faultTally) lastAll(n, code int) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(ft.last) < n {
		return false
	}
	for _, c := range ft.last[len(ft.last)-n:] {
		if c != code {
			return false
		}
	}
	return true
}

func (ft *faultTally) counts() (ok, unavailable int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.ok, ft.svc
}

func (ft *faultTally) acknowledged() []accepted {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return append([]accepted(nil), ft.acks...)
}

// hammerReports sends reports from workers until done says so (checked after
// every answer) or timeout passes, and returns how long it ran.
func hammerReports(p *proc, tok, tag string, ft *faultTally, workers int, timeout time.Duration, done func() bool) time.Duration {
	began := time.Now()
	deadline := began.Add(timeout)
	var wg sync.WaitGroup
	var stop sync.Once
	quit := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				ft.add(postFaultReport(p, tok, tag, w*1_000_000+i))
				if done() || time.Now().After(deadline) {
					stop.Do(func() { close(quit) })
				}
			}
		}(w)
	}
	wg.Wait()
	return time.Since(began)
}

// untilAccepted sends one report at a time until one is acknowledged and
// returns how long that took from since.
func untilAccepted(t *testing.T, p *proc, tok, tag string, ft *faultTally, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	for i := 0; ; i++ {
		a := postFaultReport(p, tok, tag, i)
		ft.add(a)
		if a.code == http.StatusAccepted {
			return time.Since(since)
		}
		if time.Since(since) > timeout {
			t.Fatalf("no report accepted within %s after the fault ended: the service did not recover by itself; last answer %d %s; log: %s",
				timeout, a.code, a.body, tail(p.stderr.String(), 2000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fillDisk writes a ballast file that leaves about leave bytes free.
func fillDisk(t *testing.T, dir, name string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	n := faultfs.FreeBytes(t, dir) - leave
	if n <= 0 {
		t.Fatalf("only %d bytes free before the ballast", faultfs.FreeBytes(t, dir))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n > 0 {
		k, err := f.Write(buf[:min(int64(len(buf)), n)])
		n -= int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// readyzCode returns the status of GET /readyz.
func readyzCode(t *testing.T, p *proc) int {
	t.Helper()
	r, err := client.Get(p.base + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	r.Body.Close()
	return r.StatusCode
}

// stillRunning fails t if the server process has exited.
func stillRunning(t *testing.T, p *proc) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the server exited: %v; log: %s", err, tail(p.stderr.String(), 3000))
	default:
	}
	if strings.Contains(p.stderr.String(), "panic") {
		t.Fatalf("panic in the server log: %s", tail(p.stderr.String(), 3000))
	}
}

// checkAllThere fails t unless every report in acks is readable by its
// receipt.
func checkAllThere(t *testing.T, p *proc, acks []accepted, when string) {
	t.Helper()
	for _, a := range acks {
		if code := p.status(t, a); code != http.StatusOK {
			t.Fatalf("%s: report %s got a 202 but its status is %d", when, a.Reference, code)
		}
	}
}

// checkDatabase opens the stopped server's database read-only and checks
// PRAGMA integrity_check, and that it holds exactly the reports
// acknowledged (unknown outcomes aside): none that got a 503 was stored.
func checkDatabase(t *testing.T, dataDir string, acks []accepted) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "reportit.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res []string
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	rows.Close()
	if len(res) != 1 || res[0] != "ok" {
		t.Fatalf("integrity_check: %q", res)
	}
	var n, jobs int
	if err := db.QueryRow("SELECT count(*) FROM reports").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM deliveries").Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if n != len(acks) {
		t.Fatalf("the database holds %d reports, but %d were acknowledged: a report answered 503 was stored, or one acknowledged is missing", n, len(acks))
	}
	if jobs != n {
		t.Fatalf("%d delivery jobs for %d reports", jobs, n)
	}
}

func TestDiskFullAnswers503AndRecovers(t *testing.T) {
	mnt := faultfs.TmpfsForTest(t, "8m")
	data := filepath.Join(mnt, "data")
	p := start(t, data, noGlobalLimit)
	tok := p.token(t)
	ft := &faultTally{t: t}

	// Before: the disk has room.
	hammerReports(p, tok, "before", ft, 4, time.Minute, func() bool { ok, _ := ft.counts(); return ok >= 40 })
	if ok, bad := ft.counts(); bad != 0 || ok < 40 {
		t.Fatalf("with room on the disk: %d accepted, %d unavailable", ok, bad)
	}

	// 1. Fill the disk with a ballast, leaving a little room, and keep
	// reporting until only 503s come back.
	ballast := fillDisk(t, mnt, "ballast", 256<<10)
	okBefore, _ := ft.counts()
	took := hammerReports(p, tok, "full", ft, 4, 2*time.Minute, func() bool { return ft.lastAll(40, http.StatusServiceUnavailable) })
	if !ft.lastAll(40, http.StatusServiceUnavailable) {
		t.Fatalf("the disk did not fill within %s (%d bytes free; files %s)", took, faultfs.FreeBytes(t, mnt), lsR(mnt))
	}
	okFull, svcFull := ft.counts()
	stillRunning(t, p)
	// Reads need no space: the reports acknowledged so far answer, and
	// /readyz (which pings the read pool) says whether the store reads.
	checkAllThere(t, p, ft.acknowledged(), "disk full")
	readyFull := readyzCode(t, p)
	if readyFull != http.StatusOK && readyFull != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the disk full: %d", readyFull)
	}
	t.Logf("disk full after %d more reports in %s; %d answers 503; /readyz %d; %d bytes free",
		okFull-okBefore, took.Round(time.Millisecond), svcFull, readyFull, faultfs.FreeBytes(t, mnt))

	// 2. Space comes back (the ballast goes): reports are accepted again,
	// with no restart.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	recovery1 := untilAccepted(t, p, tok, "freed", ft, freed, 30*time.Second)
	n0, _ := ft.counts()
	hammerReports(p, tok, "after-free", ft, 4, time.Minute, func() bool { ok, _ := ft.counts(); return ok >= n0+40 })
	if !ft.lastAll(40, http.StatusAccepted) {
		t.Fatalf("after the ballast went, not every report is accepted: last answers %v; %d bytes free; files %s; log %s", ft.last, faultfs.FreeBytes(t, mnt), lsR(mnt), tail(p.stderr.String(), 1500))
	}
	if code := readyzCode(t, p); code != http.StatusOK {
		t.Errorf("/readyz after recovery: %d", code)
	}

	// 3. Full again, this time the file system grows (remount with a
	// larger size) instead of a file going away.
	fillDisk(t, mnt, "ballast2", 128<<10)
	took = hammerReports(p, tok, "full2", ft, 4, 2*time.Minute, func() bool { return ft.lastAll(40, http.StatusServiceUnavailable) })
	if !ft.lastAll(40, http.StatusServiceUnavailable) {
		t.Fatalf("the disk did not fill again within %s", took)
	}
	stillRunning(t, p)
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT|syscall.MS_NOSUID|syscall.MS_NODEV, "size=32m"); err != nil {
		t.Fatalf("remount larger: %v", err)
	}
	grown := time.Now()
	recovery2 := untilAccepted(t, p, tok, "grown", ft, grown, 30*time.Second)
	n1, _ := ft.counts()
	hammerReports(p, tok, "after-grow", ft, 4, time.Minute, func() bool { ok, _ := ft.counts(); return ok >= n1+40 })
	if !ft.lastAll(40, http.StatusAccepted) {
		t.Fatalf("after the remount, not every report is accepted: last answers %v; %d bytes free; files %s; log %s", ft.last, faultfs.FreeBytes(t, mnt), lsR(mnt), tail(p.stderr.String(), 1500))
	}
	stillRunning(t, p)
	acks := ft.acknowledged()
	checkAllThere(t, p, acks, "after recovery")

	// 4. Stop, start again on the same files: everything acknowledged is
	// there, and the database is sound.
	if err := p.kill(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v; log: %s", err, tail(p.stderr.String(), 2000))
	}
	p2 := start(t, data, noGlobalLimit)
	checkAllThere(t, p2, acks, "after restart")
	if err := p2.kill(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	checkDatabase(t, data, acks)

	ok, unavailable := ft.counts()
	t.Logf("%d answers: %d accepted (202), %d unavailable (503), none else; slowest answer %s; "+
		"recovery after freeing space %s, after growing the file system %s; all %d acknowledged reports present after restart, integrity ok",
		ok+unavailable, ok, unavailable, ft.maxTook.Round(time.Millisecond),
		recovery1.Round(time.Millisecond), recovery2.Round(time.Millisecond), len(acks))
	if n := strings.Count(p.stderr.String(), `"msg":"store unavailable"`); n == 0 {
		t.Errorf("no store-unavailable error logged while the disk was full")
	}
}

// lsR lists the files under dir with their sizes, for failure messages.
func lsR(dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil {
			fmt.Fprintf(&b, "%s %d; ", path, info.Size())
		}
		return nil
	})
	return b.String()
}
