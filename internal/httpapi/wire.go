package httpapi

import (
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
