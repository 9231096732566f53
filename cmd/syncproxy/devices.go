package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/devices"
	"github.com/syncproxy/syncproxy/wire"
)

const devicesUsage = "usage: syncproxy devices -contractor UUID | [-stale 7d] [-lag N] [-limit 100]"

func runDevices(ctx context.Context, args []string) error {
	return listDevices(ctx, args, os.Stdout, time.Now())
}

// listDevices is `syncproxy devices`: the device ledger as a table, for
// support (one contractor's devices) and operations (devices of every
// tenant that have gone quiet or fallen behind).
func listDevices(ctx context.Context, args []string, out io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("devices", flag.ContinueOnError)
	contractor := fs.String("contractor", "", "list this contractor's devices (uuid)")
	stale := fs.String("stale", "", "across tenants: devices not seen for this long (7d, 36h, 90m)")
	lag := fs.Int64("lag", -1, "across tenants: devices at least this many versions behind their contractor")
	limit := fs.Int("limit", 100, "across tenants: at most this many devices, stalest first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; %s", fs.Arg(0), devicesUsage)
	}
	across := *stale != "" || *lag >= 0
	switch {
	case *contractor == "" && !across:
		return errors.New("say whose devices: -contractor UUID, or -stale and/or -lag across tenants; " + devicesUsage)
	case *contractor != "" && across:
		return errors.New("-contractor lists one contractor's devices; -stale and -lag look across tenants: use one or the other")
	case *limit < 1:
		return errors.New("-limit must be at least 1")
	}
	var params db.ListDevicesAcrossTenantsParams
	var contractorID uuid.UUID
	if *contractor != "" {
		id, err := uuid.Parse(*contractor)
		if err != nil {
			return fmt.Errorf("-contractor must be a uuid, not %q", *contractor)
		}
		contractorID = id
	} else {
		params.MaxRows = int32(min(*limit, 100_000))
		if *stale != "" {
			d, err := parseAge(*stale)
			if err != nil {
				return fmt.Errorf("-stale: %w", err)
			}
			before := wire.NewTimestamp(now.Add(-d))
			params.SeenBefore = &before
		}
		if *lag >= 0 {
			params.MinLag = lag
		}
	}

	cfg, _ := config.Load(nil) // only DATABASE_URL and pool settings matter here
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is required")
	}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := db.New(pool)

	var lines []deviceLine
	if contractorID != uuid.Nil {
		rows, err := q.ListDevices(ctx, contractorID)
		if err != nil {
			return fmt.Errorf("list the devices of %s: %w", contractorID, err)
		}
		for _, r := range rows {
			lines = append(lines, deviceLine{row: r})
		}
	} else {
		rows, err := q.ListDevicesAcrossTenants(ctx, params)
		if err != nil {
			return fmt.Errorf("list devices across tenants: %w", err)
		}
		for _, r := range rows {
			lines = append(lines, deviceLine{contractor: r.ContractorID, name: r.ContractorName, row: db.ListDevicesRow{
				DeviceID: r.DeviceID, AuthUserID: r.AuthUserID, UserAgent: r.UserAgent, FirstSeen: r.FirstSeen,
				LastSeen: r.LastSeen, LastPushAt: r.LastPushAt, LastPullAt: r.LastPullAt, PulledVersion: r.PulledVersion,
				PulledVersionAt: r.PulledVersionAt, Pushes: r.Pushes, Pulls: r.Pulls, Conflicts: r.Conflicts,
				RejectedPushes: r.RejectedPushes, ContractorVersion: r.ContractorVersion, ContractorVersionAt: r.ContractorVersionAt,
			}})
		}
	}
	writeDevices(out, lines, contractorID == uuid.Nil, now)
	if contractorID == uuid.Nil && len(lines) == int(params.MaxRows) {
		fmt.Fprintf(out, "(the first %d; -limit shows more)\n", len(lines))
	}
	return nil
}

// deviceLine is one device of the table; contractor and name only across
// tenants.
type deviceLine struct {
	contractor uuid.UUID
	name       string
	row        db.ListDevicesRow
}

// writeDevices prints lines as an aligned table, times relative to now.
func writeDevices(out io.Writer, lines []deviceLine, withContractor bool, now time.Time) {
	if len(lines) == 0 {
		fmt.Fprintln(out, "no devices")
		return
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	header := "DEVICE\tUSER\tAPP\tLAST SEEN\tLAST PUSH\tLAST PULL\tPULLED\tBEHIND\tPUSHES\tPULLS\tCONFLICTS\tREJECTED"
	if withContractor {
		header = "CONTRACTOR\t" + header
	}
	fmt.Fprintln(w, header)
	for _, l := range lines {
		r := l.row
		lag := devices.LagOf(r)
		device := r.DeviceID.String()
		if r.DeviceID == devices.NoDevice {
			device = "(no device)"
		}
		pulled := "-"
		if r.PulledVersion != nil {
			pulled = strconv.FormatInt(*r.PulledVersion, 10)
		}
		behind := "up to date"
		if lag.Versions > 0 {
			behind = fmt.Sprintf("%d versions, %s", lag.Versions, devices.Span(time.Duration(lag.Seconds)*time.Second))
			if lag.Versions == 1 {
				behind = "1 version, " + devices.Span(time.Duration(lag.Seconds)*time.Second)
			}
		}
		cols := []string{device, r.AuthUserID.String(), orDash(r.UserAgent), ago(now, &r.LastSeen), ago(now, r.LastPushAt), ago(now, r.LastPullAt),
			pulled, behind, strconv.FormatInt(r.Pushes, 10), strconv.FormatInt(r.Pulls, 10),
			strconv.FormatInt(r.Conflicts, 10), strconv.FormatInt(r.RejectedPushes, 10)}
		if withContractor {
			cols = append([]string{l.contractor.String() + " " + l.name}, cols...)
		}
		fmt.Fprintln(w, strings.Join(cols, "\t"))
	}
	w.Flush()
}

// ago is how long before now t was ("-": never).
func ago(now time.Time, t *wire.Timestamp) string {
	if t == nil {
		return "-"
	}
	return devices.Span(now.Sub(t.Time)) + " ago"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseAge reads a duration as time.ParseDuration does, plus days ("7d").
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days like 7d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration like 7d, 36h or 90m", s)
	}
	return d, nil
}
