package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/webhook"
)

// Schema names the payload format. A receiver switches on it; a change that
// is not purely additive gets a new name.
const Schema = "reportit.report/v1"

// timeLayout is RFC 3339 in UTC with whole seconds: the same instant always
// has the same text, so a re-sent report is byte-identical unless its
// sightings changed.
const timeLayout = "2006-01-02T15:04:05Z"

// Sightings says how often the report's URL was reported to the same
// hotline within the deduplication window, and when first and last. The
// zero value means "once, when received".
type Sightings = report.Sightings

// Payload is the JSON body of a push delivery, schema reportit.report/v1.
// It is a wire type: it changes only with the schema, whatever happens to
// report.Report. docs/delivery-payload.md documents every field.
type Payload struct {
	Schema      string           `json:"schema"`
	ID          string           `json:"id"`
	Reference   string           `json:"reference"`
	Hotline     string           `json:"hotline"`
	URL         string           `json:"url"`
	PageURL     string           `json:"page_url,omitempty"`
	ContentType string           `json:"content_type"`
	Category    string           `json:"category"`
	Country     string           `json:"country,omitempty"`
	Comment     string           `json:"comment,omitempty"`
	Contact     string           `json:"contact,omitempty"`
	ReceivedAt  Time             `json:"received_at"`
	Client      *PayloadClient   `json:"client,omitempty"`
	Sightings   PayloadSightings `json:"sightings"`
}

// PayloadClient names the software that sent the report.
type PayloadClient struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// PayloadSightings is Sightings on the wire.
type PayloadSightings struct {
	Count     int  `json:"count"`
	FirstSeen Time `json:"first_seen"`
	LastSeen  Time `json:"last_seen"`
}

// Time is a time.Time written as RFC 3339 UTC with whole seconds.
type Time struct{ time.Time }

// MarshalJSON writes t as "2006-01-02T15:04:05Z".
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b = t.UTC().Truncate(time.Second).AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads any RFC 3339 time, for receivers written in Go.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}

// FromReport is the one conversion from the domain to the wire. s may be
// zero: the report was seen once, when received.
func FromReport(r report.Report, s Sightings) Payload {
	p := Payload{
		Schema:      Schema,
		ID:          r.ID,
		Reference:   r.Reference,
		Hotline:     r.HotlineID,
		URL:         r.URL,
		PageURL:     r.PageURL,
		ContentType: string(r.ContentType),
		Category:    string(r.Category),
		Country:     r.Country,
		Comment:     r.Comment,
		Contact:     r.Contact,
		ReceivedAt:  Time{r.ReceivedAt},
	}
	if r.Client.Name != "" || r.Client.Version != "" {
		p.Client = &PayloadClient{Name: r.Client.Name, Version: r.Client.Version}
	}
	// A store that counts sightings knows better; these defaults describe a
	// report seen once, so count, first_seen and last_seen are always set.
	p.Sightings = PayloadSightings{Count: max(s.Count, 1), FirstSeen: Time{s.First}, LastSeen: Time{s.Last}}
	if s.First.IsZero() {
		p.Sightings.FirstSeen = p.ReceivedAt
	}
	if s.Last.IsZero() {
		p.Sightings.LastSeen = p.Sightings.FirstSeen
	}
	return p
}

// Validate checks what a receiver relies on. Messages name the field only,
// never its value.
func (p *Payload) Validate() error {
	bad := func(field string) error { return fmt.Errorf("%w: %s", ErrBadPayload, field) }
	switch {
	case p.Schema != Schema:
		return bad("schema")
	case !validID(p.ID):
		return bad("id")
	case p.Reference == "":
		return bad("reference")
	case p.Hotline == "":
		return bad("hotline")
	case p.URL == "":
		return bad("url")
	case p.ContentType == "":
		return bad("content_type")
	case p.Category == "":
		return bad("category")
	case p.ReceivedAt.IsZero():
		return bad("received_at")
	case p.Sightings.Count < 1:
		return bad("sightings.count")
	}
	return nil
}

// validID mirrors what webhook.Verifier accepts as a webhook-id: printable
// ASCII without '.', at most webhook.MaxIDLen bytes.
func validID(id string) bool {
	if id == "" || len(id) > webhook.MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e || c == '.' {
			return false
		}
	}
	return true
}

// Encode returns the payload's JSON body. HTML characters are not escaped:
// a URL's '&' stays '&', which is what a person reading the body expects.
func (p *Payload) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(512 + len(p.URL) + len(p.PageURL) + len(p.Comment))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		// Not wrapped: a json error may quote a value.
		return nil, ErrBadPayload
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
