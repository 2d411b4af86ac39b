package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/hotlineclient"
)

type pullClient struct {
	e          *env
	id, secret string
}

func (e *env) hotlineClient(hotline string) pullClient {
	e.t.Helper()
	c, secret, err := hotlineclient.New(context.Background(), e.store, hotline, "test "+hotline, e.now())
	if err != nil {
		e.t.Fatal(err)
	}
	return pullClient{e, c.ID, secret}
}

func (p pullClient) tokenResp(secret, body string) resp {
	return p.e.do(req{method: "POST", path: "/v1/hotline/token", body: body, headers: map[string]string{
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(p.id+":"+secret)),
		"Content-Type":  "application/x-www-form-urlencoded",
	}})
}

func (p pullClient) token() string {
	p.e.t.Helper()
	r := p.tokenResp(p.secret, "grant_type=client_credentials")
	if r.code != 200 {
		p.e.t.Fatalf("hotline token: %d %s", r.code, r.body)
	}
	return r.json(p.e.t)["access_token"].(string)
}

type page struct {
	Reports []struct {
		ID, URL, Hotline string
		Sightings        struct{ Count int }
		AckedAt          *time.Time `json:"acked_at"`
		HotlineReference string     `json:"hotline_reference"`
	}
	Next string
}

func (p pullClient) list(tok, after string, limit int) (resp, page) {
	r := p.e.do(req{method: "GET", path: fmt.Sprintf("/v1/hotline/reports?after=%s&limit=%d", after, limit),
		headers: map[string]string{"Authorization": "Bearer " + tok}})
	var pg page
	if r.code == 200 {
		json.Unmarshal(r.body, &pg)
	}
	return r, pg
}

func reportFor(country, url string) string {
	return fmt.Sprintf(`{"url":%q,"content_type":"page","category":"csam","country":%q,"client":{"name":"t"}}`, url, country)
}

func TestPullAPI(t *testing.T) {
	e := newEnv(t, options{})
	inst := e.installation()
	de, nl := e.hotlineClient("de-eco-beschwerdestelle"), e.hotlineClient("nl-meldpunt-kinderporno")

	// Credentials.
	wantProblem(t, de.tokenResp("hcs_wrong", "grant_type=client_credentials"), 401, "unauthorized")
	wantProblem(t, de.tokenResp(de.secret, "grant_type=password"), 400, "invalid-grant")
	deTok, nlTok := de.token(), nl.token()

	// Tokens do not cross over: an installation token cannot pull, and a
	// hotline token cannot report.
	r, _ := de.list(inst, "", 10)
	wantProblem(t, r, 401, "unauthorized")
	wantProblem(t, e.submit(deTok, newKey(), goodBody), 401, "unauthorized")

	var deReceipts []map[string]any
	for i := 0; i < 5; i++ {
		a := e.submit(inst, newKey(), reportFor("DE", fmt.Sprintf("https://example.com/de/%d", i)))
		if a.code != 202 {
			t.Fatalf("submit: %d %s", a.code, a.body)
		}
		deReceipts = append(deReceipts, a.json(t))
		e.submit(inst, newKey(), reportFor("NL", fmt.Sprintf("https://example.com/nl/%d", i)))
	}
	// A sighting of the first DE report raises its count.
	if d := e.submit(e.installation(), newKey(), reportFor("DE", "https://example.com/de/0")); d.json(t)["duplicate"] != true {
		t.Fatalf("expected a sighting: %s", d.body)
	}

	// Cursor paging: two pages of 3 and 2, nothing repeated, nothing missed,
	// and only DE's reports.
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; pages < 4; pages++ {
		r, pg := de.list(deTok, cursor, 3)
		if r.code != 200 {
			t.Fatalf("list: %d %s", r.code, r.body)
		}
		for _, rep := range pg.Reports {
			if rep.Hotline != "de-eco-beschwerdestelle" || !strings.Contains(rep.URL, "/de/") {
				t.Fatalf("DE client sees %s (%s)", rep.URL, rep.Hotline)
			}
			if seen[rep.ID] {
				t.Fatalf("report %s listed twice", rep.ID)
			}
			seen[rep.ID] = true
			if strings.HasSuffix(rep.URL, "/de/0") && rep.Sightings.Count != 2 {
				t.Errorf("sightings of the first report = %d, want 2", rep.Sightings.Count)
			}
		}
		cursor = pg.Next
		if len(pg.Reports) == 0 {
			break
		}
	}
	if len(seen) != 5 {
		t.Fatalf("DE client listed %d reports, want 5", len(seen))
	}
	_, nlPage := nl.list(nlTok, "", 100)
	if len(nlPage.Reports) != 5 {
		t.Fatalf("NL client listed %d reports, want 5", len(nlPage.Reports))
	}
	for _, rep := range nlPage.Reports {
		if seen[rep.ID] {
			t.Fatalf("NL client sees DE report %s", rep.ID)
		}
	}

	// Acknowledge: the reporter's status becomes delivered; another
	// hotline cannot acknowledge it; acking twice is fine.
	first := deReceipts[0]
	id := first["id"].(string)
	ack := func(tok string) resp {
		return e.do(req{method: "POST", path: "/v1/hotline/reports/" + id + "/ack", body: `{"reference":"ECO-42"}`,
			headers: map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}})
	}
	wantProblem(t, ack(nlTok), 404, "not-found")
	for i := 0; i < 2; i++ {
		if r := ack(deTok); r.code != 200 {
			t.Fatalf("ack %d: %d %s", i, r.code, r.body)
		}
	}
	st := e.do(req{method: "GET", path: "/v1/reports/" + first["reference"].(string), headers: map[string]string{"Report-Receipt": first["receipt"].(string)}})
	if s := st.json(t); s["status"] != "delivered" || s["delivered_at"] == nil {
		t.Fatalf("status after ack: %s", st.body)
	}
	_, pg := de.list(deTok, "", 1)
	if pg.Reports[0].AckedAt == nil || pg.Reports[0].HotlineReference != "ECO-42" {
		t.Fatalf("listing after ack: %+v", pg.Reports[0])
	}

	// A revoked client's tokens stop working at once.
	if err := e.store.RevokeClient(context.Background(), de.id, e.now()); err != nil {
		t.Fatal(err)
	}
	r, _ = de.list(deTok, "", 10)
	wantProblem(t, r, 401, "unauthorized")
	wantProblem(t, de.tokenResp(de.secret, "grant_type=client_credentials"), 401, "unauthorized")

	// Bad paging parameters are named.
	r, _ = nl.list(nlTok, "", 5000)
	if p := wantProblem(t, r, 422, "invalid-field"); p["field"] != "limit" {
		t.Fatalf("field %v", p["field"])
	}
}
