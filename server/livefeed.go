package server

import (
	"context"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/live"
	"github.com/syncproxy/syncproxy/server/pgtx"
)

// LiveFeed is how other instances' pushes reach this instance's held pulls:
// LISTEN on one connection to SYNC_LISTEN_DATABASE_URL when set (a
// transaction pooler cannot carry a session's LISTEN, so it must reach the
// database directly), else a poll of the held contractors' clocks through
// the pool every SYNC_LIVE_POLL_INTERVAL.
func LiveFeed(cfg config.Config, pool *pgtx.Pool, logger *slog.Logger) live.Feed {
	f := live.Feed{
		Clocks: func(ctx context.Context, contractors []uuid.UUID) ([]live.Clock, error) {
			rows, err := db.New(pool).LiveClocks(ctx, contractors)
			if err != nil {
				return nil, err
			}
			out := make([]live.Clock, len(rows))
			for i, r := range rows {
				out[i] = live.Clock{Contractor: r.ContractorID, TableSeqs: r.TableSeqs}
			}
			return out, nil
		},
		Interval: cfg.LivePollInterval,
		Logger:   logger,
	}
	if cfg.ListenURL != "" {
		f.Listen = func(ctx context.Context) (*pgx.Conn, error) {
			c, err := pgx.ParseConfig(cfg.ListenURL)
			if err != nil {
				return nil, err // pgx redacts the password
			}
			if c.ConnectTimeout == 0 {
				c.ConnectTimeout = cfg.DBConnectTimeout
			}
			c.RuntimeParams["application_name"] = "syncproxy-live-listen"
			return pgx.ConnectConfig(ctx, c)
		}
	}
	return f
}
