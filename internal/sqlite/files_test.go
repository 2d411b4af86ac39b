package sqlite

import (
	"errors"
	"maps"
	"testing"
	"testing/fstest"
)

func TestParseQueries(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]string
		err  bool
	}{
		{"empty", "", map[string]string{}, false},
		{"header only", "-- about\n-- more\n", map[string]string{}, false},
		{
			"two",
			"-- header\n\n-- name: a\nSELECT 1;\n\n-- name: b\n-- why\nSELECT 2\nFROM t;\n",
			map[string]string{"a": "SELECT 1;", "b": "-- why\nSELECT 2\nFROM t;"},
			false,
		},
		{"indented marker", "  -- name: a  \nSELECT 1;", map[string]string{"a": "SELECT 1;"}, false},
		{"duplicate", "-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;", nil, true},
		{"empty body", "-- name: a\n\n-- name: b\nSELECT 1;", nil, true},
		{"empty last body", "-- name: a\nSELECT 1;\n-- name: b\n", nil, true},
		{"no name", "-- name:\nSELECT 1;", nil, true},
		{"name with space", "-- name: a b\nSELECT 1;", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseQueries(tc.src)
			if tc.err {
				if !errors.Is(err, errQueries) {
					t.Fatalf("parseQueries = %v, %v; want errQueries", got, err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Errorf("parseQueries = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLoadQueries(t *testing.T) {
	if _, err := loadQueries(queriesSQL); err != nil {
		t.Fatalf("queries.sql: %v", err)
	}
	if _, err := loadQueries(queriesSQL + "\n-- name: stray\nSELECT 1;\n"); !errors.Is(err, errQueries) {
		t.Errorf("unknown query accepted: %v", err)
	}
	if _, err := loadQueries("-- name: status\nSELECT 1;\n"); !errors.Is(err, errQueries) {
		t.Errorf("missing queries accepted: %v", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name  string
		files fstest.MapFS
		want  []string
	}{
		{"in order", fstest.MapFS{"0002_b.sql": file("B"), "0001_a.sql": file("A")}, []string{"0001_a.sql", "0002_b.sql"}},
		{"none", fstest.MapFS{}, nil},
		{"gap", fstest.MapFS{"0001_a.sql": file("A"), "0003_c.sql": file("C")}, nil},
		{"not from one", fstest.MapFS{"0002_b.sql": file("B")}, nil},
		{"same version twice", fstest.MapFS{"0001_a.sql": file("A"), "0001_b.sql": file("B")}, nil},
		{"bad name", fstest.MapFS{"0001_a.sql": file("A"), "2_b.sql": file("B")}, nil},
		{"not sql", fstest.MapFS{"0001_a.sql": file("A"), "README": file("")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := loadMigrations(tc.files)
			if tc.want == nil {
				if !errors.Is(err, errMigrations) {
					t.Fatalf("loadMigrations = %v, %v; want errMigrations", ms, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for i, m := range ms {
				names = append(names, m.name)
				if m.version != i+1 || m.sql == "" {
					t.Errorf("migration %d = %+v", i, m)
				}
			}
			if len(names) != len(tc.want) || names[0] != tc.want[0] || names[len(names)-1] != tc.want[len(tc.want)-1] {
				t.Errorf("loaded %q, want %q", names, tc.want)
			}
		})
	}
	if _, err := embeddedMigrations(); err != nil {
		t.Errorf("embedded migrations: %v", err)
	}
}
