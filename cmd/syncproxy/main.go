// Command syncproxy is the sync server and its tools, one binary:
//
//	syncproxy serve     serve the sync API (DATABASE_URL, SYNC_* env)
//	syncproxy migrate   apply the embedded migrations and exit
//	syncproxy dev       local Postgres under .data/, a dev tenant and token, serve
//	syncproxy tenant    provision contractors and team members
//	syncproxy token     mint a dev JWT for an auth user
//	syncproxy devices   the device ledger: a contractor's devices, or stale/lagging ones across tenants
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands = []command{
	{"serve", "serve the sync API (DATABASE_URL, SYNC_* environment)", runServe},
	{"migrate", "apply the embedded migrations to DATABASE_URL and exit", runMigrate},
	{"dev", "start a local Postgres under .data/, migrate, create a dev tenant, print a token, serve", runDev},
	{"tenant", "tenant create: provision a contractor with owner/admin/member auth users", runTenant},
	{"token", "mint a dev JWT for an auth user with SYNC_JWT_SECRET", runToken},
	{"devices", "the device ledger: -contractor UUID, or -stale 7d / -lag N across tenants", runDevices},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(ctx, os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "syncproxy %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "syncproxy: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: syncproxy <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
}

// newLogger writes JSON logs to stderr: one object per event, easy to ship.
func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
