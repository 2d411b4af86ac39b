package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/reportit/reportit/bench/internal/mix"
	"github.com/reportit/reportit/bench/internal/promtext"
	"github.com/reportit/reportit/bench/internal/summary"
)

// finding is one result of a check.
type finding struct {
	Level string `json:"level"` // "ok", "warn" or "fail"
	Text  string `json:"text"`
}

func ok(format string, a ...any) finding   { return finding{"ok", fmt.Sprintf(format, a...)} }
func warn(format string, a ...any) finding { return finding{"warn", fmt.Sprintf(format, a...)} }
func fail(format string, a ...any) finding { return finding{"fail", fmt.Sprintf(format, a...)} }

const acceptedMetric = "reportit_reports_accepted_total"

var (
	newReports = map[string]string{"replayed": "false"}
	replays    = map[string]string{"replayed": "true"}
)

// verifyScenario compares what the load generator was told with what the
// server counted, over the whole scenario (warm-up included). A 202 the
// server did not count as stored is a lost report.
func verifyScenario(s *summary.Summary, before, after promtext.Samples) []finding {
	var out []finding
	acked := s.Measured.Accepted + s.Warmup.Accepted
	stored, _ := counterDelta(before, after, acceptedMetric, newReports)
	errs := s.Measured.TransportErrors() + s.Warmup.TransportErrors()
	switch n := int(stored); {
	case acked > n:
		out = append(out, fail("%d reports acknowledged (202) but the server counts only %d stored: %d lost", acked, n, acked-n))
	case acked < n:
		out = append(out, warn("the server stored %d reports and the client saw %d acknowledged (%d requests had no answer: timeouts or resets)", n, acked, errs))
	default:
		out = append(out, ok("202s for new reports = reports the server counts as stored (%d)", acked))
	}
	replayed := s.Measured.Replayed + s.Warmup.Replayed
	if r, _ := counterDelta(before, after, acceptedMetric, replays); int(r) != replayed {
		out = append(out, warn("%d replayed answers received, the server counts %d", replayed, int(r)))
	}
	keys := make([]string, 0, len(s.Measured.Unexpected)+len(s.Warmup.Unexpected))
	unexpected := map[string]int{}
	for _, t := range []summary.Tally{s.Measured, s.Warmup} {
		for k, n := range t.Unexpected {
			if unexpected[k] == 0 {
				keys = append(keys, k)
			}
			unexpected[k] += n
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		kind, status, _ := strings.Cut(k, " ")
		if status == "202" && (kind == mix.BadScheme.String() || kind == mix.UnknownField.String()) {
			out = append(out, fail("%d invalid requests (%s) were accepted", unexpected[k], kind))
		} else {
			out = append(out, warn("%d %s requests answered %s", unexpected[k], kind, status))
		}
	}
	return out
}

// verifyStored checks, after a graceful shutdown, that every report
// acknowledged as new during the whole run is in the database, and that the
// database holds as many reports as the server said it stored: the SQLite
// file in dataDir, or in postgres mode the database dbURL.
func (r *runner) verifyStored(ctx context.Context, dataDir, dbURL string, final promtext.Samples) []finding {
	counted, _ := final.Sum(acceptedMetric, newReports)
	acked, err := readIDs(filepath.Join(r.tmp, "acked-ids.txt"))
	if err != nil {
		return []finding{fail("reading acknowledged ids: %v", err)}
	}
	dbPath := filepath.Join(dataDir, "reportit.db")
	_, statErr := os.Stat(dbPath)
	var stored map[string]struct{}
	if r.o.mode == "postgres" {
		if statErr == nil {
			return []finding{fail("-mode postgres, but the server created %s: it ignored REPORTIT_DATABASE_URL, and these figures are SQLite's", dbPath)}
		}
		stored, err = pgReportIDs(ctx, dbURL)
	} else {
		if errors.Is(statErr, fs.ErrNotExist) {
			return []finding{fail("no database at %s", dbPath)}
		}
		stored, err = storedIDs(ctx, dbPath)
	}
	if err != nil {
		return []finding{fail("reading the database: %v", err)}
	}
	var out []finding
	missing := 0
	for _, id := range acked {
		if _, ok := stored[id]; !ok {
			missing++
		}
	}
	if missing > 0 {
		out = append(out, fail("%d of %d acknowledged reports are not in the database after shutdown", missing, len(acked)))
	} else {
		out = append(out, ok("all %d acknowledged reports are in the database after shutdown", len(acked)))
	}
	switch {
	case len(stored) < int(counted):
		out = append(out, fail("the database holds %d reports, the server counted %d stored", len(stored), int(counted)))
	case len(stored) > int(counted):
		out = append(out, warn("the database holds %d reports, the server counted only %d", len(stored), int(counted)))
	default:
		out = append(out, ok("the database holds exactly the %d reports the server counted", len(stored)))
	}
	return out
}

func readIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, sc.Err()
}

// storedIDs reads every report id, read-only.
func storedIDs(ctx context.Context, path string) (map[string]struct{}, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT id FROM reports")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanIDs(rows)
}

// idRows is what database/sql's and pgx's rows have in common.
type idRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanIDs reads rows of one id each into a set.
func scanIDs(rows idRows) (map[string]struct{}, error) {
	ids := map[string]struct{}{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = struct{}{}
	}
	return ids, rows.Err()
}
