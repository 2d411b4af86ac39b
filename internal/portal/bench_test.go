package portal

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/reportit/reportit/internal/webhook"
)

// BenchmarkPrepare is the CPU work of one delivery before the network:
// conversion, encoding and signing. Every attempt, retries included, pays
// it.
func BenchmarkPrepare(b *testing.B) {
	signer, err := webhook.NewSigner(webhook.NewSecret())
	if err != nil {
		b.Fatal(err)
	}
	r := testReport()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p := FromReport(r, Sightings{Count: 3})
		if err := p.Validate(); err != nil {
			b.Fatal(err)
		}
		body, err := p.Encode()
		if err != nil {
			b.Fatal(err)
		}
		h := http.Header{}
		signer.SetHeaders(h, p.ID, now, body)
	}
}

// BenchmarkDeliverLoopback is one whole delivery to an intakesim portal
// over loopback (verification and storage on its side included): the
// ceiling one connection's worth of worker can reach.
func BenchmarkDeliverLoopback(b *testing.B) {
	s := newSim(b)
	signer, err := webhook.NewSigner(s.secret)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{Signer: signer, Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	p := FromReport(testReport(), Sightings{})
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		p.ID = "r-" + strconv.Itoa(i)
		if res := c.Deliver(ctx, s.endpoint(), p); res.Kind != Delivered {
			b.Fatalf("%+v", res)
		}
	}
}
