// Package handlers implements the generated strict server interface. Each
// handler is glue: identity from the context → one syncstore call → the
// generated response type. Errors go back to Echo, which renders the envelope.
package handlers

import (
	"context"
	"time"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/live"
	"github.com/syncproxy/syncproxy/server/metrics"
	"github.com/syncproxy/syncproxy/server/pgtx"
	"github.com/syncproxy/syncproxy/server/syncstore"
	"github.com/syncproxy/syncproxy/server/tenant"
)

var _ api.StrictServerInterface = (*Server)(nil)

// Server holds what the handlers need.
type Server struct {
	Store   *syncstore.Store
	Pool    *pgtx.Pool
	Metrics *metrics.Metrics
	// Live holds this instance's live pulls; MaxPullWait bounds `wait`
	// (SYNC_MAX_PULL_WAIT, seconds).
	Live        *live.Hub
	MaxPullWait int
	// RequestTimeout bounds each read a held pull does once woken
	// (SYNC_REQUEST_TIMEOUT), however long it waited.
	RequestTimeout time.Duration

	ready readiness // /readyz's last check
}

// identity is set by the auth middleware on every /api/sync route; its absence
// is a wiring bug, never a client error.
func identity(ctx context.Context) (tenant.Identity, error) {
	id, ok := tenant.FromContext(ctx)
	if !ok {
		return tenant.Identity{}, apierror.Unauthorized("not authenticated")
	}
	return id, nil
}

// tableNames is a `tables` query parameter as the store takes it; nil when
// absent (every table).
func tableNames(param *[]api.TableName) []string {
	if param == nil {
		return nil
	}
	names := make([]string, len(*param))
	for i, t := range *param {
		names[i] = string(t)
	}
	return names
}

// tableCounts hands the store's per-table outcome to metrics as plain data.
func tableCounts(outcomes []syncstore.TableOutcome) []metrics.TableCount {
	out := make([]metrics.TableCount, len(outcomes))
	for i, o := range outcomes {
		out[i] = metrics.TableCount{Table: o.Table, Upserts: o.Upserted, Deletes: o.Deleted, Deduped: o.Deduped}
	}
	return out
}
