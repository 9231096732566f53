package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/replica"
)

// StartReplica starts a streaming replica of primary (pg_basebackup, hot
// standby) for a test binary; the caller removes it. The throwaway primary
// commits asynchronously (fsync and synchronous_commit off), so WAL reaches
// a replica when the WAL writer flushes it: every 10 ms here instead of
// every 200 ms, so that replicas trail the primary as a production replica
// would, by milliseconds.
func StartReplica(ctx context.Context, primary *pgcluster.Cluster) (*pgcluster.Cluster, error) {
	conn, err := pgx.Connect(ctx, primary.URL("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, sql := range []string{"ALTER SYSTEM SET wal_writer_delay = '10ms'", "SELECT pg_reload_conf()"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return nil, fmt.Errorf("testenv: replica: %s: %w", sql, err)
		}
	}
	return primary.StartReplica(ctx, pgcluster.ReplicaOptions{Log: os.Stderr})
}

// NewReplicaHandler is NewHandler with pulls and digests read on the
// replicas of cfg.ReplicaURLs; their probe runs until stop is called,
// which also closes their pools.
func NewReplicaHandler(ctx context.Context, cfg config.Config, pool *pgtx.Pool, logger *slog.Logger) (h http.Handler, set *replica.Set, stop func(), err error) {
	set, closePools, err := server.OpenReplicas(ctx, cfg, pool, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err = NewHandler(cfg, pool, logger, server.WithReplicas(set))
	if err != nil {
		closePools()
		return nil, nil, nil, err
	}
	probeCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		set.Run(probeCtx)
	}()
	return h, set, func() {
		cancel()
		<-done
		closePools()
	}, nil
}
