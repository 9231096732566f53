package devicetest

import (
	"context"

	"github.com/syncproxy/syncproxy/internal/testenv"
)

// startReplica starts Options.Replica's streaming replica of the suite's
// cluster, and a PgBouncer of its own in front of it under
// SYNC_TEST_POOLER, as production would put one in front of each database.
func (s *Server) startReplica(ctx context.Context) error {
	replica, err := testenv.StartReplica(ctx, s.Cluster)
	if err != nil {
		return err
	}
	s.Replica = replica
	s.closers = append(s.closers, func() { replica.Remove() })
	url, stopPooler, err := testenv.DatabaseURL(ctx, replica, s.opts.Database)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, stopPooler)
	s.ReplicaURL = url
	return nil
}
