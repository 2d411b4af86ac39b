package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// Pull is what RunPull needs: a store with its delivery queue and the
// store side of the pull API.
type Pull interface {
	report.Store
	report.Queue
	report.Pull
}

// RunPull runs the pull contract against stores made by open, which must
// return a new, empty store on each call.
func RunPull(t *testing.T, open func(t *testing.T) Pull) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Pull)
	}{
		{"Isolation", testPullIsolation},
		{"AcceptanceOrder", testPullAcceptanceOrder},
		{"PagingWhileAccepting", testPullPagingWhileAccepting},
		{"PagingWhileAcceptingConcurrently", testPullPagingConcurrent},
		{"SightingsAndAck", testPullSightingsAndAck},
		{"AckWhileClaimed", testPullAckWhileClaimed},
		{"AckAfterPush", testPullAckAfterPush},
		{"AckAwaitingPullOrDead", testPullAckAwaitingOrDead},
		{"InvalidCursorOrLimit", testPullInvalid},
		{"Clients", testPullClients},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func list(t testing.TB, p report.Pull, hotline, after string, limit int) ([]report.PulledReport, string) {
	t.Helper()
	rs, next, err := p.ListForHotline(context.Background(), hotline, after, limit)
	if err != nil {
		t.Fatalf("ListForHotline(%s, %q, %d): %v", hotline, after, limit, err)
	}
	if len(rs) > limit {
		t.Fatalf("ListForHotline(%s, %q, %d) gave %d", hotline, after, limit, len(rs))
	}
	return rs, next
}

// listAll pages through everything after cursor, limit at a time, and
// returns the ids in order and the last cursor.
func listAll(t testing.TB, p report.Pull, hotline, cursor string, limit int) ([]string, string) {
	t.Helper()
	var ids []string
	for {
		rs, next := list(t, p, hotline, cursor, limit)
		if len(rs) == 0 {
			if next != cursor {
				t.Errorf("empty page moved the cursor from %q to %q", cursor, next)
			}
			return ids, cursor
		}
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		cursor = next
	}
}

func ack(t testing.TB, p report.Pull, hotline, id, ref string, at time.Time) {
	t.Helper()
	if err := p.Ack(context.Background(), hotline, id, ref, at); err != nil {
		t.Fatalf("Ack(%s, %s): %v", hotline, id, err)
	}
}

// descending returns n reports to hotline whose ids sort in the reverse of
// the order they are returned in, so that a listing in id order (ids are
// time-ordered in production, but commit in any order) shows up.
func descending(t testing.TB, hotline string, n int) []report.NewReport {
	rs := make([]report.NewReport, n)
	for i := range rs {
		r := newReport(t)
		r.ID = fmt.Sprintf("id-%04d-%s", 9999-i, r.ID)
		r.HotlineID = hotline
		r.ReceivedAt = t0.Add(time.Duration(i) * time.Millisecond)
		rs[i] = r
	}
	return rs
}

func ids(rs []report.NewReport) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testPullIsolation(t *testing.T, s Pull) {
	a1, a2, b1 := newReport(t), newReport(t), newReport(t)
	b1.HotlineID = "hotline-b"
	b1.URL, b1.URLKey = a1.URL, a1.URLKey // the same URL to another hotline
	for _, r := range []report.NewReport{a1, b1, a2} {
		accept(t, s, r, window)
	}
	if got, _ := listAll(t, s, "hotline-a", "", 10); !slices.Equal(got, []string{a1.ID, a2.ID}) {
		t.Errorf("hotline-a lists %v, want %v", got, []string{a1.ID, a2.ID})
	}
	if got, _ := listAll(t, s, "hotline-b", "", 10); !slices.Equal(got, []string{b1.ID}) {
		t.Errorf("hotline-b lists %v, want %v", got, []string{b1.ID})
	}
	if got, _ := listAll(t, s, "hotline-c", "", 10); len(got) != 0 {
		t.Errorf("hotline-c lists %v, want nothing", got)
	}
	// A cursor of one hotline shows another nothing either.
	_, curB := list(t, s, "hotline-b", "", 10)
	afterB, _ := list(t, s, "hotline-a", curB, 10)
	for _, r := range afterB {
		if r.HotlineID != "hotline-a" {
			t.Errorf("hotline-a's listing after hotline-b's cursor holds %s of %s", r.ID, r.HotlineID)
		}
	}

	if err := s.Ack(context.Background(), "hotline-b", a1.ID, "B-1", t0); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("hotline-b acking hotline-a's report = %v, want ErrNotFound", err)
	}
	if err := s.Ack(context.Background(), "hotline-a", b1.ID, "A-1", t0); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("hotline-a acking hotline-b's report = %v, want ErrNotFound", err)
	}
	wantStatus(t, s, a1.Reference, report.StatusAccepted, time.Time{})
	wantStatus(t, s, b1.Reference, report.StatusAccepted, time.Time{})
	rs, _ := list(t, s, "hotline-a", "", 10)
	if !rs[0].Acked.IsZero() || rs[0].Reference != "" {
		t.Errorf("hotline-a's report shows an ack: %+v", rs[0])
	}
}

// Reports are listed in the order they were accepted, whatever their ids.
func testPullAcceptanceOrder(t *testing.T, s Pull) {
	rs := descending(t, "hotline-a", 7)
	for _, r := range rs {
		accept(t, s, r, window)
	}
	for _, limit := range []int{1, 2, 3, 7, 100} {
		if got, _ := listAll(t, s, "hotline-a", "", limit); !slices.Equal(got, ids(rs)) {
			t.Errorf("limit %d: listed %v, want acceptance order %v", limit, got, ids(rs))
		}
	}
}

// New reports arriving between pages are neither skipped nor repeated.
func testPullPagingWhileAccepting(t *testing.T, s Pull) {
	rs := descending(t, "hotline-a", 30)
	for _, r := range rs[:5] {
		accept(t, s, r, window)
	}
	var got []string
	cursor := ""
	next := 5
	for {
		page, c := list(t, s, "hotline-a", cursor, 3)
		for _, p := range page {
			got = append(got, p.ID)
		}
		cursor = c
		if next < len(rs) {
			for _, r := range rs[next:min(next+2, len(rs))] {
				accept(t, s, r, window)
			}
			next += 2
			continue
		}
		if len(page) == 0 {
			break
		}
	}
	if !slices.Equal(got, ids(rs)) {
		t.Errorf("listed %v, want every report once in acceptance order %v", got, ids(rs))
	}
}

// The same with reports accepted concurrently with the paging: every one
// is listed once by the time the listing catches up.
func testPullPagingConcurrent(t *testing.T, s Pull) {
	rs := descending(t, "hotline-a", 200)
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if _, err := s.Accept(context.Background(), r, window); err != nil {
				t.Errorf("Accept: %v", err)
			}
		})
	}
	accepted := make(chan struct{})
	go func() { wg.Wait(); close(accepted) }()
	var got []string
	cursor := ""
	for finished := false; !finished; {
		// Read before the pass: once every accept has returned, one more
		// pass lists whatever is left.
		select {
		case <-accepted:
			finished = true
		default:
		}
		page, c := listAll(t, s, "hotline-a", cursor, 7)
		got = append(got, page...)
		cursor = c
	}
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, r := range rs {
		if seen[r.ID] != 1 {
			t.Errorf("report %s listed %d times, want once", r.ID, seen[r.ID])
		}
	}
	if len(got) != len(rs) {
		t.Errorf("listed %d, want %d", len(got), len(rs))
	}
}

func testPullSightingsAndAck(t *testing.T, s Pull) {
	p := newReport(t)
	accept(t, s, p, window)
	sight := sameURL(t, p, t0.Add(time.Hour))
	accept(t, s, sight, window)

	rs, _ := list(t, s, "hotline-a", "", 10)
	if len(rs) != 1 {
		t.Fatalf("listed %d reports, want the primary alone", len(rs))
	}
	got := rs[0]
	if !equalReport(got.Report, p.Report) {
		t.Errorf("listed %+v, want %+v", got.Report, p.Report)
	}
	if want := (report.Sightings{Count: 2, First: t0, Last: t0.Add(time.Hour)}); !equalSightings(got.Sightings, want) {
		t.Errorf("sightings = %+v, want %+v", got.Sightings, want)
	}
	if !got.Acked.IsZero() || got.Reference != "" {
		t.Errorf("not yet acked, but Acked %v, Reference %q", got.Acked, got.Reference)
	}

	t1 := t0.Add(2 * time.Hour)
	ack(t, s, "hotline-a", p.ID, "HOT-7", t1)
	rs, _ = list(t, s, "hotline-a", "", 10)
	if !rs[0].Acked.Equal(t1) || rs[0].Reference != "HOT-7" || rs[0].Report.Reference != p.Reference {
		t.Errorf("after ack: Acked %v, Reference %q, our reference %q; want %v, HOT-7, %s",
			rs[0].Acked, rs[0].Reference, rs[0].Report.Reference, t1, p.Reference)
	}
	wantStatus(t, s, p.Reference, report.StatusDelivered, t1)
	wantStatus(t, s, sight.Reference, report.StatusDelivered, t1)
	wantNoJob(t, s, far)

	// Acking again changes nothing and succeeds.
	ack(t, s, "hotline-a", p.ID, "HOT-8", t1.Add(time.Hour))
	rs, _ = list(t, s, "hotline-a", "", 10)
	if !rs[0].Acked.Equal(t1) || rs[0].Reference != "HOT-7" {
		t.Errorf("after a second ack: Acked %v, Reference %q; want the first's", rs[0].Acked, rs[0].Reference)
	}
	wantStatus(t, s, p.Reference, report.StatusDelivered, t1)

	// A later sighting shows in the count.
	accept(t, s, sameURL(t, p, t0.Add(3*time.Hour)), window)
	rs, _ = list(t, s, "hotline-a", "", 10)
	if rs[0].Sightings.Count != 3 || !rs[0].Sightings.Last.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("sightings after another = %+v, want 3, last %v", rs[0].Sightings, t0.Add(3*time.Hour))
	}

	for _, id := range []string{sight.ID, "no-such-report", ""} {
		if err := s.Ack(context.Background(), "hotline-a", id, "X", t1); !errors.Is(err, report.ErrNotFound) {
			t.Errorf("Ack(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

// The hotline acks a report a push worker holds: the worker's later
// failure must not put it back in the queue.
func testPullAckWhileClaimed(t *testing.T, s Pull) {
	r := newReport(t)
	accept(t, s, r, window)
	j := claimOne(t, s, t0, r.ID)
	t1 := t0.Add(time.Second)
	ack(t, s, "hotline-a", r.ID, "", t1)
	complete(t, s, j, report.DeliveryResult{Kind: report.DeliveryRetry, At: t1, Attempted: true})
	wantNoJob(t, s, far)
	wantStatus(t, s, r.Reference, report.StatusDelivered, t1)
	wantStats(t, s, 0, 0, time.Time{})
}

// An ack of a report already pushed keeps the push's time and reference.
func testPullAckAfterPush(t *testing.T, s Pull) {
	r := newReport(t)
	accept(t, s, r, window)
	j := claimOne(t, s, t0, r.ID)
	t1, t2 := t0.Add(time.Second), t0.Add(time.Hour)
	complete(t, s, j, done(t1, "PUSH-1"))
	ack(t, s, "hotline-a", r.ID, "PULL-1", t2)
	rs, _ := list(t, s, "hotline-a", "", 10)
	if !rs[0].Acked.Equal(t2) || rs[0].Reference != "PUSH-1" {
		t.Errorf("Acked %v, Reference %q; want %v, PUSH-1", rs[0].Acked, rs[0].Reference, t2)
	}
	wantStatus(t, s, r.Reference, report.StatusDelivered, t1)
}

func testPullAckAwaitingOrDead(t *testing.T, s Pull) {
	pull, dead := newReport(t), newReport(t)
	accept(t, s, pull, window)
	accept(t, s, dead, window)
	for _, j := range claim(t, s, t0, 10) {
		r := report.DeliveryResult{Kind: report.DeliveryAwaitPull}
		if j.ReportID == dead.ID {
			r = report.DeliveryResult{Kind: report.DeliveryDead, At: t0, Reason: "refused", Attempted: true}
		}
		complete(t, s, j, r)
	}
	wantStats(t, s, 0, 1, time.Time{})
	t1 := t0.Add(time.Minute)
	ack(t, s, "hotline-a", pull.ID, "P-1", t1)
	ack(t, s, "hotline-a", dead.ID, "D-1", t1) // the hotline has it after all
	wantStatus(t, s, pull.Reference, report.StatusDelivered, t1)
	wantStatus(t, s, dead.Reference, report.StatusDelivered, t1)
	wantStats(t, s, 0, 0, time.Time{})
	if d, err := s.Dead(context.Background(), 10); err != nil || len(d) != 0 {
		t.Errorf("Dead after the ack = %+v, %v; want none", d, err)
	}
	wantNoJob(t, s, far)
}

func testPullInvalid(t *testing.T, s Pull) {
	accept(t, s, newReport(t), window)
	for _, c := range []string{"not a cursor!", "-1"} {
		_, _, err := s.ListForHotline(context.Background(), "hotline-a", c, 10)
		if report.ErrorCode(err) != report.CodeInvalid {
			t.Errorf("ListForHotline with cursor %q = %v, want a %s error", c, err, report.CodeInvalid)
		}
	}
	if _, _, err := s.ListForHotline(context.Background(), "hotline-a", "", 0); report.ErrorCode(err) != report.CodeInvalid {
		t.Errorf("ListForHotline with limit 0 = %v, want a %s error", err, report.CodeInvalid)
	}
}

func testPullClients(t *testing.T, s Pull) {
	ctx := context.Background()
	c1 := report.HotlineClient{ID: "client-1", HotlineID: "hotline-a", Name: "A's case system", SecretHash: "hash-1", CreatedAt: t0}
	c2 := report.HotlineClient{ID: "client-2", HotlineID: "hotline-b", Name: "B", SecretHash: "hash-2", CreatedAt: t0.Add(time.Minute)}
	for _, c := range []report.HotlineClient{c2, c1} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient(%s): %v", c.ID, err)
		}
	}
	client := func(id string) report.HotlineClient {
		t.Helper()
		c, err := s.Client(ctx, id)
		if err != nil {
			t.Fatalf("Client(%s): %v", id, err)
		}
		return c
	}
	if got := client(c1.ID); !equalClient(got, c1) {
		t.Errorf("Client = %+v, want %+v", got, c1)
	}
	if _, err := s.Client(ctx, "no-such-client"); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("Client(unknown) = %v, want ErrNotFound", err)
	}

	dup := c1
	dup.HotlineID, dup.SecretHash = "hotline-b", "hash-other"
	if err := s.CreateClient(ctx, dup); err == nil {
		t.Error("CreateClient with an id in use succeeded")
	}
	if got := client(c1.ID); !equalClient(got, c1) {
		t.Errorf("client after a duplicate create = %+v, want %+v", got, c1)
	}
	for _, bad := range []report.HotlineClient{
		{ID: "c", HotlineID: "hotline-a", CreatedAt: t0},         // no secret hash
		{ID: "c", SecretHash: "h", CreatedAt: t0},                // no hotline
		{HotlineID: "hotline-a", SecretHash: "h", CreatedAt: t0}, // no id
		{ID: "c", HotlineID: "hotline-a", SecretHash: "h"},       // no time
	} {
		if err := s.CreateClient(ctx, bad); err == nil {
			t.Errorf("CreateClient(%+v) succeeded", bad)
		}
	}

	t1 := t0.Add(time.Hour)
	if err := s.RevokeClient(ctx, c1.ID, t1); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeClient(ctx, c1.ID, t1.Add(time.Hour)); err != nil {
		t.Errorf("second RevokeClient: %v", err)
	}
	want := c1
	want.RevokedAt = t1
	if got := client(c1.ID); !equalClient(got, want) {
		t.Errorf("revoked client = %+v, want %+v", got, want)
	}
	if err := s.RevokeClient(ctx, "no-such-client", t1); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("RevokeClient(unknown) = %v, want ErrNotFound", err)
	}

	all, err := s.Clients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || !equalClient(all[0], want) || !equalClient(all[1], c2) {
		t.Errorf("Clients = %+v, want [%+v %+v]", all, want, c2)
	}
}

func equalClient(a, b report.HotlineClient) bool {
	return a.ID == b.ID && a.HotlineID == b.HotlineID && a.Name == b.Name && a.SecretHash == b.SecretHash &&
		a.CreatedAt.Equal(b.CreatedAt) && a.RevokedAt.Equal(b.RevokedAt)
}
