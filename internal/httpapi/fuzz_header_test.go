package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/reportit/reportit/internal/httpapi"
)

// Fuzz targets for the request headers the API reads before anything else:
// Authorization (bearer extraction and token verification, through the
// middleware of both authenticated APIs) and Idempotency-Key. Both run the
// real router; neither reaches the store, so they run at router speed.

// headerLines turns fuzz input into the values of one header field: none,
// one or two lines.
func headerLines(n uint8, first, second string) []string {
	switch n % 3 {
	case 0:
		return nil
	case 1:
		return []string{first}
	}
	return []string{first, second}
}

// deliverable reports whether net/http's server would hand these values to
// a handler: it refuses field values with control characters other than
// HTAB, and trims leading and trailing SP and HTAB.
func deliverable(vals []string) ([]string, bool) {
	out := make([]string, len(vals))
	for i, v := range vals {
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, false
		}
		out[i] = strings.Trim(v, " \t")
	}
	return out, true
}

func problemType(t *testing.T, r resp) string {
	t.Helper()
	var p httpapi.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("%d with a body that is not a problem: %q", r.code, r.body)
	}
	return strings.TrimPrefix(p.Type, httpapi.ProblemTypePrefix)
}

// FuzzAuthorization sends arbitrary Authorization lines to POST /v1/reports
// and GET /v1/hotline/reports. Whatever they hold: no panic and no 5xx;
// every refusal is the one 401 body; and a request gets past
// authentication only with exactly one line, "Bearer" in any case, one
// space, and a token the service issued for that API, nothing else around
// it but white space.
func FuzzAuthorization(f *testing.F) {
	a := newAttackEnv(f)
	profiles := a.profiles()
	valid := map[string]string{ // API -> tokens it accepts
		"reports": a.installation(),
		"hotline": a.pull.token(),
	}
	forged := a.good(profiles[0]) // accepted too: signed by the real key
	refused := a.send(profiles[0], bearer("x"))
	if refused.code != http.StatusUnauthorized {
		f.Fatalf("seed refusal: %d %s", refused.code, refused.body)
	}
	generic := refused.body

	f.Add(uint8(1), "Bearer "+valid["reports"], "")
	f.Add(uint8(1), "bearer "+valid["hotline"], "")
	f.Add(uint8(1), "Bearer "+forged, "")
	f.Add(uint8(2), "Bearer "+valid["reports"], "Bearer "+valid["reports"])
	f.Add(uint8(2), "Basic dXNlcjpwYXNz", "Bearer "+valid["hotline"])
	f.Add(uint8(1), "Bearer  \t"+valid["reports"]+" ", "")
	f.Add(uint8(1), "Bearer "+strings.Replace(valid["reports"], ".", "..", 1), "")
	f.Add(uint8(1), "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "")
	f.Add(uint8(1), "Bearer", "")
	f.Add(uint8(0), "", "")

	f.Fuzz(func(t *testing.T, n uint8, first, second string) {
		a.t = t
		auth := headerLines(n, first, second)
		for _, p := range profiles {
			var hr *http.Request
			if p.name == "reports" {
				// No Idempotency-Key: past authentication the answer is
				// a 400 at once, without touching the store.
				hr = httptest.NewRequest("POST", "/v1/reports", nil)
			} else {
				// limit=0 is refused right after authentication.
				hr = httptest.NewRequest("GET", "/v1/hotline/reports?limit=0", nil)
			}
			hr.RemoteAddr = "192.0.2.10:4321"
			for _, v := range auth {
				hr.Header.Add("Authorization", v)
			}
			rec := httptest.NewRecorder()
			a.handler.ServeHTTP(rec, hr)
			r := resp{rec.Code, rec.Header(), rec.Body.Bytes()}

			if r.code == http.StatusUnauthorized {
				if !bytes.Equal(r.body, generic) {
					t.Fatalf("%s: 401 body %q, want %q", p.name, r.body, generic)
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="reportit"`) {
					t.Fatalf("%s: WWW-Authenticate %q", p.name, r.header.Get("WWW-Authenticate"))
				}
				continue
			}
			// Past authentication.
			switch typ := problemType(t, r); {
			case p.name == "reports" && r.code == 400 && typ == "idempotency-key-missing",
				p.name == "reports" && r.code == 429 && typ == "rate-limited",
				p.name == "hotline" && r.code == 422 && typ == "invalid-field":
			default:
				t.Fatalf("%s: %d %s for Authorization %q", p.name, r.code, r.body, auth)
			}
			if len(auth) != 1 {
				t.Fatalf("%s: authenticated with %d Authorization lines %q", p.name, len(auth), auth)
			}
			v := auth[0]
			tok := ""
			if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				tok = strings.TrimSpace(v[7:])
			}
			if tok != valid[p.name] && (p.name != "reports" || tok != forged) {
				t.Fatalf("%s: authenticated with Authorization %q", p.name, v)
			}
		}
	})
}

// idempotencyModel is the Idempotency-Key rule: one field line (as net/http
// delivers it, trimmed of SP and HTAB), optionally a structured-field
// string in double quotes, holding 1 to 255 printable ASCII characters
// other than space, '"' and '\'.
func idempotencyModel(vals []string) (code string) {
	if len(vals) == 0 || vals[0] == "" {
		return "idempotency-key-missing"
	}
	if len(vals) != 1 {
		return "idempotency-key-invalid"
	}
	k := vals[0]
	if len(k) >= 2 && k[0] == '"' && k[len(k)-1] == '"' {
		k = k[1 : len(k)-1]
	}
	if k == "" || len(k) > 255 {
		return "idempotency-key-invalid"
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return "idempotency-key-invalid"
		}
	}
	return ""
}

// FuzzIdempotencyKey sends arbitrary Idempotency-Key lines with a valid
// token. The body is sent as text/plain, so a key that passes is answered
// 415 by the next check and nothing is stored. The answer must be the one
// idempotencyModel gives, for every input net/http would deliver.
func FuzzIdempotencyKey(f *testing.F) {
	a := newAttackEnv(f)
	tok := a.installation()

	f.Add(uint8(1), "3f1c2b9e-8d4a-4c55-9a61-0b7e5f2d6c1a", "")
	f.Add(uint8(1), `"3f1c2b9e-8d4a-4c55-9a61-0b7e5f2d6c1a"`, "")
	f.Add(uint8(1), `""`, "")
	f.Add(uint8(1), `"`, "")
	f.Add(uint8(1), `"a"b"`, "")
	f.Add(uint8(1), "  key-with-spaces-around\t", "")
	f.Add(uint8(1), "key with spaces", "")
	f.Add(uint8(1), `back\slash`, "")
	f.Add(uint8(1), strings.Repeat("k", 255), "")
	f.Add(uint8(1), strings.Repeat("k", 256), "")
	f.Add(uint8(1), `"`+strings.Repeat("k", 255)+`"`, "")
	f.Add(uint8(1), "clé", "")
	f.Add(uint8(1), "\u00a0key", "")
	f.Add(uint8(2), "a", "b")
	f.Add(uint8(2), "", "b")
	f.Add(uint8(0), "", "")

	f.Fuzz(func(t *testing.T, n uint8, first, second string) {
		a.t = t
		vals, ok := deliverable(headerLines(n, first, second))
		if !ok {
			t.Skip("net/http does not deliver this field value")
		}
		hr := httptest.NewRequest("POST", "/v1/reports", strings.NewReader("{}"))
		hr.RemoteAddr = "192.0.2.10:4321"
		hr.Header.Set("Authorization", "Bearer "+tok)
		hr.Header.Set("Content-Type", "text/plain")
		for _, v := range vals {
			hr.Header.Add("Idempotency-Key", v)
		}
		rec := httptest.NewRecorder()
		a.handler.ServeHTTP(rec, hr)
		r := resp{rec.Code, rec.Header(), rec.Body.Bytes()}

		got := problemType(t, r)
		switch want := idempotencyModel(vals); {
		case want == "" && r.code == http.StatusUnsupportedMediaType && got == "unsupported-media-type":
		case want != "" && r.code == http.StatusBadRequest && got == want:
		default:
			t.Fatalf("Idempotency-Key %q: %d %s, want %q", vals, r.code, got, map[bool]string{true: "accepted", false: want}[want == ""])
		}
	})
}
