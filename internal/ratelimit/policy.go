// Package ratelimit applies named rate-limit policies over
// github.com/ulule/limiter/v3 stores, with keys that identify no one and the
// IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers).
//
// Privacy: a store never sees a client identifier. The key of (policy, id)
// is a truncated HMAC under a secret that changes every UTC day, so a dump
// of the store names nobody, and tomorrow's keys cannot be linked to
// today's.
//
// Availability: a failing store (Redis down) never fails a request. The
// limiter falls back to an in-process counter with a stricter rate, counts
// the fallback, and tries the store again after a cool-down. See New.
package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ulule/limiter/v3"
)

// ErrPolicy is the error ParsePolicy and Allow wrap for an unusable policy.
var ErrPolicy = errors.New("invalid rate-limit policy")

// Policy is a named rate: at most Rate.Limit requests per Rate.Period for
// each identifier it is applied to. The name appears in response headers
// and in metrics, so it must not identify anyone.
type Policy struct {
	Name string
	Rate limiter.Rate
}

// maxNameLen bounds a policy name: it is sent in every limited response.
const maxNameLen = 32

// ParsePolicy parses spec in ulule/limiter's "N-PERIOD" form, with PERIOD
// one of S, M, H or D (60-H is sixty an hour). A zero or negative limit is
// refused: it would refuse every request, which is never what a
// configuration means. name must be 1 to 32 characters of A-Z a-z 0-9 . _ -
// so that it is a Structured Fields string with nothing to escape.
func ParsePolicy(name, spec string) (Policy, error) {
	if err := checkName(name); err != nil {
		return Policy{}, err
	}
	s := strings.TrimSpace(spec)
	r, err := limiter.NewRateFromFormatted(s)
	if err != nil {
		return Policy{}, fmt.Errorf("%w %q: %q is not N-PERIOD with PERIOD one of S, M, H, D (for example 60-H)", ErrPolicy, name, spec)
	}
	if r.Limit <= 0 {
		return Policy{}, fmt.Errorf("%w %q: limit in %q must be at least 1 (a zero limit refuses every request)", ErrPolicy, name, spec)
	}
	// Normalise the written form (60-h and +60-H both mean 60-H).
	r.Formatted = strconv.FormatInt(r.Limit, 10) + "-" + strings.ToUpper(s[strings.LastIndexByte(s, '-')+1:])
	return Policy{Name: name, Rate: r}, nil
}

func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: name %q must be 1 to %d characters", ErrPolicy, name, maxNameLen)
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: name %q may only hold A-Z a-z 0-9 . _ -", ErrPolicy, name)
		}
	}
	return nil
}

// check tells whether p can be applied; a zero Policy cannot.
func (p Policy) check() error {
	if err := checkName(p.Name); err != nil {
		return err
	}
	if p.Rate.Limit <= 0 || p.Rate.Period < time.Second {
		return fmt.Errorf("%w %q: needs a limit of at least 1 and a period of at least 1s (use ParsePolicy)", ErrPolicy, p.Name)
	}
	return nil
}

// Window is the policy's period in whole seconds, as sent in the w
// parameter.
func (p Policy) Window() int64 { return int64(p.Rate.Period / time.Second) }

func (p Policy) String() string { return p.Name + " " + p.Rate.Formatted }
