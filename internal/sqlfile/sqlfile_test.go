package sqlfile

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string // error substring, "" for success
	}{
		{"ordered", fstest.MapFS{"0002_b.sql": {Data: []byte("B")}, "0001_a.sql": {Data: []byte("A")}}, ""},
		{"gap", fstest.MapFS{"0001_a.sql": {}, "0003_c.sql": {}}, "expected version 0002"},
		{"misnamed", fstest.MapFS{"0001_a.sql": {}, "2_b.sql": {}}, "not named"},
		{"empty", fstest.MapFS{}, "none found"},
	}
	for _, tt := range tests {
		ms, err := LoadMigrations(tt.files)
		if tt.want != "" {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil || len(ms) != 2 || ms[0].SQL != "A" || ms[1].Version != 2 {
			t.Errorf("%s: %+v, %v", tt.name, ms, err)
		}
	}
}

func TestParseNamed(t *testing.T) {
	src := "-- file comment\n-- name: one\nSELECT 1;\n-- name: two\n-- a comment kept\nSELECT\n  2\n"
	named, err := ParseNamed(src, func(s string) string { return strings.TrimSuffix(s, ";") })
	if err != nil {
		t.Fatal(err)
	}
	if named["one"] != "SELECT 1" || named["two"] != "-- a comment kept\nSELECT\n  2" || len(named) != 2 {
		t.Fatalf("named = %q", named)
	}
	for src, want := range map[string]string{
		"-- name: a\n-- name: b\nSELECT 1": `query "a" is empty`,
		"-- name: a\nX\n-- name: a\nY":     "defined twice",
		"-- name: a b\nX":                  "bad name line",
	} {
		if _, err := ParseNamed(src, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}
