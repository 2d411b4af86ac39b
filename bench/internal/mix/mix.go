// Package mix generates the request mix the benchmark sends to
// POST /v1/reports: mostly distinct reports, some duplicates of recent URLs
// (a new report of an address someone else just reported), some idempotent
// retries (the same request again, as a client does after a lost answer),
// and some invalid requests. The mix is deterministic for a seed, so two
// runs send the same shape of traffic.
package mix

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// Kind is what a generated request is meant to exercise, and so what answer
// it should get.
type Kind uint8

const (
	// Fresh is a report of a URL not sent before in this run: a new primary.
	Fresh Kind = iota
	// Duplicate repeats a recent report's URL, country and page with a new
	// Idempotency-Key: stored as a sighting.
	Duplicate
	// Retry resends a recent valid request byte for byte, with its
	// Idempotency-Key and token: answered from the idempotency record.
	Retry
	// BadScheme has a URL a hotline cannot visit (ftp:, javascript:).
	BadScheme
	// UnknownField has a field the API does not define.
	UnknownField

	numKinds
)

// Kinds lists every kind, in the order of the constants.
var Kinds = []Kind{Fresh, Duplicate, Retry, BadScheme, UnknownField}

var kindNames = [numKinds]string{"fresh", "duplicate", "retry", "bad_scheme", "unknown_field"}

// kindCodes are one-letter codes, short enough to ride along in each
// request's URL fragment (which an HTTP client never sends).
const kindCodes = "fdrsu"

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Code is k's one-letter code.
func (k Kind) Code() byte { return kindCodes[k] }

// KindOf returns the kind with code c.
func KindOf(c byte) (Kind, bool) {
	for i := range len(kindCodes) {
		if kindCodes[i] == c {
			return Kind(i), true
		}
	}
	return 0, false
}

// Valid reports whether a request of kind k must be accepted (202).
func (k Kind) Valid() bool { return k == Fresh || k == Duplicate || k == Retry }

// Ratios are the shares of each kind other than Fresh, which gets the rest.
// Invalid is split evenly between BadScheme and UnknownField.
type Ratios struct {
	Duplicate, Retry, Invalid float64
}

// DefaultRatios is the mix the issue asks for: ~10% duplicates of recent
// URLs, ~2% idempotent retries, ~5% invalid.
var DefaultRatios = Ratios{Duplicate: 0.10, Retry: 0.02, Invalid: 0.05}

// Request is one generated request.
type Request struct {
	Kind  Kind
	Token string // the installation token, sent as a Bearer token
	Key   string // the Idempotency-Key
	Body  []byte // the JSON body; shared with retries, so never modify it
}

// How far back duplicates and retries reach. Small windows keep them close
// to their originals in time, as in a burst of reports of one URL.
const (
	recentURLs   = 1024
	recentValids = 64
)

// submission is the content of a report, before encoding.
type submission struct {
	url, pageURL, contentType, category, country, comment string
}

var (
	contentTypes = []string{"page", "image", "video", "link", "other"}
	categories   = []string{"csam", "grooming", "sextortion", "other"}
	// Countries with a hotline in the directory, so every valid report
	// routes. Germany first and most often: the brief's example.
	countries = []string{"DE", "DE", "DE", "FR", "AT", "BE", "IT", "CA", "AU", "BR", "DK", "FI"}
	comments  = []string{"", "", "", "", "seen in a forum thread", "shared in a group chat, several times today"}
)

// Generator makes requests. It is not safe for concurrent use.
type Generator struct {
	rng    *rand.Rand
	nonce  string
	tokens []string
	r      Ratios
	seq    uint64

	urls   [recentURLs]submission // ring of recent fresh reports
	nURLs  int
	valids [recentValids]Request // ring of recent valid requests
	nValid int
}

// New returns a Generator. nonce makes URLs and keys unique to this run,
// so that runs against the same server do not collide; it must be 1-16
// letters or digits. tokens are the installations to spread reports over.
func New(seed uint64, nonce string, tokens []string, r Ratios) (*Generator, error) {
	if len(tokens) == 0 {
		return nil, errors.New("mix: no tokens")
	}
	if nonce == "" || len(nonce) > 16 || !alnum(nonce) {
		return nil, fmt.Errorf("mix: nonce %q must be 1-16 letters or digits", nonce)
	}
	if r.Duplicate < 0 || r.Retry < 0 || r.Invalid < 0 || r.Duplicate+r.Retry+r.Invalid > 1 {
		return nil, fmt.Errorf("mix: ratios %+v must be non-negative and add up to at most 1", r)
	}
	return &Generator{
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nonce:  nonce,
		tokens: tokens,
		r:      r,
	}, nil
}

// Next returns the next request.
func (g *Generator) Next() Request {
	g.seq++
	p := g.rng.Float64()
	switch {
	case p < g.r.Retry && g.nValid > 0:
		r := g.valids[g.rng.IntN(min(g.nValid, recentValids))]
		r.Kind = Retry
		return r
	case p < g.r.Retry+g.r.Duplicate && g.nURLs > 0:
		s := g.urls[g.rng.IntN(min(g.nURLs, recentURLs))]
		// Someone else saw the same thing: another installation, maybe
		// another category or comment; same URL and country, so the same
		// hotline, which is what makes it a sighting.
		s.category = categories[g.rng.IntN(len(categories))]
		s.comment = comments[g.rng.IntN(len(comments))]
		return g.keep(g.request(Duplicate, s, false))
	case p >= 1-g.r.Invalid/2:
		return g.request(UnknownField, g.fresh(), true)
	case p >= 1-g.r.Invalid:
		s := g.fresh()
		if g.seq%2 == 0 {
			s.url = "ftp://files" + g.host() + "/pub/" + g.nonce + "/" + strconv.FormatUint(g.seq, 10)
		} else {
			s.url = "javascript:void(" + strconv.FormatUint(g.seq, 10) + ")"
		}
		return g.request(BadScheme, s, false)
	default:
		s := g.fresh()
		g.urls[g.nURLs%recentURLs] = s
		g.nURLs++
		return g.keep(g.request(Fresh, s, false))
	}
}

// keep remembers a valid request for later retries.
func (g *Generator) keep(r Request) Request {
	g.valids[g.nValid%recentValids] = r
	g.nValid++
	return r
}

func (g *Generator) host() string {
	return strconv.Itoa(g.rng.IntN(997)) + ".example.com"
}

// fresh is a report of a URL unique to this run: many hosts, one path per
// report, sometimes with a query, sometimes with the page it was found on.
func (g *Generator) fresh() submission {
	n := strconv.FormatUint(g.seq, 10)
	s := submission{
		url:         "https://site" + g.host() + "/media/" + g.nonce + "/" + n,
		contentType: contentTypes[g.rng.IntN(len(contentTypes))],
		category:    categories[g.rng.IntN(len(categories))],
		country:     countries[g.rng.IntN(len(countries))],
		comment:     comments[g.rng.IntN(len(comments))],
	}
	if g.seq%3 == 0 {
		s.url += "?v=" + strconv.Itoa(g.rng.IntN(100))
	}
	if g.seq%2 == 0 {
		s.pageURL = "https://forum" + strconv.Itoa(g.rng.IntN(53)) + ".example.net/thread/" + g.nonce + "/" + strconv.FormatUint(g.seq/10, 10)
	}
	return s
}

func (g *Generator) request(k Kind, s submission, extraField bool) Request {
	return Request{
		Kind:  k,
		Token: g.tokens[g.rng.IntN(len(g.tokens))],
		Key:   g.key(),
		Body:  appendBody(make([]byte, 0, 320), &s, extraField),
	}
}

// key is shaped like a UUID (36 characters, as the extension sends) and
// unique within the run: the nonce, then the sequence number.
func (g *Generator) key() string {
	var b [36]byte
	const hex = "0123456789abcdef"
	for i := range b {
		b[i] = '0'
	}
	copy(b[:], g.nonce[:min(len(g.nonce), 8)])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	b[14], b[19] = '4', '8'
	v := g.seq
	for i := 35; i > 23 && v > 0; i-- {
		b[i] = hex[v&15]
		v >>= 4
	}
	return string(b[:])
}

// appendBody encodes s. Every string comes from this package and holds
// only characters that need no JSON escaping, so no escaping is done; the
// tests check the output parses.
func appendBody(b []byte, s *submission, extraField bool) []byte {
	field := func(name, v string) {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":"`...)
		b = append(b, v...)
		b = append(b, `",`...)
	}
	b = append(b, '{')
	field("url", s.url)
	if s.pageURL != "" {
		field("page_url", s.pageURL)
	}
	field("content_type", s.contentType)
	field("category", s.category)
	field("country", s.country)
	if s.comment != "" {
		field("comment", s.comment)
	}
	if extraField {
		field("colour", "red")
	}
	b = append(b, `"client":{"name":"reportit-bench","version":"1.0.0"}}`...)
	return b
}

func alnum(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
