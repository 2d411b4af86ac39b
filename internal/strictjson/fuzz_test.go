package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// fuzzReport is the report body plus a field of each other supported kind,
// so that the fuzzer reaches numbers, pointers and slices too.
type fuzzReport struct {
	URL         string     `json:"url"`
	PageURL     string     `json:"page_url"`
	ContentType string     `json:"content_type"`
	Category    string     `json:"category"`
	Country     string     `json:"country"`
	Hotline     string     `json:"hotline"`
	Comment     string     `json:"comment"`
	Contact     string     `json:"contact"`
	Client      testClient `json:"client"`

	Tags    []string     `json:"tags"`
	Count   *int8        `json:"count"`
	Size    uint16       `json:"size"`
	Score   float32      `json:"score"`
	Weight  float64      `json:"weight"`
	Flag    bool         `json:"flag"`
	Mirrors []testClient `json:"mirrors"`
	Parent  *fuzzReport  `json:"parent"`
}

var validKinds = map[Kind]bool{
	KindSyntax: true, KindInvalidUTF8: true, KindNotObject: true, KindDuplicateKey: true, KindCaseVariantKey: true,
	KindUnknownField: true, KindWrongType: true, KindTrailingData: true, KindTooDeep: true,
}

func FuzzUnmarshal(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzUnmarshal.
	f.Fuzz(func(t *testing.T, data []byte) {
		var got fuzzReport
		err := Unmarshal(data, &got)
		stdValid := json.Valid(data)

		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if !validKinds[e.Kind] || e.Message == "" || e.Error() != e.Message {
				t.Fatalf("malformed error %#v", e)
			}
			if e.Offset < 0 || e.Offset > len(data) {
				t.Fatalf("offset %d outside input of %d bytes: %v", e.Offset, len(data), e)
			}
			byteLvl := byteLevel(e.Kind)
			if byteLvl && e.Field != "" {
				t.Fatalf("%s error with field %q", e.Kind, e.Field)
			}
			if !stdValid && !byteLvl {
				t.Fatalf("invalid JSON refused as %s, not as a problem with the bytes: %v", e.Kind, e)
			}
			if stdValid && (e.Kind == KindSyntax || e.Kind == KindTrailingData) {
				t.Fatalf("encoding/json finds the input valid, we say %s: %v", e.Kind, e)
			}
			if e.Kind == KindInvalidUTF8 && utf8.Valid(data) && !surrogateEscapeAt(data, e.Offset) {
				t.Fatalf("invalid-utf8 for UTF-8 input, not at a surrogate escape: %v", e)
			}
			if e.Kind == KindTooDeep && (e.Offset >= len(data) || data[e.Offset] != '{' && data[e.Offset] != '[') {
				t.Fatalf("too-deep not at an opening bracket: %v", e)
			}
			if !reflect.DeepEqual(got, fuzzReport{}) {
				t.Fatalf("refused input left %+v", got)
			}
			return
		}

		if !stdValid {
			t.Fatalf("accepted input that encoding/json finds invalid")
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8")
		}
		// encoding/json reads what we accept the same way.
		var std fuzzReport
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("encoding/json refuses accepted input: %v", err)
		}
		if !reflect.DeepEqual(got, std) {
			t.Fatalf("decoded differently from encoding/json\n got %+v\n std %+v", got, std)
		}
		// And the result round-trips.
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var again fuzzReport
		if err := Unmarshal(out, &again); err != nil {
			t.Fatalf("refused own round trip %s: %v", out, err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip changed the value\n got %+v\nagain %+v", got, again)
		}
	})
}

// surrogateEscapeAt reports whether data holds \uD800-\uDFFF at i.
func surrogateEscapeAt(data []byte, i int) bool {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return false
	}
	r, f := hexEscape(data, i)
	return f == nil && 0xd800 <= r && r <= 0xdfff
}

// FuzzRoundTrip checks acceptance from the other side: whatever values a
// report holds, json.Marshal's encoding of it is accepted and decodes to the
// same values. FuzzUnmarshal mostly explores refusals; this reaches the
// string unescaping and number parsing with arbitrary content.
func FuzzRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, url, comment, tag string, count int8, size uint16, score float32, weight float64, flag bool) {
		in := fuzzReport{
			URL: url, Comment: comment, Client: testClient{Name: tag}, Tags: []string{tag, url},
			Count: &count, Size: size, Score: score, Weight: weight, Flag: flag,
			Parent: &fuzzReport{Mirrors: []testClient{{Version: comment}}},
		}
		body, err := json.Marshal(in)
		if err != nil {
			return // NaN and infinities have no JSON form
		}
		// json.Marshal replaced invalid UTF-8 with U+FFFD; compare with what
		// it actually sent.
		var want fuzzReport
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("encoding/json refuses its own output: %v", err)
		}
		var got fuzzReport
		if err := Unmarshal(body, &got); err != nil {
			t.Fatalf("refused %s: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %s differently\n got %+v\nwant %+v", body, got, want)
		}
	})
}

// FuzzKey checks how keys are matched against encoding/json, which matches
// case-insensitively: the key is accepted only if it is exactly a field
// name, refused as a case variant exactly when encoding/json would have
// matched it anyway, and the same whether or not it is written with \u
// escapes.
func FuzzKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, key string) {
		plain, err := json.Marshal(map[string]any{key: nil})
		if err != nil {
			t.Fatal(err)
		}
		var decoded map[string]any
		if err := json.Unmarshal(plain, &decoded); err != nil {
			t.Fatal(err)
		}
		for k := range decoded {
			key = k // what the body says, after U+FFFD replacement
		}
		escaped := []byte(`{"`)
		for _, r := range key {
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				escaped = fmt.Appendf(escaped, `\u%04x\u%04x`, r1, r2)
			} else {
				escaped = fmt.Appendf(escaped, `\u%04X`, r)
			}
		}
		escaped = append(escaped, `":null}`...)

		stdDec := json.NewDecoder(bytes.NewReader(plain))
		stdDec.DisallowUnknownFields()
		var std fuzzReport
		stdMatches := stdDec.Decode(&std) == nil
		exact := false
		for _, f := range reflect.VisibleFields(reflect.TypeFor[fuzzReport]()) {
			exact = exact || f.Tag.Get("json") == key
		}

		for _, body := range [][]byte{plain, escaped} {
			var got fuzzReport
			err := Unmarshal(body, &got)
			var e *Error
			switch {
			case exact && err != nil:
				t.Fatalf("%s: refused field name %q: %v", body, key, err)
			case exact:
			case !errors.As(err, &e):
				t.Fatalf("%s: key %q: got %v, want an *Error", body, key, err)
			case stdMatches && e.Kind != KindCaseVariantKey:
				t.Fatalf("%s: encoding/json matches %q to a field; got %s, want %s", body, key, e.Kind, KindCaseVariantKey)
			case !stdMatches && e.Kind != KindUnknownField:
				t.Fatalf("%s: key %q names no field; got %s, want %s", body, key, e.Kind, KindUnknownField)
			case e.Offset != 1:
				t.Fatalf("%s: offset %d, want 1", body, e.Offset)
			}
		}
	})
}
