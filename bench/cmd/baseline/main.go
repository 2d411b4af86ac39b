// Command baseline is the benchmark's yardstick: a bare Gin handler that
// answers 204 to POST /v1/reports, on an http.Server with the same timeouts
// as reportit's. Whatever the load generator gets from it on this machine
// is the most any Gin service could do here; reportit's figures are read
// as a share of it.
//
// It prints "baseline listening on http://ADDR" on stdout, like reportit.
// POST /v1/installations answers 201 with a fixed token so that the load
// generator can run unchanged; GET /readyz answers 200.
//
// With REPORTIT_BENCH_PPROF_ADDR set it also serves pprof on that address,
// for comparing its profile with the server's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Getenv("REPORTIT_BENCH_PPROF_ADDR")); err != nil {
		log.Fatalf("baseline: %v", err)
	}
}

func run(ctx context.Context, addr, pprofAddr string) error {
	if pprofAddr != "" {
		if err := servePprof(pprofAddr); err != nil {
			return err
		}
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/v1/reports", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.POST("/v1/installations", func(c *gin.Context) {
		c.JSON(http.StatusCreated, gin.H{"token": "baseline", "token_type": "Bearer"})
	})
	r.GET("/readyz", func(c *gin.Context) { c.Status(http.StatusOK) })

	// The same limits as reportit's server (server/app.go), so that the
	// two differ only in what the handlers do.
	srv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("baseline listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	fmt.Printf("reportit-bench pprof on http://%s\n", ln.Addr())
	go (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln)
	return nil
}
