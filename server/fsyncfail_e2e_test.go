//go:build linux

package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/faultfs"
)

// TestFsyncFailureAnswers503AndRecovers runs the server on a FUSE
// passthrough (internal/faultfs) whose fsync fails with EIO for a while,
// with deliveries to the intake simulator in flight. While fsync fails no
// report is acknowledged (every commit needs one), and the delivery outbox
// cannot claim or record anything: the process must stay up and lose no
// job. Once fsync works, reports are accepted again and delivered with no
// restart; jobs whose outcome could not be recorded keep their lease
// (2 minutes), so the test restarts the server to release them at once,
// and then every acknowledged report reaches the portal, and no other.
func TestFsyncFailureAnswers503AndRecovers(t *testing.T) {
	fsys, _ := faultfs.ForTest(t)
	data := filepath.Join(fsys.Mountpoint(), "data")
	s := startSim(t, "-latency", "1s")
	env := append(s.env(), noGlobalLimit)
	p := start(t, data, env...)
	tok := p.token(t)
	ft := &faultTally{t: t}

	// Before: 30 reports, whose jobs are claimed at once and whose
	// deliveries are in flight (1 s at the portal) when fsync starts
	// failing.
	hammerReports(p, tok, "before", ft, 4, time.Minute, func() bool { ok, _ := ft.counts(); return ok >= 30 })
	if ok, bad := ft.counts(); bad != 0 {
		t.Fatalf("with fsync working: %d accepted, %d unavailable", ok, bad)
	}
	time.Sleep(300 * time.Millisecond)
	if n := s.stats(t).Attempts; n > 0 {
		t.Fatalf("%d deliveries already answered: none would be in flight", n)
	}

	fsys.FailFsync(syscall.EIO)
	failedAt := time.Now()
	okBefore, _ := ft.counts()
	took := hammerReports(p, tok, "failing", ft, 4, 2*time.Second, func() bool { _, bad := ft.counts(); return bad >= 400 })
	// Let the deliveries in flight end and fail to be recorded, with
	// fsync still failing.
	waitUntil(t, 20*time.Second, "the portal answered the deliveries in flight", func() bool { return s.stats(t).Attempts >= uint64(okBefore) })
	time.Sleep(500 * time.Millisecond)
	okFailing, svcFailing := ft.counts()
	if okFailing != okBefore {
		t.Fatalf("%d reports acknowledged while fsync failed", okFailing-okBefore)
	}
	if svcFailing == 0 {
		t.Fatal("no 503 while fsync failed")
	}
	stillRunning(t, p)
	readyFailing := readyzCode(t, p)
	if readyFailing != http.StatusOK && readyFailing != http.StatusServiceUnavailable {
		t.Errorf("/readyz while fsync fails: %d", readyFailing)
	}
	checkAllThere(t, p, ft.acknowledged(), "fsync failing")
	fsyncs := fsys.Stats()
	if fsyncs.Failed == 0 {
		t.Fatal("no fsync failed: the fault was not injected")
	}
	log := p.stderr.String()
	outboxErrors := strings.Count(log, `"msg":"recording delivery outcome"`) + strings.Count(log, `"msg":"claiming delivery jobs"`)
	if outboxErrors == 0 {
		t.Fatal("the outbox recorded its outcomes although fsync failed, or logged nothing")
	}
	t.Logf("fsync failing for %s: %d answers 503 in %s, 0 accepted; %d fsyncs failed; /readyz %d; outbox errors logged: %d",
		time.Since(failedAt).Round(time.Millisecond), svcFailing, took.Round(time.Millisecond), fsyncs.Failed, readyFailing, outboxErrors)

	// fsync works again: intake and delivery recover with no restart.
	fsys.FailFsync(0)
	recovered := untilAccepted(t, p, tok, "recovered", ft, time.Now(), 30*time.Second)
	n0, _ := ft.counts()
	hammerReports(p, tok, "after", ft, 4, time.Minute, func() bool { ok, _ := ft.counts(); return ok >= n0+20 })
	if !ft.lastAll(20, http.StatusAccepted) {
		t.Fatalf("after fsync works again, not every report is accepted: last answers %v", ft.last)
	}
	acks := ft.acknowledged()
	p.waitStatuses(t, acks[okBefore:], "delivered", 60*time.Second)
	stuck := 0
	for _, a := range acks[:okBefore] {
		if p.view(t, a).Status != "delivered" {
			stuck++
		}
	}
	// Their jobs are not lost: still pending in the queue, under the lease
	// of the attempt whose outcome could not be recorded.
	if depth := p.metrics(t).sum("reportit_delivery_queue_depth"); depth != float64(stuck) {
		t.Errorf("queue depth %v after recovery, but %d acknowledged reports are not delivered", depth, stuck)
	}
	stillRunning(t, p)

	// Restart: leases of outcomes that could not be recorded end, and
	// every acknowledged report is delivered; none that got a 503 is.
	if err := p.kill(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v; log: %s", err, tail(p.stderr.String(), 2000))
	}
	p2 := start(t, data, env...)
	p2.waitStatuses(t, acks, "delivered", 60*time.Second)
	checkReceived(t, s, acks)
	if err := p2.kill(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	checkDatabase(t, data, acks)

	ok, unavailable := ft.counts()
	st := s.stats(t)
	t.Logf("%d answers: %d accepted (202), %d unavailable (503), none else; slowest answer %s; recovery after fsync works again %s; "+
		"%d of the %d reports delivered before the fault were still unrecorded (leased) after recovery, %s; "+
		"portal: %d reports, %d resends; integrity ok",
		ok+unavailable, ok, unavailable, ft.maxTook.Round(time.Millisecond), recovered.Round(time.Millisecond),
		stuck, okBefore, grepLines(p2.stderr.String(), "released delivery leases"), st.Received, st.Duplicates)
}
