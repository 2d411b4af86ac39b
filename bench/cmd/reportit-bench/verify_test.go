package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/reportit/reportit/bench/internal/promtext"
	"github.com/reportit/reportit/bench/internal/summary"
)

func counters(newReports, replays float64) promtext.Samples {
	return promtext.Samples{
		{Name: acceptedMetric, Labels: map[string]string{"duplicate": "false", "replayed": "false"}, Value: newReports},
		{Name: acceptedMetric, Labels: map[string]string{"duplicate": "false", "replayed": "true"}, Value: replays},
	}
}

func TestVerifyScenario(t *testing.T) {
	for _, tc := range []struct {
		name         string
		accepted     int // 202s for new reports, measured window
		warmAccepted int
		replayed     int
		errors       int
		unexpected   map[string]int
		stored       float64 // server's counter delta, new reports
		storedReplay float64
		want         []string // levels, in order
	}{
		{name: "all stored", accepted: 90, warmAccepted: 10, replayed: 2, stored: 100, storedReplay: 2, want: []string{"ok"}},
		{name: "lost", accepted: 90, warmAccepted: 10, stored: 99, want: []string{"fail"}},
		{name: "stored unacknowledged", accepted: 90, errors: 1, stored: 91, want: []string{"warn"}},
		{name: "replay count differs", accepted: 5, stored: 5, replayed: 1, want: []string{"ok", "warn"}},
		{name: "invalid accepted", accepted: 5, stored: 5, unexpected: map[string]int{"bad_scheme 202": 1}, want: []string{"ok", "fail"}},
		{name: "valid refused", accepted: 5, stored: 5, unexpected: map[string]int{"fresh 503": 2}, want: []string{"ok", "warn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &summary.Summary{Measured: summary.NewTally(), Warmup: summary.NewTally()}
			s.Measured.Accepted, s.Measured.Replayed = tc.accepted, tc.replayed
			s.Measured.ByStatus[0] = tc.errors
			s.Warmup.Accepted = tc.warmAccepted
			for k, v := range tc.unexpected {
				s.Measured.Unexpected[k] = v
			}
			got := verifyScenario(s, counters(1000, 7), counters(1000+tc.stored, 7+tc.storedReplay))
			var levels []string
			for _, f := range got {
				levels = append(levels, f.Level)
			}
			if strings.Join(levels, ",") != strings.Join(tc.want, ",") {
				t.Errorf("levels %v, want %v: %+v", levels, tc.want, got)
			}
		})
	}
}

func TestParseInts(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"", nil, false},
		{"2000", []int{2000}, false},
		{" 64, 256 ,", []int{64, 256}, false},
		{"0", nil, true},
		{"-5", nil, true},
		{"1k", nil, true},
	} {
		got, err := parseInts(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("parseInts(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
