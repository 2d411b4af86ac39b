package report

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalize trims what a person would not mean to send and puts country
// codes in upper case. It does not touch URLs: those are canonicalised by
// the intake service with the URL rules.
func (s *Submission) Normalize() {
	s.Country = strings.ToUpper(strings.TrimSpace(s.Country))
	s.Hotline = strings.TrimSpace(s.Hotline)
	s.Comment = strings.TrimSpace(strings.ReplaceAll(s.Comment, "\r\n", "\n"))
	s.Contact = strings.TrimSpace(s.Contact)
	s.Client.Name = strings.TrimSpace(s.Client.Name)
	s.Client.Version = strings.TrimSpace(s.Client.Version)
}

// Validate checks every field but the URLs and returns all problems at once.
func (s *Submission) Validate() Errors {
	var errs Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, Errorf(CodeInvalid, field, format, args...))
	}
	if !oneOf(s.ContentType, ContentTypes) {
		add("content_type", "Say what you are reporting: one of page, image, video, link or other.")
	}
	if !oneOf(s.Category, Categories) {
		add("category", "Choose a category: one of csam, grooming, sextortion or other.")
	}
	if s.Country != "" && !IsCountry(s.Country) {
		add("country", "%q is not a country code. Use the two-letter ISO 3166-1 code, such as DE or FR.", clip(s.Country))
	}
	if n := utf8.RuneCountInString(s.Comment); n > MaxCommentRunes {
		add("comment", "The comment is %d characters long; the limit is %d. Please shorten it.", n, MaxCommentRunes)
	} else if hasControl(s.Comment, true) {
		add("comment", "The comment contains control characters. Please remove them.")
	}
	if s.Contact != "" {
		if len(s.Contact) > MaxContactLen || !isPlainEmail(s.Contact) {
			add("contact", "The contact must be a plain e-mail address such as name@example.org, or left empty to stay anonymous.")
		}
	}
	if s.Client.Name == "" {
		add("client.name", "Name the software sending the report, for example reportit-extension.")
	} else if len(s.Client.Name) > MaxClientField || hasControl(s.Client.Name, false) {
		add("client.name", "The client name must be printable and at most %d characters.", MaxClientField)
	}
	if len(s.Client.Version) > MaxClientField || hasControl(s.Client.Version, false) {
		add("client.version", "The client version must be printable and at most %d characters.", MaxClientField)
	}
	return errs
}

func oneOf[T comparable](v T, set []T) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// hasControl reports control characters; newlines and tabs are allowed in
// free text.
func hasControl(s string, text bool) bool {
	for _, r := range s {
		if text && (r == '\n' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return true
		}
	}
	return false
}

func isPlainEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

// clip shortens a value echoed back in an error message.
func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
