package hotline

import (
	"strings"
	"testing"

	"github.com/reportit/reportit/internal/report"
)

func TestSeedHasOneDefaultPerCountry(t *testing.T) {
	d, err := Seed()
	if err != nil {
		t.Fatal(err)
	}
	countries := map[string]int{}
	for _, h := range d.All() {
		if h.Default {
			countries[h.Country]++
		}
	}
	for _, h := range d.All() {
		if countries[h.Country] != 1 {
			t.Errorf("%s: %d default hotlines, want 1", h.Country, countries[h.Country])
		}
		// A hotline whose form address is not known (the seed has one) keeps
		// an empty report_url; a known one must be a web address.
		if h.Name == "" || (h.ReportURL != "" && !strings.HasPrefix(h.ReportURL, "https://") && !strings.HasPrefix(h.ReportURL, "http://")) {
			t.Errorf("%s: missing name or non-web report url %q", h.ID, h.ReportURL)
		}
	}
}

func TestRoute(t *testing.T) {
	d, err := Seed()
	if err != nil {
		t.Fatal(err)
	}
	withFallback, err := d.WithFallback("gb-iwf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		dir               *Directory
		explicit, country string
		want              string
		code              report.Code
	}{
		{"explicit wins over country", d, "de-fsm-beschwerdestelle", "FR", "de-fsm-beschwerdestelle", ""},
		{"country default", d, "", "DE", "de-eco-beschwerdestelle", ""},
		{"unknown explicit", d, "xx-nope", "DE", "", report.CodeUnknownHotline},
		{"unknown country, no fallback", d, "", "AQ", "", report.CodeNoHotline},
		{"unknown country, fallback", withFallback, "", "AQ", "gb-iwf", ""},
		{"no country, fallback", withFallback, "", "", "gb-iwf", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.dir.Route(tt.explicit, tt.country)
			if tt.code != "" {
				if report.ErrorCode(err) != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				return
			}
			if err != nil || h.ID != tt.want {
				t.Fatalf("got %v, %v; want %s", h, err, tt.want)
			}
		})
	}
}

func TestFallbackMustExist(t *testing.T) {
	d, _ := Seed()
	if _, err := d.WithFallback("xx-nope"); err == nil {
		t.Fatal("unknown fallback accepted")
	}
}

func TestParseRefusesTwoDefaults(t *testing.T) {
	_, err := Parse([]byte(`[{"id":"a","country":"DE","name":"A","report_url":"https://a","default":true},
		{"id":"b","country":"DE","name":"B","report_url":"https://b","default":true}]`))
	if err == nil {
		t.Fatal("two defaults for DE accepted")
	}
}

func TestETagChangesWithContent(t *testing.T) {
	a, _ := Parse([]byte(`[{"id":"a","country":"DE","name":"A","report_url":"https://a","default":true}]`))
	b, _ := Parse([]byte(`[{"id":"a","country":"DE","name":"B","report_url":"https://a","default":true}]`))
	_, ea := a.JSON()
	_, eb := b.JSON()
	if ea == eb || ea == "" {
		t.Fatalf("etags %q %q", ea, eb)
	}
}
