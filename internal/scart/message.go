package scart

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
)

// Message returns the whole RFC 5322 message for r as sent at time now,
// with CRLF line ends. Every header is ASCII and the body is
// quoted-printable, so the message is 7-bit clean and needs neither
// 8BITMIME nor SMTPUTF8 from any server on the way; it also keeps each
// encoded line under 78 characters while a long URL or note stays one
// logical line for SCARt. SCARt's IMAP reader quoted-printable-decodes
// the body whatever its declared encoding, so a body sent as 8bit or 7bit
// would have any "=XX" in a URL decoded into a byte.
func (c *Channel) Message(r report.Report, s portal.Sightings, now time.Time) ([]byte, error) {
	body, err := Body(r, s)
	if err != nil {
		return nil, err
	}
	var m bytes.Buffer
	m.Grow(512 + len(body)*3/2)
	h := func(name, value string) {
		m.WriteString(name)
		m.WriteString(": ")
		m.WriteString(value)
		m.WriteString("\r\n")
	}
	h("From", "<"+c.cfg.From+">")
	h("To", "<"+c.cfg.To+">")
	h("Subject", c.subject(r.Reference))
	h("Date", now.UTC().Format(time.RFC1123Z))
	h("Message-ID", MessageID(r.ID, c.cfg.From))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: tells vacation responders and the like not to answer.
	h("Auto-Submitted", "auto-generated")
	m.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&m)
	// Text mode: each '\n' of the body becomes a CRLF hard line break.
	if _, err := qp.Write(body); err != nil {
		return nil, ErrBadMessage
	}
	if err := qp.Close(); err != nil {
		return nil, ErrBadMessage
	}
	return m.Bytes(), nil
}

// subject is the configured prefix, alone by default: SCARt matches the
// whole subject against its import webforms.
func (c *Channel) subject(reference string) string {
	if !c.cfg.SubjectReference || reference == "" {
		return c.cfg.SubjectPrefix
	}
	if printableASCII(reference) {
		return c.cfg.SubjectPrefix + " " + reference
	}
	return c.cfg.SubjectPrefix + " " + mime.QEncoding.Encode("utf-8", reference)
}

// MessageID is the Message-ID of every message for the report with this
// id: the same on each attempt, so that a message sent twice (an attempt
// whose answer was lost) is recognisable as one report in the mailbox.
// The domain is the sender's. An id that is not a dot-atom (intake's are
// UUIDs) is replaced by a hash of it.
func MessageID(reportID, from string) string {
	left := reportID
	if !dotAtom(left) {
		sum := sha256.Sum256([]byte(reportID))
		left = "h" + hex.EncodeToString(sum[:16])
	}
	return "<reportit." + left + "@" + from[strings.LastIndexByte(from, '@')+1:] + ">"
}

// dotAtom reports whether s is made of RFC 5322 atext and inner dots.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0) {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
