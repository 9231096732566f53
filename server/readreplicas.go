package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncproxy/syncproxy/server/config"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/replica"
)

// OpenReplicas connects to SYNC_REPLICA_DATABASE_URLS (pools like the
// primary's: same size, exec mode and statement timeout) and returns them
// as a set probed against primary; nil without replicas. A replica that is
// down at start is no error: the probe finds it when it comes up. The
// caller runs the set's probe (Run) and calls close once nothing reads
// through it any more.
func OpenReplicas(ctx context.Context, cfg config.Config, primary *pgtx.Pool, logger *slog.Logger) (set *replica.Set, close func(), err error) {
	if len(cfg.ReplicaURLs) == 0 {
		return nil, func() {}, nil
	}
	var pools []*pgtx.Pool
	close = func() {
		for _, p := range pools {
			p.Close()
		}
	}
	for i, u := range cfg.ReplicaURLs {
		c := cfg
		c.DatabaseURL = u
		pc, err := PoolConfig(c)
		if err != nil {
			close()
			return nil, nil, fmt.Errorf("SYNC_REPLICA_DATABASE_URLS item %d: %w", i+1, err)
		}
		pc.ConnConfig.RuntimeParams["application_name"] = "syncproxy-replica-reads"
		p, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			close()
			return nil, nil, fmt.Errorf("SYNC_REPLICA_DATABASE_URLS item %d: %w", i+1, err)
		}
		pools = append(pools, pgtx.New(p, pgtx.Settings{StatementTimeout: cfg.StatementTimeout}))
	}
	set = replica.New(primary, pools, replica.Options{MaxLag: cfg.ReplicaMaxLag, ProbeInterval: cfg.ReplicaProbe, Logger: logger})
	return set, close, nil
}
