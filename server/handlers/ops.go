package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server/apierror"
)

// readyTimeout bounds /readyz so a dead database answers 503, not a hang.
const readyTimeout = 2 * time.Second

// readyFor is how long /readyz answers from its last check. It needs no
// token, and read schema_migrations on every call (6,800 a second from
// anyone); a load balancer polls it every few seconds, so a second-old
// answer costs it nothing.
const readyFor = time.Second

// readiness is the last check of /readyz. Callers that arrive while a check
// runs wait for it and take its answer: one check at a time, whatever the
// traffic.
type readiness struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

func (r *readiness) check(ctx context.Context, run func(context.Context) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyFor {
		return r.err
	}
	r.err, r.at = run(ctx), time.Now()
	return r.err
}

// GetHealth says the process is alive; it never touches the database.
func (s *Server) GetHealth(context.Context, api.GetHealthRequestObject) (api.GetHealthResponseObject, error) {
	return api.GetHealth200JSONResponse{Ok: true}, nil
}

// GetReady says the database is reachable and fully migrated, as of at most
// readyFor ago.
func (s *Server) GetReady(ctx context.Context, _ api.GetReadyRequestObject) (api.GetReadyResponseObject, error) {
	if err := s.ready.check(ctx, s.checkReady); err != nil {
		return nil, err
	}
	return api.GetReady200JSONResponse{Ok: true}, nil
}

func (s *Server) checkReady(ctx context.Context) error {
	// Not the request's own context: the result answers the requests of
	// the next second too, and one caller hanging up must not fail them.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	pending, err := migrations.Pending(ctx, s.Pool)
	if err != nil {
		return apierror.Unavailable("database unreachable", apierror.RetryAfterUnavailable, err)
	}
	if len(pending) > 0 {
		return apierror.Unavailable(fmt.Sprintf("database not migrated: %d pending migrations", len(pending)),
			apierror.RetryAfterUnavailable, nil)
	}
	return nil
}

// GetMetrics renders the Prometheus registry.
func (s *Server) GetMetrics(context.Context, api.GetMetricsRequestObject) (api.GetMetricsResponseObject, error) {
	text, err := s.Metrics.Text()
	if err != nil {
		return nil, err
	}
	return api.GetMetrics200TextResponse(text), nil
}

// GetOpenAPI serves the contract embedded in this build.
func (s *Server) GetOpenAPI(context.Context, api.GetOpenAPIRequestObject) (api.GetOpenAPIResponseObject, error) {
	raw, err := api.GetSpecJSON()
	if err != nil {
		return nil, fmt.Errorf("embedded spec: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("embedded spec: %w", err)
	}
	return api.GetOpenAPI200JSONResponse(doc), nil
}
