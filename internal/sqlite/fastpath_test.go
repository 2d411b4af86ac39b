package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// TestFastPathAnswersAsCareful writes the same batches once through the
// fast path and once through the careful one (a statement after another,
// with savepoints), on two stores, and compares every answer and every
// stored row. The batches hold what the fast path works out in Go: a key
// used twice in the batch (a replay) and once more with another body (a
// conflict), keys already stored, URLs reported several times in the batch
// and before it, out of ReceivedAt order, at the window's edges, to
// another hotline, with dedup off; and more than 64 reports, so that the
// multi-row statements are written in chunks.
func TestFastPathAnswersAsCareful(t *testing.T) {
	fast, careful := openTest(t), openTest(t)
	const w = report.DedupWindow
	base := newReport(t)
	req := func(r report.NewReport, window time.Duration) *acceptReq {
		return &acceptReq{ctx: context.Background(), r: r, window: window, done: make(chan struct{})}
	}
	sameURL := func(p report.NewReport, at time.Time) report.NewReport {
		r := newReport(t)
		r.URL, r.URLKey, r.HotlineID, r.ReceivedAt = p.URL, p.URLKey, p.HotlineID, at
		return r
	}
	retry := func(r report.NewReport) report.NewReport {
		again := r
		again.ID, again.Reference = r.ID+"-again", r.Reference+"-AGAIN"
		return again
	}

	// First batch: stored before the second, whose lookups then find it.
	stored := sameURL(base, t0)
	storedOther := newReport(t)
	storedLater := newReport(t)
	storedLater.ReceivedAt = t0.Add(2 * time.Hour)
	first := []*acceptReq{req(stored, w), req(storedOther, w), req(storedLater, w)}

	late := sameURL(base, t0.Add(2*time.Hour))
	early := sameURL(base, t0.Add(time.Hour)) // queued after late, received before it
	conflict := retry(late)
	conflict.Fingerprint = "fp-other"
	newURL := newReport(t)
	newURLSighting := sameURL(newURL, newURL.ReceivedAt.Add(-time.Minute))
	otherHotline := sameURL(base, t0.Add(time.Minute))
	otherHotline.HotlineID = "hotline-b"
	edge := sameURL(newURL, newURL.ReceivedAt.Add(w))
	beyond := sameURL(newURL, newURL.ReceivedAt.Add(w+time.Microsecond))
	noDedup := sameURL(base, t0.Add(time.Second))
	// Its window misses storedLater; the next one's holds both, and this
	// one is the earlier.
	batchEarlier := sameURL(storedLater, t0.Add(-23*time.Hour))
	between := sameURL(storedLater, t0.Add(time.Hour))
	// The batch's primary is after this one's window.
	batchLate := newReport(t)
	batchLate.ReceivedAt = t0.Add(w + time.Hour)
	beforeBatchLate := sameURL(batchLate, t0)
	second := []*acceptReq{
		req(late, w), req(early, w), req(retry(late), w), req(conflict, w),
		req(retry(stored), w), req(retry(storedOther), w),
		req(newURL, w), req(newURLSighting, w), req(otherHotline, w),
		req(edge, w), req(beyond, w), req(noDedup, 0),
		req(batchEarlier, w), req(between, w), req(batchLate, w), req(beforeBatchLate, w),
	}
	for range 70 {
		second = append(second, req(newReport(t), w))
	}

	run := func(s *Store, b []*acceptReq, careful bool) []*acceptReq {
		bt := &batch{}
		for _, r := range b {
			bt.accepts = append(bt.accepts, req(r.r, r.window))
		}
		if _, err := s.writeBatch(bt, careful); err != nil {
			t.Fatal(err)
		}
		return bt.accepts
	}
	for _, b := range [][]*acceptReq{first, second} {
		want, got := run(careful, b, true), run(fast, b, false)
		for i := range b {
			w, g := want[i], got[i]
			if !equalAccepted(g.res, w.res) || g.stored != w.stored || !errors.Is(g.err, w.err) && (g.err != nil || w.err != nil) {
				t.Errorf("request %d: fast path answered %+v, %v, stored %v; careful path %+v, %v, stored %v",
					i, g.res, g.err, g.stored, w.res, w.err, w.stored)
			}
			b[i].res, b[i].err = w.res, w.err
		}
	}
	// What the careful path answered, which the fast path matched.
	for i, r := range second {
		switch {
		case i == 3:
			if !errors.Is(r.err, report.ErrIdempotencyConflict) {
				t.Errorf("conflicting key in the batch: %v", r.err)
			}
		case r.err != nil:
			t.Errorf("request %d: %v", i, r.err)
		}
	}
	for _, c := range []struct {
		name, got, want string
	}{
		{"late", second[0].res.PrimaryID, stored.ID},
		{"early", second[1].res.PrimaryID, stored.ID},
		{"replay in the batch", second[2].res.ID, late.ID},
		{"replay of a stored report", second[4].res.ID, stored.ID},
		{"sighting in the batch", second[7].res.PrimaryID, newURL.ID},
		{"other hotline", second[8].res.PrimaryID, otherHotline.ID},
		{"window's edge", second[9].res.PrimaryID, newURL.ID},
		{"beyond the window", second[10].res.PrimaryID, beyond.ID},
		{"dedup off", second[11].res.PrimaryID, noDedup.ID},
		{"stored primary out of the window", second[12].res.PrimaryID, batchEarlier.ID},
		{"batch's primary earlier than the stored one", second[13].res.PrimaryID, batchEarlier.ID},
		{"batch's primary after the window", second[15].res.PrimaryID, beforeBatchLate.ID},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
	if !second[2].res.Replayed || !second[4].res.Replayed || second[0].res.Replayed {
		t.Errorf("replay flags: %v %v %v", second[2].res.Replayed, second[4].res.Replayed, second[0].res.Replayed)
	}
	// The rows, alike in both stores.
	for _, q := range []string{
		`SELECT id, reference, primary_id, url_key, hotline_id, received_at, sighting_count, first_seen_at, last_seen_at FROM reports ORDER BY id`,
		`SELECT report_id, hotline_id, state, enqueued_at, next_attempt_at FROM deliveries ORDER BY seq`,
		`SELECT key, fingerprint, report_id, reference, hotline_id, primary_id, received_at FROM idempotency ORDER BY key`,
	} {
		f, c := dump(t, fast.rdb, q), dump(t, careful.rdb, q)
		if !slices.Equal(f, c) {
			t.Errorf("%s:\nfast path %q\ncareful   %q", q, f, c)
		}
	}
	if st := fast.Stats(); st.RedoneBatches != 0 {
		t.Errorf("fast path redone: %+v", st)
	}
}

// dump returns the rows of query, each as one string.
func dump(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMultiRowQueries(t *testing.T) {
	q, err := valuesRows("INSERT INTO t (a, b)\nVALUES (?, ?);\n", 3)
	if want := "INSERT INTO t (a, b)\nVALUES (?, ?), (?, ?), (?, ?)"; err != nil || q != want {
		t.Errorf("valuesRows = %q, %v; want %q", q, err, want)
	}
	for _, bad := range []string{"INSERT INTO t (a) VALUES (?1)", "INSERT INTO t (a) VALUES (?, lower(?))", "INSERT INTO t (a) SELECT ?"} {
		if q, err := valuesRows(bad, 2); !errors.Is(err, errQueries) {
			t.Errorf("valuesRows(%q) = %q, %v; want errQueries", bad, q, err)
		}
	}
	q, err = inList("SELECT a FROM t WHERE k IN (?);", 3)
	if want := "SELECT a FROM t WHERE k IN (?, ?, ?);"; err != nil || q != want {
		t.Errorf("inList = %q, %v; want %q", q, err, want)
	}
	if _, err := inList("SELECT a FROM t WHERE k = ?", 2); !errors.Is(err, errQueries) {
		t.Errorf("inList without a list = %v, want errQueries", err)
	}
	if got := withoutComments("-- finds k IN (?) for you\nSELECT a\n  -- ?\nFROM t WHERE k IN (?);"); got != "SELECT a\nFROM t WHERE k IN (?);" {
		t.Errorf("withoutComments = %q", got)
	}
}

// TestMigration0003 migrates a database written by migrations 0001 and
// 0002, with reports, a sighting, delivery jobs in every state and
// idempotency records: the data and the constraints stay, and the
// constraints are checked without temporary B-trees.
func TestMigration0003(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "reports.db")
	q, err := loadQueries(queriesSQL)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := preparePath(path); err != nil {
		t.Fatal(err)
	}
	db, err := openWriter(path, newOptions(nil), q)
	if err != nil {
		t.Fatal(err)
	}
	if applied, err := migrate(ctx, db, q, ms[:2]); err != nil || len(applied) != 2 {
		t.Fatalf("migrate to version 2 = %v, %v", applied, err)
	}
	at := micros(t0)
	for _, stmt := range []string{
		fmt.Sprintf(`INSERT INTO reports (id, reference, primary_id, url, url_key, content_type, category, hotline_id, received_at, first_seen_at, last_seen_at, sighting_count)
			VALUES ('p1', 'RIT-P1', 'p1', 'https://a.test/', 'k1', 'page', 'csam', 'h', %d, %d, %d, 2),
			       ('s1', 'RIT-S1', 'p1', 'https://a.test/', 'k1', 'image', 'other', 'h', %d, %d, %d, 1),
			       ('p2', 'RIT-P2', 'p2', 'https://b.test/', 'k2', 'video', 'grooming', 'h', %d, %d, %d, 1)`,
			at, at, at+1, at+1, at+1, at+1, at+2, at+2, at+2),
		fmt.Sprintf(`UPDATE reports SET status = 'delivered', delivered_at = %d WHERE id = 'p2'`, at+3),
		fmt.Sprintf(`INSERT INTO deliveries (report_id, hotline_id, state, enqueued_at, next_attempt_at, delivered_at) VALUES
			('p1', 'h', 'pending', %d, %d, NULL), ('p2', 'h', 'delivered', %d, %d, %d)`, at, at, at+2, at+2, at+3),
		fmt.Sprintf(`INSERT INTO idempotency (key, fingerprint, report_id, reference, hotline_id, primary_id, received_at) VALUES
			('key-p1', 'fp-p1', 'p1', 'RIT-P1', 'h', 'p1', %d), ('key-s1', 'fp-s1', 's1', 'RIT-S1', 'h', 'p1', %d)`, at, at+1),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got := queryString(t, s.rdb, "SELECT max(version) FROM schema_migrations"); got != "3" {
		t.Fatalf("schema at version %s, want 3", got)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"reports", "deliveries"} {
		def := queryString(t, s.rdb, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = '"+name+"'")
		if strings.Contains(def, " IN ('page'") || strings.Contains(def, " IN ('csam'") ||
			strings.Contains(def, " IN ('accepted'") || strings.Contains(def, " IN ('pending'") {
			t.Errorf("%s still checks with IN lists:\n%s", name, def)
		}
	}
	// The data.
	if acc, err := s.Accept(ctx, report.NewReport{
		Report:         report.Report{ID: "again", Reference: "RIT-AGAIN", URL: "u", URLKey: "k9", ContentType: report.ContentPage, Category: report.CategoryCSAM, HotlineID: "h", ReceivedAt: t0},
		IdempotencyKey: "key-s1", Fingerprint: "fp-s1",
	}, report.DedupWindow); err != nil || !acc.Replayed || acc.ID != "s1" || acc.PrimaryID != "p1" || !acc.ReceivedAt.Equal(fromMicros(at+1)) {
		t.Errorf("replay of a record from before the migration = %+v, %v", acc, err)
	}
	if n, first, last, err := s.Sightings(ctx, "s1"); err != nil || n != 2 || !first.Equal(t0) || !last.Equal(fromMicros(at+1)) {
		t.Errorf("Sightings = %d, %v, %v, %v", n, first, last, err)
	}
	r := newReport(t)
	r.URLKey, r.HotlineID, r.ReceivedAt = "k2", "h", t0
	if acc := mustAccept(t, s, r); acc.PrimaryID != "p2" {
		t.Errorf("duplicate of a report from before the migration: PrimaryID %s, want p2", acc.PrimaryID)
	}
	if got := queryString(t, s.rdb, "SELECT group_concat(report_id || ':' || state, ' ') FROM (SELECT * FROM deliveries ORDER BY seq)"); !strings.HasPrefix(got, "p1:pending p2:delivered") {
		t.Errorf("deliveries = %s", got)
	}
	// The constraints, on the writer's connection and on a new one.
	other, err := openWriter(path, newOptions(nil), q)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, db := range []*sql.DB{s.wdb, other} {
		for _, bad := range []string{
			`INSERT INTO reports (id, reference, primary_id, url, url_key, content_type, category, hotline_id, received_at, first_seen_at, last_seen_at) VALUES ('x', 'RIT-X', 'x', 'u', 'k', 'text', 'csam', 'h', 0, 0, 0)`,
			`INSERT INTO reports (id, reference, primary_id, url, url_key, content_type, category, hotline_id, received_at, first_seen_at, last_seen_at) VALUES ('x', 'RIT-X', 'x', 'u', 'k', 'page', 'spam', 'h', 0, 0, 0)`,
			`UPDATE reports SET status = 'lost' WHERE id = 'p1'`,
			`UPDATE deliveries SET state = 'lost' WHERE report_id = 'p1'`,
		} {
			if _, err := db.ExecContext(ctx, bad); !isConstraint(err) {
				t.Errorf("%s: %v, want a constraint violation", bad, err)
			}
		}
		for _, stmt := range []string{q.insertReport, q.insertDelivery, q.completeDone} {
			var plan []string
			rows, err := db.QueryContext(ctx, "EXPLAIN "+stmt, make([]any, 17)...) // enough for any of them
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var addr, p1, p2, p3, p5 int
				var opcode, p4, comment sql.NullString
				if err := rows.Scan(&addr, &opcode, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, opcode.String)
			}
			rows.Close()
			if slices.Contains(plan, "OpenEphemeral") {
				t.Errorf("%s builds a temporary B-tree:\n%s", stmt, strings.Join(plan, " "))
			}
		}
	}
}

func equalAccepted(a, b report.Accepted) bool {
	at := a.ReceivedAt
	a.ReceivedAt = b.ReceivedAt
	return a == b && at.Equal(b.ReceivedAt)
}
