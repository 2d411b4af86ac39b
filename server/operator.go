package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/reportit/reportit/internal/config"
	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/hotlineclient"
)

// Operator commands: they open the same store the server uses (PostgreSQL
// when REPORTIT_DATABASE_URL is set). With SQLite they may run while the
// server runs (WAL allows it; writes wait briefly).

func openStoreFor(name string, args []string, getenv func(string) string) (backend, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr(getenv, "REPORTIT_DATA_DIR", config.DefaultDataDir), "data directory (REPORTIT_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	// The server's configuration, for the database URL (and its _FILE).
	cfg, err := config.Load(name, []string{"-data-dir", *dataDir}, getenv)
	if err != nil {
		return nil, nil, err
	}
	s, err := openBackend(context.Background(), cfg)
	return s, fs.Args(), err
}

const hotlineClientUsage = `usage:
  reportit hotline-client create [-data-dir DIR] HOTLINE-ID NAME   prints the client id and secret (shown once)
  reportit hotline-client revoke [-data-dir DIR] CLIENT-ID
  reportit hotline-client list   [-data-dir DIR]`

// hotlineClient creates, revokes and lists the clients hotlines use to pull
// their reports.
func hotlineClient(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(hotlineClientUsage)
	}
	sub := args[0]
	store, rest, err := openStoreFor("reportit hotline-client "+sub, args[1:], getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx := context.Background()
	switch {
	case sub == "create" && len(rest) == 2:
		dir, err := hotline.Seed()
		if err != nil {
			return err
		}
		if _, ok := dir.Get(rest[0]); !ok {
			return fmt.Errorf("no hotline %q in the directory (see GET /v1/hotlines)", rest[0])
		}
		c, secret, err := hotlineclient.New(ctx, store, rest[0], rest[1], time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client_id:     %s\nclient_secret: %s\nhotline:       %s\n\nThe secret is shown only now; store it in the hotline's system.\n", c.ID, secret, c.HotlineID)
		return nil
	case sub == "revoke" && len(rest) == 1:
		if err := store.RevokeClient(ctx, rest[0], time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s; its tokens stop working at once\n", rest[0])
		return nil
	case sub == "list" && len(rest) == 0:
		cs, err := store.Clients(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "CLIENT\tHOTLINE\tNAME\tCREATED\tREVOKED")
		for _, c := range cs {
			revoked := "-"
			if !c.RevokedAt.IsZero() {
				revoked = c.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.HotlineID, c.Name, c.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return w.Flush()
	}
	return errors.New(hotlineClientUsage)
}

const deadLetterUsage = `usage:
  reportit dead-letter list  [-data-dir DIR]
  reportit dead-letter retry [-data-dir DIR] REPORT-ID...   due again now, attempts reset`

// deadLetter lists deliveries that were given up and puts them back.
func deadLetter(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(deadLetterUsage)
	}
	sub := args[0]
	store, rest, err := openStoreFor("reportit dead-letter "+sub, args[1:], getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx := context.Background()
	switch {
	case sub == "list" && len(rest) == 0:
		dead, err := store.Dead(ctx, 1000)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "REPORT\tREFERENCE\tHOTLINE\tATTEMPTS\tENQUEUED\tGIVEN UP\tREASON")
		for _, d := range dead {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ReportID, d.Reference, d.HotlineID, d.Attempts,
				d.EnqueuedAt.UTC().Format(time.RFC3339), d.DiedAt.UTC().Format(time.RFC3339), d.Reason)
		}
		return w.Flush()
	case sub == "retry" && len(rest) > 0:
		for _, id := range rest {
			if err := store.Revive(ctx, id, time.Now()); err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			fmt.Fprintf(stdout, "%s: due again\n", id)
		}
		return nil
	}
	return errors.New(deadLetterUsage)
}
