package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/reportit/reportit/internal/clientip"
	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/httpapi"
	"github.com/reportit/reportit/internal/intake"
	"github.com/reportit/reportit/internal/ratelimit"
	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/token"
)

// BenchmarkSubmitBeforeStore measures POST /v1/reports through the real
// router, token check, limiter, body decoding and response, with storage
// replaced by an answer given at once, so that allocs/op is what a request
// costs before storage (issue 6: under 40).
//
//   - router: the HTTP stack alone, with a fake intake service;
//   - intake: the real intake service (validation, canonical URL, routing,
//     keyed hashes, ids) over a fake store.
//
// The logger is the server's (JSON, Info): the "report accepted" line is
// part of the cost.
func BenchmarkSubmitBeforeStore(b *testing.B) {
	b.Run("router", func(b *testing.B) {
		benchmarkSubmit(b, func(d *hotline.Directory) httpapi.Reports { return fakeReports{dir: d} })
	})
	b.Run("intake", func(b *testing.B) {
		benchmarkSubmit(b, func(d *hotline.Directory) httpapi.Reports {
			svc, err := intake.New(acceptAll{}, d, bytes.Repeat([]byte{7}, 32), nil)
			if err != nil {
				b.Fatal(err)
			}
			return svc
		})
	})
}

func benchmarkSubmit(b *testing.B, reports func(*hotline.Directory) httpapi.Reports) {
	d, err := hotline.Seed()
	if err != nil {
		b.Fatal(err)
	}
	keys, err := token.OpenKeyring(filepath.Join(b.TempDir(), "keys"), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	pol := func(name, spec string) ratelimit.Policy {
		p, err := ratelimit.ParsePolicy(name, spec)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	tokens := installations(b, keys, "reportit", time.Now)
	h := httpapi.New(httpapi.Deps{
		Reports:  reports(d),
		Tokens:   tokens,
		Limiter:  ratelimit.New(memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: "limiter"}), bytes.Repeat([]byte{8}, 32)),
		Policies: httpapi.Policies{Tokens: pol("tokens", "1000-H"), Reports: pol("reports", "100000000-H"), Global: pol("global", "100000000-H")},
		ClientIP: clientip.New(nil),
		Registry: prometheus.NewRegistry(),
		Log:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	// A handful of installations, as many clients would be; their tokens
	// are verified once and then found in the token cache, as in service.
	auths := make([][]string, 8)
	for i := range auths {
		tok, _, err := tokens.NewInstallation()
		if err != nil {
			b.Fatal(err)
		}
		auths[i] = []string{"Bearer " + tok}
	}
	body := []byte(`{"url":"https://bench.example/some/path?id=42","page_url":"https://bench.example/","content_type":"image",` +
		`"category":"csam","country":"DE","comment":"seen in a forum thread","client":{"name":"reportit-extension","version":"1.4.0"}}`)
	idem := make([][]string, 1024)
	for i := range idem {
		idem[i] = []string{fmt.Sprintf("5f0c6c36-8f1e-4c2b-9d55-%012d", i)}
	}
	// The request and recorder are built outside the measured loop where
	// the server would not allocate them per request either (net/http
	// reuses its buffers); their reset is inside it.
	req := httptest.NewRequest(http.MethodPost, "/v1/reports", nil)
	req.RemoteAddr = "192.0.2.10:4321"
	req.Header.Set("Content-Type", "application/json")
	rd := &reusableBody{}
	rec := &recorder{h: make(http.Header)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req.Header["Authorization"] = auths[i%len(auths)]
		req.Header["Idempotency-Key"] = idem[i%len(idem)]
		rd.Reset(body)
		req.Body = rd
		req.ContentLength = int64(len(body))
		rec.reset()
		h.ServeHTTP(rec, req)
		if rec.code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.code, rec.body.String())
		}
		i++
	}
}

// reusableBody is a request body that can be reset, so that the loop
// does not allocate one per request (io.NopCloser would).
type reusableBody struct{ bytes.Reader }

func (*reusableBody) Close() error { return nil }

// recorder is a reusable http.ResponseWriter: httptest.ResponseRecorder
// allocates a header map and a body buffer of its own for every request,
// which would count against the handlers.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}
func (r *recorder) reset() {
	clear(r.h)
	r.code = 0
	r.body.Reset()
}

// fakeReports answers every submission with the same receipt.
type fakeReports struct{ dir *hotline.Directory }

func (f fakeReports) Submit(_ context.Context, _, _ string, s report.Submission) (intake.Receipt, error) {
	h, _ := f.dir.Get("de-eco")
	if h == nil {
		h = &hotline.Hotline{ID: "de-eco"}
	}
	return intake.Receipt{
		Accepted: report.Accepted{
			ID: "0190a4f6-0000-7000-8000-000000000001", Reference: "RIT-7KQ4-M2XD-9F3B", HotlineID: h.ID,
			ReceivedAt: time.Unix(1700000000, 0).UTC(), PrimaryID: "0190a4f6-0000-7000-8000-000000000001",
		},
		Secret:  "receipt-secret-receipt-",
		Hotline: h,
	}, nil
}

func (f fakeReports) Status(context.Context, string, string) (report.StatusView, *hotline.Hotline, error) {
	return report.StatusView{}, nil, report.ErrNotFound
}

func (f fakeReports) Directory() *hotline.Directory { return f.dir }

// acceptAll is a store that accepts every report at once, as new.
type acceptAll struct{}

func (acceptAll) Accept(_ context.Context, r report.NewReport, _ time.Duration) (report.Accepted, error) {
	if strings.TrimSpace(r.URL) == "" {
		return report.Accepted{}, fmt.Errorf("empty URL")
	}
	return report.Accepted{ID: r.ID, Reference: r.Reference, HotlineID: r.HotlineID, ReceivedAt: r.ReceivedAt, PrimaryID: r.ID}, nil
}
func (acceptAll) Status(context.Context, string) (report.StatusView, error) {
	return report.StatusView{}, report.ErrNotFound
}
func (acceptAll) Ping(context.Context) error { return nil }
func (acceptAll) Close() error               { return nil }
