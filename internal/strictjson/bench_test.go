package strictjson

import (
	"encoding/json"
	"testing"
)

// BenchmarkUnmarshal decodes a typical report body.
func BenchmarkUnmarshal(b *testing.B) {
	body := []byte(reportBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var r testReport
		if err := Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalEscaped is the same report with every string escaped,
// the slow path for strings.
func BenchmarkUnmarshalEscaped(b *testing.B) {
	body := []byte(`{"url":"https:\/\/example.com\/a","page_url":"https:\/\/example.com\/","content_type":"im\u0061ge","category":"csam","country":"DE","hotline":"de-eco","comment":"seen in a \"forum\"\n","contact":"","client":{"name":"reportit-extension","version":"1.0.0"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var r testReport
		if err := Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalRefused is the error path: an unknown field, which
// also runs the validation pass.
func BenchmarkUnmarshalRefused(b *testing.B) {
	body := []byte(reportBody[:len(reportBody)-1] + `,"extra":1}`)
	b.ReportAllocs()
	for b.Loop() {
		var r testReport
		if err := Unmarshal(body, &r); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkEncodingJSON is the baseline: encoding/json alone on the same
// body, which any "validate, then encoding/json" design would pay on top
// of its own pass.
func BenchmarkEncodingJSON(b *testing.B) {
	body := []byte(reportBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var r testReport
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
	}
}
