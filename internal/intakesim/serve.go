package intakesim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// shutdownGrace is how long Serve lets requests in flight finish when its
// context ends.
const shutdownGrace = 5 * time.Second

// Serve serves the portal on ln until ctx ends, then shuts down gracefully
// and returns nil. While the portal is down in DownRefuse mode it closes
// the listener and every connection, so that senders get "connection
// refused", and listens again on the same address when the period ends
// (or SetDown/SetFaults end it). The admin endpoints are unreachable
// meanwhile. Serve takes ownership of ln; call it once.
func (p *Portal) Serve(ctx context.Context, ln net.Listener) error {
	network, addr := ln.Addr().Network(), ln.Addr().String()
	for {
		if ln == nil {
			if !p.waitUp(ctx) {
				return nil
			}
			var err error
			if ln, err = net.Listen(network, addr); err != nil {
				return fmt.Errorf("intakesim: listen again on %s: %w", addr, err)
			}
		}
		srv := &http.Server{
			Handler:           p,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		}
		errc := make(chan error, 1)
		go func(l net.Listener) { errc <- srv.Serve(l) }(ln)

		refuse, err := p.waitRefuse(ctx, errc)
		switch {
		case err != nil:
			srv.Close()
			return fmt.Errorf("intakesim: serve: %w", err)
		case refuse:
			srv.Close() // closes ln and every connection
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("intakesim: serve: %w", err)
			}
			ln = nil
		default: // ctx ended
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			err := srv.Shutdown(sctx)
			cancel()
			if err != nil {
				srv.Close()
			}
			<-errc
			return nil
		}
	}
}

// waitRefuse waits until the portal goes down in refuse mode (true), ctx
// ends (false, nil) or the server fails (its error).
func (p *Portal) waitRefuse(ctx context.Context, errc <-chan error) (bool, error) {
	for {
		if p.refusing() > 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, nil
		case err := <-errc:
			if err == nil {
				err = errors.New("server stopped")
			}
			return false, err
		case <-p.changed:
		}
	}
}

// waitUp waits until the refuse period is over (true) or ctx ends (false).
func (p *Portal) waitUp(ctx context.Context) bool {
	for {
		left := p.refusing()
		if left <= 0 {
			return true
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		case <-p.changed:
			t.Stop()
		}
	}
}
