// Command syncproxy-bench measures the sync server against raw Postgres:
// push, pull, many devices, execution modes, and a before/after against the
// server of another revision (internal/bench). It is a command of its own so
// that the production binary, syncproxy, links no bench or test code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runBench(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "syncproxy-bench: %v\n", err)
		os.Exit(1)
	}
}
