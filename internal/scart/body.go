package scart

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/reportit/reportit/internal/portal"
	"github.com/reportit/reportit/internal/report"
)

// Source is the value of the source field: which system sent the report.
const Source = "reportit"

// timeLayout is RFC 3339 in UTC with whole seconds, as in the push payload.
const timeLayout = "2006-01-02T15:04:05Z"

// Record is the YAML body of a message, one field per line in this order.
// The keys are the field names to define in the SCARt import webform: url,
// referer and note map to SCARt's own fields, the rest to "(extra
// attribute)". docs/scart.md describes each.
//
// Receivers that use a YAML library can unmarshal a body into a Record.
type Record struct {
	URL            string    `yaml:"url"`
	Referer        string    `yaml:"referer"`
	Note           string    `yaml:"note"`
	ReportitID     string    `yaml:"reportit_id"`
	Reference      string    `yaml:"reference"`
	ContentType    string    `yaml:"content_type"`
	Category       string    `yaml:"category"`
	Country        string    `yaml:"country"`
	Contact        string    `yaml:"contact"`
	ReceivedAt     time.Time `yaml:"received_at"`
	SightingsCount int       `yaml:"sightings_count"`
	FirstSeen      time.Time `yaml:"first_seen"`
	LastSeen       time.Time `yaml:"last_seen"`
	Source         string    `yaml:"source"`
}

// NewRecord is the one conversion from a report to the body's fields. It
// goes through the push payload so both channels say the same thing:
// same validation, same sightings defaults, same time precision. Text that
// is not valid UTF-8 (which intake does not accept) has each bad byte
// replaced by U+FFFD, as YAML can only carry Unicode.
func NewRecord(r report.Report, s portal.Sightings) (Record, error) {
	p := portal.FromReport(r, s)
	if err := p.Validate(); err != nil {
		// The field name only: portal's messages never quote a value.
		return Record{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	v := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	t := func(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
	return Record{
		URL:            v(p.URL),
		Referer:        v(p.PageURL),
		Note:           v(p.Comment),
		ReportitID:     v(p.ID),
		Reference:      v(p.Reference),
		ContentType:    v(p.ContentType),
		Category:       v(p.Category),
		Country:        v(p.Country),
		Contact:        v(p.Contact),
		ReceivedAt:     t(p.ReceivedAt.Time),
		SightingsCount: p.Sightings.Count,
		FirstSeen:      t(p.Sightings.FirstSeen.Time),
		LastSeen:       t(p.Sightings.LastSeen.Time),
		Source:         Source,
	}, nil
}

// Body returns the YAML body for r and its sightings.
func Body(r report.Report, s portal.Sightings) ([]byte, error) {
	rec, err := NewRecord(r, s)
	if err != nil {
		return nil, err
	}
	return rec.Encode()
}

// field is one line of the body. typed fields (times, the count) are
// written plain: they are YAML timestamps and integers on purpose.
type field struct {
	key   string
	value string
	typed bool
	// url fields may be written plain with '=' in them: see plain.
	url bool
}

func (rec *Record) fields() []field {
	return []field{
		{key: "url", value: rec.URL, url: true},
		{key: "referer", value: rec.Referer, url: true},
		// note comes before our own attributes: SCARt appends a line whose
		// key the hotline did not define to the field above it, and the note
		// is where such a line does no harm.
		{key: "note", value: rec.Note},
		{key: "reportit_id", value: rec.ReportitID},
		{key: "reference", value: rec.Reference},
		{key: "content_type", value: rec.ContentType},
		{key: "category", value: rec.Category},
		{key: "country", value: rec.Country},
		{key: "contact", value: rec.Contact},
		{key: "received_at", value: rec.ReceivedAt.Format(timeLayout), typed: true},
		{key: "sightings_count", value: strconv.Itoa(rec.SightingsCount), typed: true},
		{key: "first_seen", value: rec.FirstSeen.Format(timeLayout), typed: true},
		{key: "last_seen", value: rec.LastSeen.Format(timeLayout), typed: true},
		{key: "source", value: rec.Source},
	}
}

// Encode writes rec as YAML that is safe for two readers at once:
//
//   - any YAML 1.2 parser, which gets back exactly the values of rec;
//   - SCARt's importer, which is not a YAML parser. It trims each line,
//     splits it at the first ':' and, when the part before is a field of
//     the import webform, takes the rest as the value; any other line is
//     appended to the previous field. A value that spans lines could so
//     carry a line "url: ..." of the reporter's choosing.
//
// So every field is exactly one line. A value is written plain when YAML
// reads it back unchanged that way (URLs, references, codes), else in
// double quotes with every character that could break a line, or be taken
// for mail encoding by SCARt's reader, escaped: see quote. Encode parses
// its own output back before returning it, so a value that would not
// survive the trip is an error here rather than a wrong report there.
func (rec Record) Encode() ([]byte, error) {
	fs := rec.fields()
	var b bytes.Buffer
	b.Grow(256 + len(rec.URL) + len(rec.Referer) + 2*len(rec.Note) + len(rec.Contact))
	for _, f := range fs {
		b.WriteString(f.key)
		b.WriteByte(':')
		switch {
		case f.value == "":
			// An empty value reads as null in YAML (a string field gets "")
			// and as "" in SCARt; quotes would reach SCARt as two characters.
		case f.typed || plain(f.value, f.url):
			b.WriteByte(' ')
			b.WriteString(f.value)
		default:
			b.WriteByte(' ')
			quote(&b, f.value)
		}
		b.WriteByte('\n')
	}
	body := b.Bytes()
	if err := rec.check(body, fs); err != nil {
		return nil, err
	}
	return body, nil
}

// check parses body back with yaml.v3 and checks its lines: the guard
// against a value this package failed to encode.
func (rec *Record) check(body []byte, fs []field) error {
	var back Record
	if err := yaml.Unmarshal(body, &back); err != nil {
		return fmt.Errorf("%w: body does not parse back", ErrBadMessage)
	}
	if !back.Equal(*rec) {
		return fmt.Errorf("%w: body does not read back to the report", ErrBadMessage)
	}
	lines := bytes.Split(bytes.TrimSuffix(body, []byte{'\n'}), []byte{'\n'})
	if len(lines) != len(fs) {
		return fmt.Errorf("%w: body is not one line per field", ErrBadMessage)
	}
	for i, l := range lines {
		if !bytes.HasPrefix(l, []byte(fs[i].key+":")) || bytes.ContainsAny(l, "\r\u0085\u2028\u2029") {
			return fmt.Errorf("%w: body is not one line per field", ErrBadMessage)
		}
	}
	return nil
}

// Equal reports whether two records hold the same values (times compared
// as instants).
func (rec Record) Equal(o Record) bool {
	return rec.URL == o.URL && rec.Referer == o.Referer && rec.Note == o.Note &&
		rec.ReportitID == o.ReportitID && rec.Reference == o.Reference &&
		rec.ContentType == o.ContentType && rec.Category == o.Category &&
		rec.Country == o.Country && rec.Contact == o.Contact &&
		rec.ReceivedAt.Equal(o.ReceivedAt) && rec.SightingsCount == o.SightingsCount &&
		rec.FirstSeen.Equal(o.FirstSeen) && rec.LastSeen.Equal(o.LastSeen) && rec.Source == o.Source
}

// plain reports whether v can be written as a plain scalar: yaml.v3 itself
// would write it plain on one line (so it reads back as the same string,
// not a number, bool, null or timestamp, and holds no ": ", " #" or leading
// indicator), and it holds nothing SCARt's readers could misread:
//
//   - no backslash: the Microsoft 365 reader turns a literal "\n" into a
//     line break;
//   - no "=0D=0A": the IMAP reader then re-splits the whole body on it;
//   - no '=' unless url: the Microsoft 365 reader quoted-printable-decodes
//     text that is already decoded, so "=0A" would become a line break.
//     A URL cannot be quoted (SCARt would refuse it) nor have its '='
//     escaped (it would be another URL), so in URLs '=' stays; docs/scart.md
//     says what that means for that reader;
//   - no character outside the safe set of quote.
func plain(v string, url bool) bool {
	for _, r := range v {
		if r == '\\' || r == '=' && !url || !safe(r) {
			return false
		}
	}
	if containsFold(v, "=0D=0A") {
		return false
	}
	out, err := yaml.Marshal(map[string]string{"k": v})
	return err == nil && len(out) == len(v)+4 && string(out[3:len(out)-1]) == v && out[len(out)-1] == '\n'
}

// quote writes v as a YAML double-quoted scalar on one line. Printable
// ASCII and printable non-ASCII letters and symbols are written as they are
// (the mail's quoted-printable encoding carries the UTF-8); '"' is written
// \" and everything else as a \x, \u or \U escape: control characters
// (line breaks, tabs, NUL), Unicode line and paragraph separators, format
// characters such as bidirectional overrides (which could make the text an
// analyst reads differ from what it is), '\' (as \x5C, so the output never
// holds "\n" or "\r", which SCARt's Microsoft 365 reader turns into line
// breaks) and '=' (as \x3D, so the text holds nothing that SCARt's
// quoted-printable decoding would decode a second time).
func quote(b *bytes.Buffer, v string) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r != '\\' && r != '=' && safe(r):
			b.WriteRune(r)
		case r <= 0xFF:
			b.WriteString(`\x`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xF])
		case r <= 0xFFFF:
			b.WriteString(`\u`)
			for s := 12; s >= 0; s -= 4 {
				b.WriteByte(hex[(r>>s)&0xF])
			}
		default:
			b.WriteString(`\U`)
			for s := 28; s >= 0; s -= 4 {
				b.WriteByte(hex[(r>>s)&0xF])
			}
		}
	}
	b.WriteByte('"')
}

// safe reports whether r may appear unescaped in a value: printable ASCII,
// or a printable non-ASCII character (a letter, mark, number, punctuation
// or symbol) that YAML allows in a document.
func safe(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r < 0x7f
	}
	if r == utf8.RuneError || r == 0xFEFF || r > 0x10FFFF {
		// U+FFFD itself is printable, but keeping it escaped makes a
		// replaced byte visible as such.
		return false
	}
	return unicode.IsPrint(r) && !unicode.Is(unicode.Co, r)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToUpper(s), sub)
}

// ErrBadMessage is a report that cannot be made into a message; nothing was
// sent. It wraps portal.ErrBadPayload, so metrics count it as "invalid".
var ErrBadMessage error = &kindError{msg: "scart: cannot build the message", base: portal.ErrBadPayload}

// kindError is a sentinel of this package that is also one of portal's
// kinds, so the dispatcher's metrics label e-mail failures like push ones.
type kindError struct {
	msg  string
	base error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.base }
