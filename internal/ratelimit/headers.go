package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// Decision is the answer of Allow for one policy.
type Decision struct {
	// Policy is the policy applied. While the store fails it carries the
	// stricter fallback rate, so the headers tell the truth.
	Policy    Policy
	Allowed   bool
	Limit     int64
	Remaining int64
	// Reset is when the current window ends, to the second (stores keep
	// whole seconds).
	Reset time.Time
	// Fallback is true when the decision came from the in-process
	// fallback because the store failed.
	Fallback bool

	at time.Time // when the decision was made, on the Limiter's clock
}

// ResetIn is the time from the decision to the end of the window, never
// negative and never longer than the window.
func (d Decision) ResetIn() time.Duration {
	at := d.at
	if at.IsZero() {
		at = time.Now() // a Decision built by hand
	}
	return min(max(d.Reset.Sub(at), 0), d.Policy.Rate.Period)
}

// resetSeconds is ResetIn rounded up to whole seconds, so that a client
// waiting that long does not come back early.
func (d Decision) resetSeconds() int64 {
	return int64((d.ResetIn() + time.Second - 1) / time.Second)
}

// SetHeaders writes the decision's headers; see the function SetHeaders.
func (d Decision) SetHeaders(h http.Header) { SetHeaders(h, d) }

// SetHeaders writes the IETF RateLimit header fields for the decisions
// that applied to one request, one list member per policy:
//
//	RateLimit-Policy: "reports";q=60;w=3600, "global";q=2000;w=1
//	RateLimit: "reports";r=59;t=3600, "global";r=1999;t=1
//
// and, when any decision refused the request, Retry-After with the longest
// wait among the refusals (at least 1 second), which is when the request
// could first succeed. A policy named twice is written once, with its most
// restrictive decision. Nothing identifying the client is written: no key,
// no partition key. With no decisions, h is left alone.
//
// It is on the path of every limited request, so it allocates twice
// whatever the number of decisions: once for the text of all the fields,
// built on the stack, and once for their value slices. The keys are
// written in canonical form, as Header.Set would, without canonicalising
// them again for every request.
func SetHeaders(h http.Header, ds ...Decision) {
	if len(ds) == 0 {
		return
	}
	var uniq [4]Decision
	ds = uniqueByPolicy(uniq[:0], ds)
	var buf [256]byte
	b := buf[:0]
	for i, d := range ds {
		if i > 0 {
			b = append(b, ", "...)
		}
		// Names are checked by ParsePolicy to need no escaping.
		b = append(append(append(b, '"'), d.Policy.Name...), `";q=`...)
		b = append(strconv.AppendInt(b, d.Limit, 10), ";w="...)
		b = strconv.AppendInt(b, d.Policy.Window(), 10)
	}
	policyEnd := len(b)
	for i, d := range ds {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(append(append(b, '"'), d.Policy.Name...), `";r=`...)
		b = append(strconv.AppendInt(b, d.Remaining, 10), ";t="...)
		b = strconv.AppendInt(b, d.resetSeconds(), 10)
	}
	limitEnd := len(b)
	n := 2
	if d, ok := MostRestrictive(ds...); ok && !d.Allowed {
		b = strconv.AppendInt(b, max(d.resetSeconds(), 1), 10)
		n = 3
	}
	s := string(b)
	vals := make([]string, n)
	vals[0], vals[1] = s[:policyEnd], s[policyEnd:limitEnd]
	h[headerPolicy] = vals[0:1:1]
	h[headerLimit] = vals[1:2:2]
	if n == 3 {
		vals[2] = s[limitEnd:]
		h[headerRetryAfter] = vals[2:3:3]
	}
}

// The header fields SetHeaders writes, in the canonical form of their keys
// (textproto.CanonicalMIMEHeaderKey): that of "RateLimit" is "Ratelimit".
// Field names are case-insensitive on the wire.
const (
	headerPolicy     = "Ratelimit-Policy"
	headerLimit      = "Ratelimit"
	headerRetryAfter = "Retry-After"
)

// MostRestrictive picks, among decisions for one request, the one that
// decides when the client may come back: the refusal with the longest
// wait, or if none refused, the decision with the fewest requests
// remaining (the longer wait breaking ties). ok is false with no
// decisions.
func MostRestrictive(ds ...Decision) (d Decision, ok bool) {
	for i, c := range ds {
		if i == 0 || moreRestrictive(c, d) {
			d = c
		}
	}
	return d, len(ds) > 0
}

func moreRestrictive(a, b Decision) bool {
	if a.Allowed != b.Allowed {
		return !a.Allowed
	}
	if a.Allowed && a.Remaining != b.Remaining {
		return a.Remaining < b.Remaining
	}
	return a.ResetIn() > b.ResetIn()
}

// uniqueByPolicy appends to out, in the first position of each policy name,
// the most restrictive of its decisions. The draft forbids two members for
// one policy.
func uniqueByPolicy(out, ds []Decision) []Decision {
next:
	for _, d := range ds {
		for i := range out {
			if out[i].Policy.Name == d.Policy.Name {
				if moreRestrictive(d, out[i]) {
					out[i] = d
				}
				continue next
			}
		}
		out = append(out, d)
	}
	return out
}
