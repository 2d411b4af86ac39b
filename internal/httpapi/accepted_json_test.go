package httpapi

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/report"
)

// TestAppendAcceptedIsEncodingJSON: the hand-written answer to a report is
// byte for byte what encoding/json (and so gin's c.JSON) writes, for every
// hotline of the directory and times with and without fractions, and
// strings that would need escaping fall back to encoding/json.
func TestAppendAcceptedIsEncodingJSON(t *testing.T) {
	d, err := hotline.Seed()
	if err != nil {
		t.Fatal(err)
	}
	hs := append(slices.Clone(d.All()), hotline.Hotline{ID: "x"}, hotline.Hotline{ID: "odd", Name: "<Ä & \"b\">\u2028", ReportURL: "https://h.example/?a=1&b=2"})
	var cache hotlineJSON
	for i, h := range hs {
		r := reportAccepted{
			ID: "0190a4f6-0000-7000-8000-000000000001", Reference: "RIT-7KQ4-M2XD-9F3B", Receipt: "abc-_DEF123",
			Status: report.StatusAccepted, Hotline: refOf(&h), Duplicate: i%2 == 0,
			ReceivedAt: time.Date(2026, 11, 25, 15, 4, 5, i*1000, time.UTC),
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		hj, err := cache.get(r.Hotline)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendAccepted([]byte("prefix"), r, hj)
		if !ok || string(got) != "prefix"+string(want) {
			t.Errorf("hotline %s:\n got %s (%v)\nwant %s", h.ID, got, ok, want)
		}
	}
	for _, receipt := range []string{`a"b`, `a\b`, "a<b", "a>b", "a&b", "a\nb", "ä", "a\x7fb"} {
		r := reportAccepted{ID: "id", Reference: "RIT", Receipt: receipt, Status: report.StatusAccepted}
		if got, ok := appendAccepted(nil, r, []byte(`{"id":"x"}`)); ok {
			t.Errorf("receipt %q written by hand: %s", receipt, got)
		}
	}
	// A hotline that changed is encoded again.
	a, _ := cache.get(hotlineRef{ID: "h", Name: "old"})
	b, _ := cache.get(hotlineRef{ID: "h", Name: "new"})
	if string(a) == string(b) {
		t.Errorf("cached JSON not renewed: %s", b)
	}
}
