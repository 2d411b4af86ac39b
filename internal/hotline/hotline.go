// Package hotline is the directory of national hotlines and the routing rule
// that picks one for a report.
package hotline

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/reportit/reportit/internal/report"
)

// Hotline is one entry of the directory.
type Hotline struct {
	ID           string   `json:"id"`
	Country      string   `json:"country"`
	Name         string   `json:"name"`
	Organisation string   `json:"organisation"`
	ReportURL    string   `json:"report_url"` // empty when not known
	Languages    []string `json:"languages"`
	// Default marks the hotline a country's reports go to unless the
	// reporter picks another one.
	Default      bool   `json:"default"`
	INHOPEMember *bool  `json:"inhope_member"`
	SourceURL    string `json:"source_url,omitempty"`
}

//go:embed directory.json
var seed []byte

// Directory is an immutable set of hotlines. Its JSON form and ETag are
// computed once: the directory is read on every extension start.
type Directory struct {
	byID      map[string]*Hotline
	byCountry map[string]*Hotline // the default hotline per country
	list      []Hotline
	json      []byte
	etag      string
	fallback  string
}

// Seed returns the directory shipped with the binary.
func Seed() (*Directory, error) { return Parse(seed) }

// Parse builds a directory from its JSON form (an array of hotlines).
func Parse(data []byte) (*Directory, error) {
	var list []Hotline
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("hotline directory: %w", err)
	}
	d := &Directory{byID: map[string]*Hotline{}, byCountry: map[string]*Hotline{}}
	sort.SliceStable(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	d.list = list
	for i := range d.list {
		h := &d.list[i]
		if h.ID == "" || len(h.Country) != 2 || h.Country != strings.ToUpper(h.Country) {
			return nil, fmt.Errorf("hotline directory: entry %d: id and upper-case country are required", i)
		}
		if _, dup := d.byID[h.ID]; dup {
			return nil, fmt.Errorf("hotline directory: duplicate id %q", h.ID)
		}
		d.byID[h.ID] = h
		if h.Default {
			if other, dup := d.byCountry[h.Country]; dup {
				return nil, fmt.Errorf("hotline directory: %s has two defaults (%s, %s)", h.Country, other.ID, h.ID)
			}
			d.byCountry[h.Country] = h
		}
	}
	body, err := json.Marshal(struct {
		Hotlines []Hotline `json:"hotlines"`
	}{d.list})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	d.json = body
	d.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return d, nil
}

// WithFallback returns a copy of d that routes reports with no hotline and
// no known country to the hotline with id fallback ("" for none).
func (d *Directory) WithFallback(fallback string) (*Directory, error) {
	if fallback != "" {
		if _, ok := d.byID[fallback]; !ok {
			return nil, fmt.Errorf("default hotline %q is not in the directory", fallback)
		}
	}
	c := *d
	c.fallback = fallback
	return &c, nil
}

// Get returns the hotline with the given id.
func (d *Directory) Get(id string) (*Hotline, bool) {
	h, ok := d.byID[id]
	return h, ok
}

// All returns every hotline, ordered by id. Callers must not modify it.
func (d *Directory) All() []Hotline { return d.list }

// JSON returns the directory as served by the API, and its ETag.
func (d *Directory) JSON() (body []byte, etag string) { return d.json, d.etag }

// Route picks the hotline for a report: the one the reporter chose, else
// the default for the reporter's country, else the configured fallback.
func (d *Directory) Route(explicit, country string) (*Hotline, error) {
	if explicit != "" {
		h, ok := d.byID[explicit]
		if !ok {
			return nil, report.Errorf(report.CodeUnknownHotline, "hotline",
				"There is no hotline with the id %q. Choose one from the list of hotlines.", explicit)
		}
		return h, nil
	}
	if h, ok := d.byCountry[country]; ok {
		return h, nil
	}
	if h, ok := d.byID[d.fallback]; ok {
		return h, nil
	}
	return nil, report.Errorf(report.CodeNoHotline, "hotline",
		"No hotline is listed for country %q. Choose a hotline from the list instead.", country)
}
