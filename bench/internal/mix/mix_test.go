package mix

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func newGen(t *testing.T, r Ratios) *Generator {
	t.Helper()
	g, err := New(42, "abc123", []string{"t1", "t2", "t3"}, r)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nonce  string
		tokens []string
		r      Ratios
	}{
		{"no tokens", "n", nil, DefaultRatios},
		{"empty nonce", "", []string{"t"}, DefaultRatios},
		{"nonce with dash", "a-b", []string{"t"}, DefaultRatios},
		{"nonce too long", strings.Repeat("a", 17), []string{"t"}, DefaultRatios},
		{"negative ratio", "n", []string{"t"}, Ratios{Duplicate: -0.1}},
		{"ratios over 1", "n", []string{"t"}, Ratios{Duplicate: 0.6, Retry: 0.3, Invalid: 0.2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(1, tc.nonce, tc.tokens, tc.r); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestProportions(t *testing.T) {
	g := newGen(t, DefaultRatios)
	const n = 200_000
	var counts [numKinds]int
	for range n {
		counts[g.Next().Kind]++
	}
	want := map[Kind]float64{
		Fresh:        1 - DefaultRatios.Duplicate - DefaultRatios.Retry - DefaultRatios.Invalid,
		Duplicate:    DefaultRatios.Duplicate,
		Retry:        DefaultRatios.Retry,
		BadScheme:    DefaultRatios.Invalid / 2,
		UnknownField: DefaultRatios.Invalid / 2,
	}
	for k, w := range want {
		got := float64(counts[k]) / n
		if math.Abs(got-w) > 0.005 {
			t.Errorf("%v: share %.4f, want %.4f", k, got, w)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := newGen(t, DefaultRatios), newGen(t, DefaultRatios)
	for i := range 5000 {
		x, y := a.Next(), b.Next()
		if x.Kind != y.Kind || x.Key != y.Key || x.Token != y.Token || !bytes.Equal(x.Body, y.Body) {
			t.Fatalf("request %d differs: %+v vs %+v", i, x, y)
		}
	}
}

// wireReport is the API's request body, with unknown fields collected so
// the test can tell which requests carry one.
type wireReport struct {
	URL         string `json:"url"`
	PageURL     string `json:"page_url"`
	ContentType string `json:"content_type"`
	Category    string `json:"category"`
	Country     string `json:"country"`
	Comment     string `json:"comment"`
	Client      struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"client"`
}

func decode(t *testing.T, body []byte, strict bool) wireReport {
	t.Helper()
	var w wireReport
	d := json.NewDecoder(bytes.NewReader(body))
	if strict {
		d.DisallowUnknownFields()
	}
	if err := d.Decode(&w); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return w
}

func TestRequestsMeanWhatTheirKindSays(t *testing.T) {
	g := newGen(t, Ratios{Duplicate: 0.2, Retry: 0.1, Invalid: 0.2})
	keys := map[string][]byte{}   // key -> body of the first request with it
	freshURLs := map[string]int{} // url -> times sent as Fresh
	seen := map[Kind]int{}
	for range 20_000 {
		r := g.Next()
		seen[r.Kind]++
		if r.Key == "" || len(r.Key) != 36 || r.Token == "" {
			t.Fatalf("bad key or token: %+v", r)
		}
		first, dup := keys[r.Key]
		if r.Kind == Retry {
			if !dup || !bytes.Equal(first, r.Body) {
				t.Fatalf("retry %q is not a resend of an earlier request", r.Key)
			}
			continue
		}
		if dup {
			t.Fatalf("%v reuses key %q", r.Kind, r.Key)
		}
		keys[r.Key] = r.Body
		w := decode(t, r.Body, r.Kind != UnknownField)
		switch r.Kind {
		case Fresh:
			freshURLs[w.URL]++
			if freshURLs[w.URL] > 1 {
				t.Fatalf("fresh URL %q sent twice", w.URL)
			}
		case Duplicate:
			if freshURLs[w.URL] == 0 {
				t.Fatalf("duplicate URL %q was never sent fresh", w.URL)
			}
		case BadScheme:
			if strings.HasPrefix(w.URL, "http") {
				t.Fatalf("bad-scheme URL %q is http(s)", w.URL)
			}
		case UnknownField:
			if !bytes.Contains(r.Body, []byte(`"colour"`)) {
				t.Fatalf("unknown-field body %s has no unknown field", r.Body)
			}
		}
		if r.Kind != BadScheme && !strings.HasPrefix(w.URL, "https://") {
			t.Fatalf("%v URL %q", r.Kind, w.URL)
		}
		if w.Client.Name == "" || w.Country == "" || w.ContentType == "" || w.Category == "" {
			t.Fatalf("incomplete body %s", r.Body)
		}
	}
	for _, k := range Kinds {
		if seen[k] == 0 {
			t.Errorf("no %v generated", k)
		}
	}
}

func TestKindCodes(t *testing.T) {
	for _, k := range Kinds {
		got, ok := KindOf(k.Code())
		if !ok || got != k {
			t.Errorf("KindOf(%q) = %v, %v; want %v", k.Code(), got, ok, k)
		}
	}
	if _, ok := KindOf('x'); ok {
		t.Error("KindOf('x') found a kind")
	}
	for _, tc := range []struct {
		k     Kind
		valid bool
	}{{Fresh, true}, {Duplicate, true}, {Retry, true}, {BadScheme, false}, {UnknownField, false}} {
		if tc.k.Valid() != tc.valid {
			t.Errorf("%v.Valid() = %v", tc.k, !tc.valid)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g, err := New(1, "bench", []string{"t1", "t2"}, DefaultRatios)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
}
