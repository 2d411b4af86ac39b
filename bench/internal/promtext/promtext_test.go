package promtext

import (
	"math"
	"strings"
	"testing"
)

const exposition = `# HELP reportit_reports_accepted_total Reports accepted.
# TYPE reportit_reports_accepted_total counter
reportit_reports_accepted_total{duplicate="false",replayed="false"} 900
reportit_reports_accepted_total{duplicate="true",replayed="false"} 100
reportit_reports_accepted_total{duplicate="false",replayed="true"} 20
go_memstats_mallocs_total 1.2345e+06
odd{path="a \"quoted\" \\ value",x="1"} 3 1700000000000
gauge_nan NaN

process_resident_memory_bytes 4.2e+07
`

func TestParseAndSum(t *testing.T) {
	ss, err := Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		match map[string]string
		want  float64
		ok    bool
	}{
		{"reportit_reports_accepted_total", nil, 1020, true},
		{"reportit_reports_accepted_total", map[string]string{"replayed": "false"}, 1000, true},
		{"reportit_reports_accepted_total", map[string]string{"replayed": "true"}, 20, true},
		{"reportit_reports_accepted_total", map[string]string{"replayed": "false", "duplicate": "true"}, 100, true},
		{"reportit_reports_accepted_total", map[string]string{"replayed": "maybe"}, 0, false},
		{"go_memstats_mallocs_total", nil, 1234500, true},
		{"odd", map[string]string{"path": `a "quoted" \ value`}, 3, true},
		{"process_resident_memory_bytes", nil, 42e6, true},
		{"absent", nil, 0, false},
	} {
		got, ok := ss.Sum(tc.name, tc.match)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Sum(%s, %v) = %v, %v; want %v, %v", tc.name, tc.match, got, ok, tc.want, tc.ok)
		}
	}
	if v, _ := ss.Sum("gauge_nan", nil); !math.IsNaN(v) {
		t.Errorf("NaN read as %v", v)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, bad := range []string{
		"novalue\n",
		"m{a=\"x\" 1\n",
		"m{a=x} 1\n",
		"m{a=\"x\"} one\n",
		"m 1 2 3\n",
	} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
}
