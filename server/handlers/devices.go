package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/devices"
	"github.com/syncproxy/syncproxy/wire"
)

// ListDevices lists the caller's contractor's devices from the ledger, each
// with its lag behind the contractor's version.
func (s *Server) ListDevices(ctx context.Context, _ api.ListDevicesRequestObject) (api.ListDevicesResponseObject, error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	q := db.New(s.Pool)
	rows, err := q.ListDevices(ctx, id.ContractorID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	version := int64(0)
	if len(rows) > 0 {
		version = rows[0].ContractorVersion
	} else {
		clock, err := q.DigestClock(ctx, id.ContractorID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("list devices: read clock: %w", err)
		}
		version = clock.Seq
	}
	out := api.DeviceList{Ok: true, ServerTime: wire.NewTimestamp(time.Now()), Version: version, Devices: make([]api.Device, len(rows))}
	for i, r := range rows {
		out.Devices[i] = deviceOf(r)
	}
	return api.ListDevices200JSONResponse{Body: out}, nil
}

// deviceOf is a ledger row as the contract shows it.
func deviceOf(r db.ListDevicesRow) api.Device {
	lag := devices.LagOf(r)
	return api.Device{
		DeviceId:       r.DeviceID,
		UserId:         r.AuthUserID,
		UserAgent:      r.UserAgent,
		FirstSeen:      r.FirstSeen,
		LastSeen:       r.LastSeen,
		LastPushAt:     r.LastPushAt,
		LastPullAt:     r.LastPullAt,
		PulledVersion:  r.PulledVersion,
		LagVersions:    lag.Versions,
		LagSeconds:     lag.Seconds,
		Pushes:         r.Pushes,
		Pulls:          r.Pulls,
		Conflicts:      r.Conflicts,
		RejectedPushes: r.RejectedPushes,
	}
}
