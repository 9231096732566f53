package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server/apierror"
)

// readyTimeout bounds /readyz so a dead database answers 503, not a hang.
const readyTimeout = 2 * time.Second

// GetHealth says the process is alive; it never touches the database.
func (s *Server) GetHealth(context.Context, api.GetHealthRequestObject) (api.GetHealthResponseObject, error) {
	return api.GetHealth200JSONResponse{Ok: true}, nil
}

// GetReady says the database is reachable and fully migrated.
func (s *Server) GetReady(ctx context.Context, _ api.GetReadyRequestObject) (api.GetReadyResponseObject, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	pending, err := migrations.Pending(ctx, s.Pool)
	if err != nil {
		return nil, apierror.Unavailable("database unreachable", apierror.RetryAfterUnavailable, err)
	}
	if len(pending) > 0 {
		return nil, apierror.Unavailable(fmt.Sprintf("database not migrated: %d pending migrations", len(pending)),
			apierror.RetryAfterUnavailable, nil)
	}
	return api.GetReady200JSONResponse{Ok: true}, nil
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
