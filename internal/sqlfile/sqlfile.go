// Package sqlfile reads the SQL that the stores keep in files: numbered
// migrations and named queries. Each store has its own dialect and files;
// the rules for reading them are the same, so they live here once.
package sqlfile

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Migration is one numbered schema step.
type Migration struct {
	Version int
	Name    string // file name, for the record and the log
	SQL     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// LoadMigrations reads the *.sql files at the root of fsys. They must be
// numbered 0001, 0002, ... without gaps, so that a missing or misnamed file
// fails the build's tests rather than skipping a step in production.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("%q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s: expected version %04d", m.Name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("none found")
	}
	return ms, nil
}

const nameMarker = "-- name:"

// ParseNamed splits src at "-- name: X" lines. Text before the first name
// is a file comment; comment lines inside a query stay part of it. trim is
// applied to each query's text before it is checked for emptiness.
func ParseNamed(src string, trim func(string) string) (map[string]string, error) {
	named := make(map[string]string)
	var name string
	var body strings.Builder
	flush := func() error {
		if name == "" {
			return nil
		}
		sql := strings.TrimSpace(body.String())
		if trim != nil {
			sql = trim(sql)
		}
		if strings.TrimSpace(sql) == "" {
			return fmt.Errorf("query %q is empty", name)
		}
		named[name] = sql
		body.Reset()
		return nil
	}
	for line := range strings.Lines(src) {
		trimmed := strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(trimmed, nameMarker); ok {
			if err := flush(); err != nil {
				return nil, err
			}
			name = strings.TrimSpace(rest)
			if name == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("bad name line %q", trimmed)
			}
			if _, dup := named[name]; dup {
				return nil, fmt.Errorf("query %q defined twice", name)
			}
			continue
		}
		if name != "" {
			body.WriteString(line)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return named, nil
}
