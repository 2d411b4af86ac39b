package sqlite

import (
	"testing"

	"github.com/reportit/reportit/internal/report"
)

func TestParseCursor(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"0", 0, true},
		{"1", 1, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"9223372036854775808", 0, false}, // overflows
		{"-1", 0, false},
		{"+1", 0, false},
		{"01", 0, false}, // not the form we give out
		{" 1", 0, false},
		{"1 ", 0, false},
		{"0x10", 0, false},
		{"1e3", 0, false},
		{"abc", 0, false},
		{"１", 0, false}, // a full-width digit
	}
	for _, tc := range tests {
		got, err := report.ParseCursor(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("report.ParseCursor(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && report.ErrorCode(err) != report.CodeInvalid {
			t.Errorf("report.ParseCursor(%q) error %v is not a %s error", tc.in, err, report.CodeInvalid)
		}
	}
}

// FuzzParseCursor: a cursor comes from the hotline's request. Whatever it
// is, parsing must not panic, and a cursor accepted must be one this store
// could have given out.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "0", "42", "-1", "+7", "007", "9223372036854775808", "1.5", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seq, err := report.ParseCursor(s)
		if err != nil {
			if report.ErrorCode(err) != report.CodeInvalid {
				t.Fatalf("report.ParseCursor(%q) error %v is not a %s error", s, err, report.CodeInvalid)
			}
			return
		}
		if seq < 0 {
			t.Fatalf("report.ParseCursor(%q) = %d, negative", s, seq)
		}
		if s != "" && report.FormatCursor(seq) != s {
			t.Fatalf("report.ParseCursor(%q) = %d, which formats as %q", s, seq, report.FormatCursor(seq))
		}
	})
}
