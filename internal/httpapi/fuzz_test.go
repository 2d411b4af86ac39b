package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReportBody drives the real router, over a real SQLite file, with
// arbitrary report bodies: malformed input must never cause a panic or a
// 5xx, and anything accepted must be retrievable with its receipt.
func FuzzReportBody(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/report-bodies/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(goodBody)
	e := newEnv(f, options{})
	tok := e.installation()
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		r := e.submit(tok, newKey(), body)
		if r.code >= 500 {
			t.Fatalf("%d for body %q: %s", r.code, body, r.body)
		}
		if r.code == http.StatusAccepted {
			a := r.json(t)
			st := e.do(req{method: "GET", path: "/v1/reports/" + a["reference"].(string), headers: map[string]string{"Report-Receipt": a["receipt"].(string)}})
			if st.code != 200 {
				t.Fatalf("accepted report not found: %d", st.code)
			}
		} else if r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("refusal %d is not a problem: %s", r.code, r.body)
		}
	})
}
