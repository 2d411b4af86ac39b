package main

import (
	"testing"
	"time"

	"github.com/reportit/reportit/bench/internal/promtext"
)

func TestConnURLDropsPoolSettings(t *testing.T) {
	got := connURL("postgres://postgres@127.0.0.1:5432/test?sslmode=disable&pool_max_conns=32&pool_min_conns=2")
	if want := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"; got != want {
		t.Errorf("connURL = %q, want %q", got, want)
	}
}

func TestByLabel(t *testing.T) {
	ss := promtext.Samples{
		{Name: "reportit_delivery_attempts_total", Labels: map[string]string{"hotline": "a", "outcome": "delivered"}, Value: 3},
		{Name: "reportit_delivery_attempts_total", Labels: map[string]string{"hotline": "b", "outcome": "delivered"}, Value: 4},
		{Name: "reportit_delivery_attempts_total", Labels: map[string]string{"hotline": "b", "outcome": "busy"}, Value: 1},
		{Name: "other", Labels: map[string]string{"outcome": "delivered"}, Value: 100},
	}
	got := byLabel(ss, "reportit_delivery_attempts_total", "outcome")
	if len(got) != 2 || got["delivered"] != 7 || got["busy"] != 1 {
		t.Errorf("byLabel = %v", got)
	}
	if s := labels(got); s != "delivered 7, busy 1" {
		t.Errorf("labels = %q", s)
	}
	if s := labels(nil); s != "none" {
		t.Errorf("labels(nil) = %q", s)
	}
}

func TestPerSecond(t *testing.T) {
	if got := rates([]int{10, 30, 30}); got != "10 20 0" {
		t.Errorf("rates = %q", got)
	}
	if got := coresEach([]time.Duration{500 * time.Millisecond, 1500 * time.Millisecond}); got != "0.50 1.00" {
		t.Errorf("coresEach = %q", got)
	}
}

func TestValidateDelivery(t *testing.T) {
	o := options{mode: "sqlite", duration: 10 * time.Second, tokens: 1, delivery: true, backlog: 10, fillConns: 1, drainTimeout: time.Minute}
	if err := o.validate(); err != nil {
		t.Errorf("-delivery alone: %v", err)
	}
	o.delivery = false
	if err := o.validate(); err == nil {
		t.Error("no scenario and no -delivery: no error")
	}
	o.delivery, o.backlog = true, 0
	if err := o.validate(); err == nil {
		t.Error("-backlog 0: no error")
	}
	o.backlog, o.mode, o.databaseURL = 10, "postgres", ""
	if err := o.validate(); err == nil {
		t.Error("-mode postgres without a database URL: no error")
	}
}
