//go:build reportitbenchpprof

// This file is not part of any package in the tree. The benchmark adds it
// to package main of ./server through "go build -overlay" with the tag
// reportitbenchpprof, so that the server it profiles is the real one, with
// one addition: when REPORTIT_BENCH_PPROF_ADDR is set, a pprof listener on
// that address. The production build never contains it.
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

func init() {
	addr := os.Getenv("REPORTIT_BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reportit-bench pprof: %v\n", err)
		os.Exit(2)
	}
	// A mux of its own: nothing is added to http.DefaultServeMux, and the
	// API router never sees these routes.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(os.Stdout, "reportit-bench pprof on http://%s\n", ln.Addr())
	go srv.Serve(ln)
}
