package httpapi

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/intake"
	"github.com/reportit/reportit/internal/report"
)

// The wire shapes of the API. They are separate from the domain types so
// that the API can be versioned without touching storage.

type reportRequest struct {
	URL         string        `json:"url"`
	PageURL     string        `json:"page_url"`
	ContentType string        `json:"content_type"`
	Category    string        `json:"category"`
	Country     string        `json:"country"`
	Hotline     string        `json:"hotline"`
	Comment     string        `json:"comment"`
	Contact     string        `json:"contact"`
	Client      clientRequest `json:"client"`
}

type clientRequest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (r *reportRequest) submission() report.Submission {
	return report.Submission{
		URL:         r.URL,
		PageURL:     r.PageURL,
		ContentType: report.ContentType(r.ContentType),
		Category:    report.Category(r.Category),
		Country:     r.Country,
		Hotline:     r.Hotline,
		Comment:     r.Comment,
		Contact:     r.Contact,
		Client:      report.Client{Name: r.Client.Name, Version: r.Client.Version},
	}
}

type hotlineRef struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Country   string `json:"country,omitempty"`
	ReportURL string `json:"report_url,omitempty"`
}

func refOf(h *hotline.Hotline) hotlineRef {
	return hotlineRef{ID: h.ID, Name: h.Name, Country: h.Country, ReportURL: h.ReportURL}
}

type reportAccepted struct {
	ID         string        `json:"id"`
	Reference  string        `json:"reference"`
	Receipt    string        `json:"receipt"`
	Status     report.Status `json:"status"`
	Hotline    hotlineRef    `json:"hotline"`
	Duplicate  bool          `json:"duplicate"`
	ReceivedAt time.Time     `json:"received_at"`
}

// appendAccepted appends the JSON of r, byte for byte what encoding/json
// makes of it, without reflection or allocation: the answer to every
// report. hotline is the JSON of r.Hotline (see hotlineJSON). ok is false,
// and b unchanged, if a string needs escaping (ids, references and receipts
// never do); the caller then uses encoding/json.
func appendAccepted(b []byte, r reportAccepted, hotline []byte) (_ []byte, ok bool) {
	if !plainJSON(r.ID) || !plainJSON(r.Reference) || !plainJSON(r.Receipt) || !plainJSON(string(r.Status)) {
		return b, false
	}
	b = append(append(append(b, `{"id":"`...), r.ID...), `","reference":"`...)
	b = append(append(b, r.Reference...), `","receipt":"`...)
	b = append(append(b, r.Receipt...), `","status":"`...)
	b = append(append(b, r.Status...), `","hotline":`...)
	b = append(append(b, hotline...), `,"duplicate":`...)
	b = strconv.AppendBool(b, r.Duplicate)
	b = append(b, `,"received_at":"`...)
	b = append(r.ReceivedAt.AppendFormat(b, time.RFC3339Nano), `"}`...)
	return b, true
}

// plainJSON reports whether encoding/json writes s as it is, between
// quotes: printable ASCII other than the quote, the backslash and the
// characters it escapes for HTML (<, >, &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// hotlineJSON keeps the JSON of each hotline's hotlineRef, by hotline id,
// so that the answer to a report needs no encoding/json. An entry whose
// hotline changed (the directory was reloaded) is made again.
type hotlineJSON struct {
	mu   sync.RWMutex
	refs map[string]hotlineJSONEntry
}

type hotlineJSONEntry struct {
	ref  hotlineRef
	json []byte
}

// get returns the JSON of ref.
func (h *hotlineJSON) get(ref hotlineRef) ([]byte, error) {
	h.mu.RLock()
	e, ok := h.refs[ref.ID]
	h.mu.RUnlock()
	if ok && e.ref == ref {
		return e.json, nil
	}
	j, err := json.Marshal(ref)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.refs == nil {
		h.refs = make(map[string]hotlineJSONEntry)
	}
	h.refs[ref.ID] = hotlineJSONEntry{ref: ref, json: j}
	h.mu.Unlock()
	return j, nil
}

func acceptedOf(r intake.Receipt) reportAccepted {
	return reportAccepted{
		ID:         r.ID,
		Reference:  r.Reference,
		Receipt:    r.Secret,
		Status:     report.StatusAccepted,
		Hotline:    refOf(r.Hotline),
		Duplicate:  r.Duplicate(),
		ReceivedAt: r.ReceivedAt,
	}
}

type reportStatus struct {
	Reference   string        `json:"reference"`
	Status      report.Status `json:"status"`
	Hotline     hotlineRef    `json:"hotline"`
	ReceivedAt  time.Time     `json:"received_at"`
	DeliveredAt *time.Time    `json:"delivered_at,omitempty"`
}

type tokenResponse struct {
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"`
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int64     `json:"expires_in"`
}
