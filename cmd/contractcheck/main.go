// Command contractcheck fails CI when the contract drifts: "the schema is the
// contract", so openapi.yaml, migrations/, queries/, the generated Go and the
// generated Swift must never disagree silently. `make check` runs it.
//
//	contractcheck generated [-swift-out DIR]   generated code equals a fresh generation
//	contractcheck db [-cluster-url URL]        openapi.yaml's x-table schemas match the migrated tables
//	contractcheck breaking                     openapi.yaml is compatible with its released baseline
//	contractcheck tenant                       every query on tenant data is scoped by @contractor_id
//	contractcheck distributable [-cluster-url URL]  the schema and queries stay distributable by tenant (docs/citus.sql)
//	contractcheck baseline                     record openapi.yaml as the released contract of its major
//
// Each check prints what it compared and a one-line verdict,
// "check NAME: OK (...)" or "check NAME: FAIL: ... → what to do", followed by
// one line per problem. Run it from the repository root. Exit status: 0 when
// the check passes, 1 when it found drift, 2 when it could not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"
)

// errDrift marks a check that ran and found problems (already printed).
var errDrift = errors.New("contract drift")

type command struct {
	summary string
	run     func(ctx context.Context, r *report, args []string) error
}

var commands = map[string]command{
	"generated":     {"gen/db, gen/api and the Swift SDK equal a fresh sqlc + oapi-codegen + swiftgen run", runGenerated},
	"db":            {"openapi.yaml's x-table row schemas match the tables the migrations create", runDB},
	"breaking":      {"openapi.yaml has no breaking change against api/baseline (oasdiff)", runBreaking},
	"tenant":        {"every query on tenant data takes @contractor_id and filters or writes by it", runTenant},
	"distributable": {"the schema and queries stay distributable by tenant (Citus, docs/citus.sql)", runDistributable},
	"baseline":      {"record openapi.yaml as api/baseline/openapi-v<major>.yaml (refuses a breaking overwrite)", runBaseline},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	cmd, ok := commands[name]
	if !ok {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r := newReport(name, os.Stdout)
	err := cmd.run(ctx, r, os.Args[2:])
	switch {
	case err == nil:
		os.Exit(0)
	case errors.Is(err, errDrift):
		os.Exit(1)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Printf("check %s: ERROR: could not run the check: %v [%s]\n", name, err, r.elapsed())
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: contractcheck CHECK [flags]   (run from the repository root)")
	for _, name := range []string{"generated", "db", "breaking", "tenant", "distributable", "baseline"} {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", name, commands[name].summary)
	}
}

// elapsedSince formats a duration for a verdict line.
func elapsedSince(t time.Time) string {
	return fmt.Sprintf("%.1fs", time.Since(t).Seconds())
}
