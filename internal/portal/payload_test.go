package portal

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/report"
)

func TestFromReportWire(t *testing.T) {
	r := testReport()
	first := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := FromReport(r, Sightings{Count: 3, First: first, Last: first.Add(90 * time.Minute)})
	body, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":"reportit.report/v1","id":"0190f3a8-7c2e-7d41-9b1a-3f2e4d5c6b7a","reference":"RPT-7K3M-Q9XD",` +
		`"hotline":"de-eco","url":"https://example.org/secret-path?leak=1","page_url":"https://example.org/page-leak",` +
		`"content_type":"image","category":"csam","country":"DE","comment":"comment-leak","contact":"contact-leak@example.org",` +
		`"received_at":"2030-01-02T03:04:05Z","client":{"name":"reportit-extension","version":"1.4.0"},` +
		`"sightings":{"count":3,"first_seen":"2030-01-02T03:04:05Z","last_seen":"2030-01-02T04:34:05Z"}}`
	if string(body) != want {
		t.Errorf("payload\n got %s\nwant %s", body, want)
	}
}

func TestFromReportOmitsEmpty(t *testing.T) {
	r := report.Report{
		ID: "id-1", Reference: "R-1", HotlineID: "h", URL: "https://example.org/a?b=1&c=<2>",
		ContentType: report.ContentPage, Category: report.CategoryOther,
		ReceivedAt: time.Date(2030, 1, 2, 3, 4, 5, 999_999_999, time.FixedZone("x", 3600)),
	}
	p := FromReport(r, Sightings{})
	body, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":"reportit.report/v1","id":"id-1","reference":"R-1","hotline":"h","url":"https://example.org/a?b=1&c=<2>",` +
		`"content_type":"page","category":"other","received_at":"2030-01-02T02:04:05Z",` +
		`"sightings":{"count":1,"first_seen":"2030-01-02T02:04:05Z","last_seen":"2030-01-02T02:04:05Z"}}`
	if string(body) != want {
		t.Errorf("payload\n got %s\nwant %s", body, want)
	}
	var back Payload
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	if !back.ReceivedAt.Equal(r.ReceivedAt.Truncate(time.Second)) || back.Client != nil {
		t.Errorf("round trip: %+v", back)
	}
}

func TestFromReportSightingsDefaults(t *testing.T) {
	r := testReport()
	first := r.ReceivedAt.Add(-time.Hour)
	tests := []struct {
		in          Sightings
		count       int
		first, last time.Time
	}{
		{Sightings{}, 1, r.ReceivedAt, r.ReceivedAt},
		{Sightings{Count: -3}, 1, r.ReceivedAt, r.ReceivedAt},
		{Sightings{Count: 2, First: first}, 2, first, first},
		{Sightings{Count: 5, First: first, Last: r.ReceivedAt}, 5, first, r.ReceivedAt},
	}
	for _, tt := range tests {
		s := FromReport(r, tt.in).Sightings
		if s.Count != tt.count || !s.FirstSeen.Equal(tt.first) || !s.LastSeen.Equal(tt.last) {
			t.Errorf("%+v: got %+v", tt.in, s)
		}
	}
}

func TestValidateNamesFieldNotValue(t *testing.T) {
	p := FromReport(testReport(), Sightings{})
	p.ID = secretURL // a '.' in it: not a valid webhook-id
	err := p.Validate()
	if !errors.Is(err, ErrBadPayload) || err.Error() != "portal: invalid payload: id" {
		t.Errorf("got %v", err)
	}
}
