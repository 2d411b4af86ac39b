package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

type testClient struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// testReport is the shape of a report submission.
type testReport struct {
	URL         string     `json:"url"`
	PageURL     string     `json:"page_url"`
	ContentType string     `json:"content_type"`
	Category    string     `json:"category"`
	Country     string     `json:"country"`
	Hotline     string     `json:"hotline"`
	Comment     string     `json:"comment"`
	Contact     string     `json:"contact"`
	Client      testClient `json:"client"`
}

const reportBody = `{"url":"https://example.com/a","page_url":"https://example.com/","content_type":"image","category":"csam","country":"DE","hotline":"de-eco","comment":"seen in a forum","contact":"","client":{"name":"reportit-extension","version":"1.0.0"}}`

var wantReport = testReport{
	URL: "https://example.com/a", PageURL: "https://example.com/", ContentType: "image", Category: "csam",
	Country: "DE", Hotline: "de-eco", Comment: "seen in a forum", Client: testClient{Name: "reportit-extension", Version: "1.0.0"},
}

type label string

// kinds has a field of every supported kind.
type kinds struct {
	S      string        `json:"s"`
	B      bool          `json:"b"`
	I8     int8          `json:"i8"`
	I      int           `json:"i"`
	I64    int64         `json:"i64"`
	U8     uint8         `json:"u8"`
	U64    uint64        `json:"u64"`
	F32    float32       `json:"f32"`
	F      float64       `json:"f"`
	P      *string       `json:"p"`
	PP     **int         `json:"pp"`
	Tags   []string      `json:"tags,omitempty"`
	Items  []testClient  `json:"items"`
	Nested *testClient   `json:"nested"`
	Label  label         `json:"label"`
	Grid   [][]int       `json:"grid"`
	NoTag  string        // key "NoTag", exactly
	Skip   string        `json:"-"`
	Dash   string        `json:"-,"` // key "-"
	hidden string        // unexported: never set from JSON
	Ptrs   []*testClient `json:"ptrs"`
}

func ptr[T any](v T) *T { return &v }

func TestUnmarshalAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want kinds
	}{
		{"empty object", `{}`, kinds{}},
		{"whitespace around", " \t\r\n{ \n\"s\" :\t\"x\" }\r\n ", kinds{S: "x"}},
		{"escaped key", `{"\u0073":"x"}`, kinds{S: "x"}},
		{"escaped key with every escape", `{"\u004e\u006f\u0054\u0061\u0067":"x"}`, kinds{NoTag: "x"}},
		{"escapes in value", `{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0000"}`, kinds{S: "a\"b\\c/d\b\f\n\r\té\U0001F600\x00"}},
		{"raw non-ASCII", `{"s":"Grüße, 世界 😀"}`, kinds{S: "Grüße, 世界 😀"}},
		{"escaped U+FFFD is a character", `{"s":"\ufffd"}`, kinds{S: "\uFFFD"}},
		{"long escaped value", `{"s":"` + strings.Repeat(`\n`, 100) + `"}`, kinds{S: strings.Repeat("\n", 100)}},
		{"bool", `{"b":true}`, kinds{B: true}},
		{"bool false", `{"b":false}`, kinds{}},
		{"int limits", `{"i8":-128,"i64":-9223372036854775808,"u8":255,"u64":18446744073709551615}`,
			kinds{I8: -128, I64: math.MinInt64, U8: 255, U64: math.MaxUint64}},
		{"int max", `{"i8":127,"i64":9223372036854775807}`, kinds{I8: 127, I64: math.MaxInt64}},
		{"minus zero", `{"i":-0,"f":-0}`, kinds{}},
		{"floats", `{"f":1.5e3,"f32":-0.25}`, kinds{F: 1500, F32: -0.25}},
		{"float exponent forms", `{"f":1E+2}`, kinds{F: 100}},
		{"float underflow is zero", `{"f":1e-400}`, kinds{}},
		{"float32 max", `{"f32":3.4028235e38}`, kinds{F32: math.MaxFloat32}},
		{"pointer", `{"p":"x"}`, kinds{P: ptr("x")}},
		{"pointer to pointer", `{"pp":5}`, kinds{PP: ptr(ptr(5))}},
		{"nested pointer struct", `{"nested":{"name":"n"}}`, kinds{Nested: &testClient{Name: "n"}}},
		{"empty nested struct", `{"nested":{}}`, kinds{Nested: &testClient{}}},
		{"slice", `{"tags":["a","b"]}`, kinds{Tags: []string{"a", "b"}}},
		{"empty slice is not nil", `{"tags":[]}`, kinds{Tags: []string{}}},
		{"null in slice", `{"tags":["a",null],"ptrs":[null,{}]}`, kinds{Tags: []string{"a", ""}, Ptrs: []*testClient{nil, {}}}},
		{"slice of structs", `{"items":[{"name":"x"},{"version":"2"}]}`, kinds{Items: []testClient{{Name: "x"}, {Version: "2"}}}},
		{"slice of slices", `{"grid":[[1,2],[],[3]]}`, kinds{Grid: [][]int{{1, 2}, {}, {3}}}},
		{"whitespace in arrays", `{"grid":[ [ 1 , 2 ] , [ ] ]}`, kinds{Grid: [][]int{{1, 2}, {}}}},
		{"long slice", `{"tags":[` + strings.TrimSuffix(strings.Repeat(`"t",`, 100), ",") + `]}`, kinds{Tags: slices("t", 100)}},
		{"named string type", `{"label":"l"}`, kinds{Label: "l"}},
		{"untagged field by exact name", `{"NoTag":"x"}`, kinds{NoTag: "x"}},
		{"dash name", `{"-":"x"}`, kinds{Dash: "x"}},
		{"null leaves zero", `{"s":null,"b":null,"i":null,"f":null,"p":null,"pp":null,"tags":null,"items":null,"nested":null,"grid":null}`, kinds{}},
		{"keys out of struct order", `{"u8":1,"s":"x","b":true}`, kinds{S: "x", B: true, U8: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got kinds
			if err := Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatalf("Unmarshal(%s) = %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Unmarshal(%s)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
			// encoding/json must read accepted input the same way (it is the
			// reference for everything but the refusals).
			var std kinds
			if err := json.Unmarshal([]byte(tt.in), &std); err != nil {
				t.Fatalf("encoding/json refuses %s: %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, std) {
				t.Errorf("Unmarshal(%s) differs from encoding/json\n got %+v\n std %+v", tt.in, got, std)
			}
		})
	}
}

func slices(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestUnmarshalReport(t *testing.T) {
	var got testReport
	if err := Unmarshal([]byte(reportBody), &got); err != nil {
		t.Fatal(err)
	}
	if got != wantReport {
		t.Errorf("got %+v, want %+v", got, wantReport)
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"d":`, n) + "null" + strings.Repeat("}", n) }
	tests := []struct {
		name   string
		in     string
		kind   Kind
		field  string
		offset int
		msg    string // the whole message if set
	}{
		// syntax
		{"empty", ``, KindSyntax, "", 0, "invalid JSON at offset 0: the body is empty; expected a JSON object"},
		{"whitespace only", " \n", KindSyntax, "", 2, ""},
		{"unclosed object", `{`, KindSyntax, "", 1, "invalid JSON at offset 1: unexpected end of input"},
		{"key without value", `{"url"}`, KindSyntax, "", 6, `invalid JSON at offset 6: expected ':' after object key, got '}'`},
		{"missing value", `{"url":}`, KindSyntax, "", 7, `invalid JSON at offset 7: expected a JSON value, got '}'`},
		{"trailing comma", `{"url":"a",}`, KindSyntax, "", 11, ""},
		{"missing comma", `{"url":"a" "page_url":"b"}`, KindSyntax, "", 11, `invalid JSON at offset 11: expected ',' or '}' after object member, got '"'`},
		{"single quotes", `{'url':"a"}`, KindSyntax, "", 1, ""},
		{"unquoted key", `{url:"a"}`, KindSyntax, "", 1, ""},
		{"raw control character", "{\"url\":\"a\x01\"}", KindSyntax, "", 9, ""},
		{"raw newline in string", "{\"url\":\"a\nb\"}", KindSyntax, "", 9, ""},
		{"bad escape", `{"url":"\x"}`, KindSyntax, "", 9, ""},
		{"short unicode escape", `{"url":"\u12"}`, KindSyntax, "", 12, ""},
		{"unterminated string", `{"url":"abc`, KindSyntax, "", 11, ""},
		{"truncated unicode escape", `{"url":"\u12`, KindSyntax, "", 12, ""},
		{"bad digit in truncated unicode escape", `{"url":"\u1x`, KindSyntax, "", 11, ""},
		{"truncated surrogate pair", `{"url":"\ud83d\ude0`, KindSyntax, "", 19, ""},
		{"truncated escape", `{"url":"\`, KindSyntax, "", 9, ""},
		{"exponent without digits", `{"f":1e}`, KindSyntax, "", 7, ""},
		{"truncated number", `{"f":-`, KindSyntax, "", 6, ""},
		{"truncated literal", `{"b":fals`, KindSyntax, "", 9, ""},
		{"array without comma", `{"tags":["a" "b"]}`, KindSyntax, "", 13, `invalid JSON at offset 13: expected ',' or ']' after array element, got '"'`},
		{"unclosed array", `{"tags":["a"`, KindSyntax, "", 12, ""},
		{"leading zero", `{"i":01}`, KindSyntax, "", 6, ""},
		{"bare fraction", `{"f":1.}`, KindSyntax, "", 7, ""},
		{"bare minus", `{"i":-}`, KindSyntax, "", 6, ""},
		{"plus sign", `{"i":+1}`, KindSyntax, "", 5, ""},
		{"bad literal", `{"b":tru}`, KindSyntax, "", 8, ""},
		{"NaN", `{"f":NaN}`, KindSyntax, "", 5, ""},
		{"byte order mark", "\uFEFF{}", KindSyntax, "", 0, ""},
		{"comment", `{} // x`, KindTrailingData, "", 3, ""},
		{"invalid array", `[1,`, KindSyntax, "", 3, ""},
		// A problem with the bytes wins over an earlier one with the content.
		{"syntax after wrong type", `{"comment":5,"url":`, KindSyntax, "", 19, ""},
		{"syntax after unknown field", `{"foo":1,}`, KindSyntax, "", 9, ""},
		{"syntax inside wrong-type value", `{"comment":[1,]}`, KindSyntax, "", 14, ""},
		{"syntax after duplicate", `{"url":"a","url":"b"`, KindSyntax, "", 20, ""},

		// invalid-utf8
		{"invalid byte in value", "{\"url\":\"\xff\"}", KindInvalidUTF8, "", 8, "invalid UTF-8 at offset 8: the body must be UTF-8 encoded"},
		{"invalid byte in key", "{\"\xc3\":1}", KindInvalidUTF8, "", 2, ""},
		{"overlong encoding", "{\"url\":\"\xc0\xaf\"}", KindInvalidUTF8, "", 8, ""},
		{"UTF-8 encoded surrogate", "{\"url\":\"\xed\xa0\x80\"}", KindInvalidUTF8, "", 8, ""},
		{"invalid byte after object", "{}\xff", KindInvalidUTF8, "", 2, ""},
		{"invalid byte wins over earlier syntax error", "{x\xff", KindInvalidUTF8, "", 2, ""},
		{"lone high surrogate", `{"url":"\ud800"}`, KindInvalidUTF8, "", 8,
			`invalid UTF-8 at offset 8: \ud800 is an unpaired UTF-16 surrogate, which is not a character`},
		{"lone low surrogate", `{"url":"\uDC00"}`, KindInvalidUTF8, "", 8, ""},
		{"high surrogate then other escape", `{"url":"\ud800\u0041"}`, KindInvalidUTF8, "", 8, ""},
		{"high surrogate then text", `{"url":"\ud800x"}`, KindInvalidUTF8, "", 8, ""},
		{"two high surrogates", `{"url":"\ud800\ud800"}`, KindInvalidUTF8, "", 8, ""},
		{"high surrogate then bad escape", `{"url":"\ud800\uzzzz"}`, KindSyntax, "", 16, ""},
		{"lone surrogate in key", `{"\ud800":1}`, KindInvalidUTF8, "", 2, ""},
		{"lone surrogate in unknown field", `{"foo":"\ud800"}`, KindInvalidUTF8, "", 8, ""},

		// not-object
		{"array", `[]`, KindNotObject, "", 0, "the body must be a JSON object, got array"},
		{"string", ` "s"`, KindNotObject, "", 1, "the body must be a JSON object, got string"},
		{"number", `1`, KindNotObject, "", 0, "the body must be a JSON object, got number"},
		{"boolean", `true`, KindNotObject, "", 0, "the body must be a JSON object, got boolean"},
		{"null", `null`, KindNotObject, "", 0, "the body must be a JSON object, got null"},

		// duplicate-key
		{"duplicate", `{"url":"a","url":"b"}`, KindDuplicateKey, "url", 11, `field "url" appears more than once; send each field once`},
		{"duplicate escaped", `{"url":"a","\u0075rl":"b"}`, KindDuplicateKey, "url", 11, ""},
		{"duplicate null", `{"url":null,"url":null}`, KindDuplicateKey, "url", 12, ""},
		{"duplicate nested", `{"client":{"name":"a","name":"b"}}`, KindDuplicateKey, "client.name", 22, `field "client.name" appears more than once; send each field once`},
		{"duplicate object", `{"client":{},"client":{}}`, KindDuplicateKey, "client", 13, ""},

		// case-variant-key
		{"upper case", `{"URL":"a"}`, KindCaseVariantKey, "URL", 1, `field "URL" is not known: field names are case-sensitive; did you mean "url"?`},
		{"mixed case", `{"Page_Url":"a"}`, KindCaseVariantKey, "Page_Url", 1, ""},
		{"both spellings", `{"url":"a","URL":"b"}`, KindCaseVariantKey, "URL", 11, ""},
		{"case variant nested", `{"client":{"Name":"x"}}`, KindCaseVariantKey, "client.Name", 11,
			`field "client.Name" is not known: field names are case-sensitive; did you mean "client.name"?`},

		// unknown-field
		{"unknown", `{"foo":1}`, KindUnknownField, "foo", 1, `field "foo" is not known; expected one of: "url", "page_url", "content_type", "category", "country", "hotline", "comment", "contact", "client"`},
		{"unknown nested", `{"client":{"os":"linux"}}`, KindUnknownField, "client.os", 11, `field "client.os" is not known; expected one of: "name", "version"`},
		{"empty key", `{"":1}`, KindUnknownField, "", 1, ""},
		{"long key truncated", `{"` + strings.Repeat("é", 40) + `":1}`, KindUnknownField, strings.Repeat("é", 32) + "...", 1, ""},
		{"long key truncated at a character", `{"` + strings.Repeat("€", 30) + `":1}`, KindUnknownField, strings.Repeat("€", 21) + "...", 1, ""},

		// wrong-type
		{"number for string", `{"comment":5}`, KindWrongType, "comment", 11, `field "comment" must be a string, got number`},
		{"string for object", `{"client":"x"}`, KindWrongType, "client", 10, `field "client" must be an object, got string`},
		{"nested wrong type", `{"client":{"name":true}}`, KindWrongType, "client.name", 18, `field "client.name" must be a string, got boolean`},
		{"array for string", `{"url":["a"]}`, KindWrongType, "url", 7, `field "url" must be a string, got array`},
		{"object for string", `{"url":{}}`, KindWrongType, "url", 7, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRefusal(t, tt.in, &testReport{URL: "left over"}, tt.kind, tt.field, tt.offset, tt.msg)
		})
	}
	kindTests := []struct {
		name   string
		in     string
		kind   Kind
		field  string
		offset int
		msg    string
	}{
		{"string for bool", `{"b":"true"}`, KindWrongType, "b", 5, `field "b" must be true or false, got string`},
		{"int8 overflow", `{"i8":128}`, KindWrongType, "i8", 6, `field "i8" must be an integer from -128 to 127, got a number out of range`},
		{"int8 underflow", `{"i8":-129}`, KindWrongType, "i8", 6, ""},
		{"int64 overflow", `{"i64":9223372036854775808}`, KindWrongType, "i64", 7, `field "i64" must be an integer from -9223372036854775808 to 9223372036854775807, got a number out of range`},
		{"huge integer", `{"i":123456789012345678901234567890}`, KindWrongType, "i", 5, ""},
		{"fraction for int", `{"i8":1.5}`, KindWrongType, "i8", 6, `field "i8" must be an integer, got a number with a fraction or exponent`},
		{"exponent for int", `{"i":1e2}`, KindWrongType, "i", 5, ""},
		{"integral fraction for int", `{"i":1.0}`, KindWrongType, "i", 5, ""},
		{"negative for uint", `{"u8":-1}`, KindWrongType, "u8", 6, `field "u8" must be an integer from 0 to 255, got a number out of range`},
		{"minus zero for uint", `{"u8":-0}`, KindWrongType, "u8", 6, ""},
		{"uint8 overflow", `{"u8":256}`, KindWrongType, "u8", 6, ""},
		{"uint64 overflow", `{"u64":18446744073709551616}`, KindWrongType, "u64", 7, `field "u64" must be an integer from 0 to 18446744073709551615, got a number out of range`},
		{"float32 overflow", `{"f32":1e39}`, KindWrongType, "f32", 7, `field "f32" must be a number that fits a 32-bit float, got a number out of range`},
		{"float64 overflow", `{"f":-1e400}`, KindWrongType, "f", 5, ""},
		{"string for number", `{"f":"1"}`, KindWrongType, "f", 5, `field "f" must be a number, got string`},
		{"string for slice", `{"tags":"a"}`, KindWrongType, "tags", 8, `field "tags" must be an array, got string`},
		{"wrong element", `{"tags":["a",1]}`, KindWrongType, "tags[1]", 13, `field "tags[1]" must be a string, got number`},
		{"wrong field in element", `{"items":[{},{"name":1}]}`, KindWrongType, "items[1].name", 21, ""},
		// encoding/json matches these by Unicode simple folding, too.
		{"long s folds to s", `{"\u017f":"x"}`, KindCaseVariantKey, "\u017f", 1, `field "ſ" is not known: field names are case-sensitive; did you mean "s"?`},
		{"unknown field in element", `{"items":[{"x":1}]}`, KindUnknownField, "items[0].x", 11, ""},
		{"wrong inner slice element", `{"grid":[[1],[2,"x"]]}`, KindWrongType, "grid[1][1]", 16, ""},
		{"wrong type through pointer", `{"p":1}`, KindWrongType, "p", 5, `field "p" must be a string, got number`},
		{"wrong type through pointers", `{"pp":"1"}`, KindWrongType, "pp", 6, `field "pp" must be an integer, got string`},
		{"object for pointer struct", `{"nested":[]}`, KindWrongType, "nested", 10, `field "nested" must be an object, got array`},
		{"named string", `{"label":1}`, KindWrongType, "label", 9, ""},
		{"skipped field", `{"Skip":"x"}`, KindUnknownField, "Skip", 1, ""},
		{"unexported field", `{"hidden":"x"}`, KindUnknownField, "hidden", 1, ""},
		{"untagged field is case-sensitive", `{"notag":"x"}`, KindCaseVariantKey, "notag", 1, ""},
		{"pointer case variant", `{"Nested":{}}`, KindCaseVariantKey, "Nested", 1, ""},
		{"case variant in element", `{"items":[{"NAME":""}]}`, KindCaseVariantKey, "items[0].NAME", 11,
			`field "items[0].NAME" is not known: field names are case-sensitive; did you mean "items[0].name"?`},
		{"duplicate in element", `{"items":[{"name":"","name":""}]}`, KindDuplicateKey, "items[0].name", 21, ""},
		{"wrong type in unclosed array", `{"grid":[[1],["x"`, KindSyntax, "", 17, ""},
	}
	for _, tt := range kindTests {
		t.Run(tt.name, func(t *testing.T) {
			checkRefusal(t, tt.in, &kinds{S: "left over"}, tt.kind, tt.field, tt.offset, tt.msg)
		})
	}
	depthTests := []struct {
		name   string
		in     string
		kind   Kind
		offset int
		msg    string
	}{
		{"trailing object", `{} {}`, KindTrailingData, 3, "unexpected data at offset 3 after the JSON object; send exactly one object"},
		{"trailing character", `{"d":null}x`, KindTrailingData, 10, ""},
		{"trailing bracket", "{}\n]", KindTrailingData, 3, ""},
		{"trailing NUL", "{}\x00", KindTrailingData, 2, ""},
		{"trailing after wrong type", `{"d":1} x`, KindTrailingData, 8, ""},
		{"trailing after not-object", `[] x`, KindTrailingData, 3, ""},
		{"too deep", deep(MaxDepth + 1), KindTooDeep, 5 * MaxDepth, fmt.Sprintf("JSON nested more than %d levels deep at offset %d", MaxDepth, 5*MaxDepth)},
		{"too deep in wrong-type value", `{"d":` + strings.Repeat("[", 100), KindTooDeep, 5 + MaxDepth - 1, ""},
		{"too deep in unknown field", `{"x":` + strings.Repeat("[", 100), KindTooDeep, 5 + MaxDepth - 1, ""},
		{"too deep in not-object", strings.Repeat("[", 100), KindTooDeep, MaxDepth, ""},
		{"very deep", strings.Repeat("[", 1_000_000), KindTooDeep, MaxDepth, ""},
	}
	for _, tt := range depthTests {
		t.Run(tt.name, func(t *testing.T) {
			checkRefusal(t, tt.in, &deepNode{D: &deepNode{}}, tt.kind, "", tt.offset, tt.msg)
		})
	}
	t.Run("deepest allowed", func(t *testing.T) {
		var n deepNode
		if err := Unmarshal([]byte(deep(MaxDepth)), &n); err != nil {
			t.Fatal(err)
		}
		depth := 1
		for p := n.D; p != nil; p = p.D {
			depth++
		}
		if depth != MaxDepth {
			t.Errorf("decoded %d levels, want %d", depth, MaxDepth)
		}
	})
}

type deepNode struct {
	D *deepNode `json:"d"`
}

// checkRefusal decodes in into v, which holds data beforehand, and checks
// the refusal and that v was left zero.
func checkRefusal[T any](t *testing.T, in string, v *T, kind Kind, field string, offset int, msg string) {
	t.Helper()
	err := Unmarshal([]byte(in), v)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Unmarshal(%q) = %v, want *Error", in, err)
	}
	if e.Kind != kind || e.Field != field || e.Offset != offset {
		t.Errorf("Unmarshal(%q) = {Kind %q, Field %q, Offset %d}, want {%q, %q, %d}\n(message: %s)",
			in, e.Kind, e.Field, e.Offset, kind, field, offset, e.Message)
	}
	if msg != "" && e.Message != msg {
		t.Errorf("Unmarshal(%q) message\n got %s\nwant %s", in, e.Message, msg)
	}
	if e.Error() != e.Message || e.Message == "" {
		t.Errorf("Error() = %q, Message = %q", e.Error(), e.Message)
	}
	var zero T
	if !reflect.DeepEqual(*v, zero) {
		t.Errorf("Unmarshal(%q) left %+v, want zero value", in, *v)
	}
	if !json.Valid([]byte(in)) && !byteLevel(e.Kind) {
		t.Errorf("Unmarshal(%q): invalid JSON refused as %s, want a byte-level kind", in, e.Kind)
	}
}

func byteLevel(k Kind) bool {
	return (&failure{kind: k}).byteLevel()
}

func TestUnmarshalReplacesTarget(t *testing.T) {
	r := testReport{URL: "old", Comment: "old", Client: testClient{Name: "old"}}
	if err := Unmarshal([]byte(`{"url":"new","comment":null}`), &r); err != nil {
		t.Fatal(err)
	}
	if want := (testReport{URL: "new"}); r != want {
		t.Errorf("got %+v, want %+v: absent and null fields must be zero", r, want)
	}
}

// wide has more fields than the 64-bit set of seen fields holds.
func wide() any {
	fields := make([]reflect.StructField, 70)
	for i := range fields {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[int](), Tag: reflect.StructTag(fmt.Sprintf(`json:"f%d"`, i))}
	}
	return reflect.New(reflect.StructOf(fields)).Interface()
}

func TestUnmarshalWideStruct(t *testing.T) {
	v := wide()
	if err := Unmarshal([]byte(`{"f69":1,"f0":2,"f64":3}`), v); err != nil {
		t.Fatal(err)
	}
	got := reflect.ValueOf(v).Elem()
	if got.Field(69).Int() != 1 || got.Field(0).Int() != 2 || got.Field(64).Int() != 3 {
		t.Errorf("got %+v", v)
	}
	checkRefusalAny(t, `{"f69":1,"f0":2,"f69":3}`, wide(), KindDuplicateKey, "f69")
	checkRefusalAny(t, `{"F65":1}`, wide(), KindCaseVariantKey, "F65")
}

func checkRefusalAny(t *testing.T, in string, v any, kind Kind, field string) {
	t.Helper()
	var e *Error
	if err := Unmarshal([]byte(in), v); !errors.As(err, &e) || e.Kind != kind || e.Field != field {
		t.Errorf("Unmarshal(%s) = %v, want %s on %q", in, err, kind, field)
	}
}

type node struct {
	Value int     `json:"value"`
	Next  *node   `json:"next"`
	Kids  []node  `json:"kids"`
	Back  []*node `json:"back"`
}

func TestUnmarshalRecursiveType(t *testing.T) {
	var n node
	if err := Unmarshal([]byte(`{"value":1,"next":{"value":2,"kids":[{"value":3}]}}`), &n); err != nil {
		t.Fatal(err)
	}
	want := node{Value: 1, Next: &node{Value: 2, Kids: []node{{Value: 3}}}}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("got %+v, want %+v", n, want)
	}
	checkRefusalAny(t, `{"next":{"next":{"Value":1}}}`, &node{}, KindCaseVariantKey, "next.next.Value")
}

type (
	selfPointer   *selfPointer
	withMap       struct{ M map[string]string }
	withInterface struct{ X any }
	withTime      struct{ T time.Time }
	withBytes     struct{ B []byte }
	withArray     struct{ A [2]int }
	withNumber    struct{ N json.Number }
	withStringOpt struct {
		N int `json:"n,string"`
	}
	withCaseOpt struct {
		N int `json:"n,case:ignore"`
	}
	withCollision struct {
		A string `json:"url"`
		B string `json:"URL"`
	}
	withBadTag struct {
		A string `json:"a\"b"`
	}
	Embedded     struct{ E string }
	withEmbedded struct {
		Embedded
	}
	withNestedBad struct {
		C []withMap `json:"c"`
	}
	withSelfPointer struct {
		P selfPointer `json:"p"`
	}
	withChan        struct{ C chan int }
	withEmbeddedPtr struct {
		*Embedded
	}
	// encoding/json ignores an embedded unexported non-struct, and so do we.
	withIgnoredEmbedded struct {
		label
		S string `json:"s"`
	}
	empty struct{}
)

// sameNameTwice is built at run time because vet rightly refuses the
// declaration.
func sameNameTwice() any {
	f := reflect.StructField{Name: "A", Type: reflect.TypeFor[string](), Tag: `json:"x"`}
	g := f
	g.Name = "B"
	return reflect.New(reflect.StructOf([]reflect.StructField{f, g})).Interface()
}

func TestUnmarshalUnsupportedTarget(t *testing.T) {
	var n int
	tests := []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"nil pointer", (*testReport)(nil)},
		{"not a pointer", testReport{}},
		{"pointer to int", &n},
		{"pointer to pointer", ptr(&testReport{})},
		{"map field", &withMap{}},
		{"interface field", &withInterface{}},
		{"UnmarshalJSON type", &withTime{}},
		{"byte slice", &withBytes{}},
		{"array", &withArray{}},
		{"json.Number", &withNumber{}},
		{"string option", &withStringOpt{}},
		{"unknown option", &withCaseOpt{}},
		{"names differing in case", &withCollision{}},
		{"same name twice", sameNameTwice()},
		{"invalid tag name", &withBadTag{}},
		{"promoted fields", &withEmbedded{}},
		{"nested unsupported", &withNestedBad{}},
		{"pointer to itself", &withSelfPointer{}},
		{"channel", &withChan{}},
		{"promoted fields through pointer", &withEmbeddedPtr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second time from the cache
				err := Unmarshal([]byte(`{}`), tt.v)
				if !errors.Is(err, ErrUnsupportedTarget) {
					t.Fatalf("Unmarshal(%T) = %v, want ErrUnsupportedTarget", tt.v, err)
				}
				var e *Error
				if errors.As(err, &e) {
					t.Errorf("Unmarshal(%T) = %v: a programming error must not be an *Error", tt.v, err)
				}
			}
		})
	}
}

func TestUnmarshalOddStructs(t *testing.T) {
	var w withIgnoredEmbedded
	if err := Unmarshal([]byte(`{"s":"x"}`), &w); err != nil || w.S != "x" {
		t.Errorf("got %+v, %v", w, err)
	}
	checkRefusalAny(t, `{"label":"x"}`, &withIgnoredEmbedded{}, KindUnknownField, "label")

	var e empty
	if err := Unmarshal([]byte(` {} `), &e); err != nil {
		t.Error(err)
	}
	err := Unmarshal([]byte(`{"x":1}`), &e)
	if want := `field "x" is not known; this object takes no fields`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestUnmarshalConcurrent(t *testing.T) {
	// Types not used elsewhere, so that the plans are built concurrently.
	type c2 struct {
		V string `json:"v"`
	}
	type c1 struct {
		C []c2 `json:"c"`
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var v c1
			if err := Unmarshal([]byte(`{"c":[{"v":"x"}]}`), &v); err != nil || len(v.C) != 1 || v.C[0].V != "x" {
				t.Errorf("got %+v, %v", v, err)
			}
		})
	}
	wg.Wait()
}
