package report

import (
	"strings"
	"testing"
)

func valid() Submission {
	return Submission{URL: "https://example.com/", ContentType: ContentPage, Category: CategoryCSAM,
		Country: "de", Client: Client{Name: "reportit-extension", Version: "1.0.0"}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Submission)
		fields []string // fields expected in error, in order
	}{
		{"valid", func(*Submission) {}, nil},
		{"anonymous, no country", func(s *Submission) { s.Country = "" }, nil},
		{"contact e-mail", func(s *Submission) { s.Contact = "a.b@example.org" }, nil},
		{"comment at limit", func(s *Submission) { s.Comment = strings.Repeat("é", MaxCommentRunes) }, nil},
		{"comment with newlines", func(s *Submission) { s.Comment = "line 1\r\nline 2\ttab" }, nil},
		{"comment over limit", func(s *Submission) { s.Comment = strings.Repeat("a", MaxCommentRunes+1) }, []string{"comment"}},
		{"comment control char", func(s *Submission) { s.Comment = "a\x00b" }, []string{"comment"}},
		{"bad content type", func(s *Submission) { s.ContentType = "Image" }, []string{"content_type"}},
		{"missing category", func(s *Submission) { s.Category = "" }, []string{"category"}},
		{"unassigned country", func(s *Submission) { s.Country = "XX" }, []string{"country"}},
		{"country straddling codes", func(s *Submission) { s.Country = "D " }, []string{"country"}},
		{"three-letter country", func(s *Submission) { s.Country = "DEU" }, []string{"country"}},
		{"contact with name", func(s *Submission) { s.Contact = "Bob <bob@example.org>" }, []string{"contact"}},
		{"contact not e-mail", func(s *Submission) { s.Contact = "+49 30 1234" }, []string{"contact"}},
		{"contact no domain dot", func(s *Submission) { s.Contact = "bob@localhost" }, []string{"contact"}},
		{"no client", func(s *Submission) { s.Client = Client{} }, []string{"client.name"}},
		{"client version too long", func(s *Submission) { s.Client.Version = strings.Repeat("1", 65) }, []string{"client.version"}},
		{"several at once", func(s *Submission) { s.ContentType = ""; s.Category = "x" }, []string{"content_type", "category"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.change(&s)
			s.Normalize()
			errs := s.Validate()
			var got []string
			for _, e := range errs {
				if e.Code != CodeInvalid || e.Message == "" {
					t.Errorf("error %v: want code %s and a message", e, CodeInvalid)
				}
				got = append(got, e.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("fields in error = %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	s := Submission{Country: " fr ", Comment: "  a\r\nb  ", Contact: " x@y.org "}
	s.Normalize()
	if s.Country != "FR" || s.Comment != "a\nb" || s.Contact != "x@y.org" {
		t.Fatalf("normalized = %+v", s)
	}
}

func TestIsCountry(t *testing.T) {
	for code, want := range map[string]bool{"DE": true, "GB": true, "ZW": true, "AD": true, "UK": false, "E ": false, "D": false, "": false, "de": false} {
		if IsCountry(code) != want {
			t.Errorf("IsCountry(%q) = %v", code, !want)
		}
	}
}
