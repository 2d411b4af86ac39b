// Package promtext reads the samples of a Prometheus text exposition (what
// GET /metrics answers), enough for the benchmark to read counters such as
// reportit_reports_accepted_total and go_memstats_mallocs_total. It skips
// comments and keeps no types or help text.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sample is one line of the exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is a parsed exposition.
type Samples []Sample

// Parse reads an exposition.
func Parse(r io.Reader) (Samples, error) {
	var out Samples
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("promtext: line %d: %w", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseLine(line string) (Sample, error) {
	var s Sample
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.Name, line = line[:end], line[end:]
	if line[0] == '{' {
		var err error
		if s.Labels, line, err = parseLabels(line[1:]); err != nil {
			return s, err
		}
	}
	f := strings.Fields(line) // value [timestamp]
	if len(f) < 1 || len(f) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp, got %q", line)
	}
	v, err := strconv.ParseFloat(f[0], 64) // also reads NaN, +Inf, -Inf
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

// parseLabels reads `a="x",b="y"}` and returns what follows the brace.
func parseLabels(in string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		in = strings.TrimLeft(in, " ,")
		if strings.HasPrefix(in, "}") {
			return labels, in[1:], nil
		}
		eq := strings.IndexByte(in, '=')
		if eq <= 0 || len(in) < eq+2 || in[eq+1] != '"' {
			return nil, "", fmt.Errorf("malformed labels at %q", in)
		}
		name := strings.TrimSpace(in[:eq])
		in = in[eq+2:]
		var v strings.Builder
		closed := false
		for i := 0; i < len(in); i++ {
			c := in[i]
			if c == '\\' && i+1 < len(in) {
				i++
				switch in[i] {
				case 'n':
					v.WriteByte('\n')
				default: // \\ and \"
					v.WriteByte(in[i])
				}
				continue
			}
			if c == '"' {
				in, closed = in[i+1:], true
				break
			}
			v.WriteByte(c)
		}
		if !closed {
			return nil, "", fmt.Errorf("unterminated label value for %s", name)
		}
		labels[name] = v.String()
	}
}

// Sum adds the values of the samples named name whose labels include every
// pair of match (nil matches all). ok is false if no sample matched.
func (ss Samples) Sum(name string, match map[string]string) (sum float64, ok bool) {
next:
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		for k, v := range match {
			if s.Labels[k] != v {
				continue next
			}
		}
		sum += s.Value
		ok = true
	}
	return sum, ok
}
