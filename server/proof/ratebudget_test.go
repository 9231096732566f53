package proof_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/middleware"
	"github.com/syncproxy/syncproxy/server/ratebudget"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// TestRateLimit_OneBudgetAcrossTwoInstances: the devices of one contractor
// hammer two instances of the server on one database, with the canary (one
// token a request), as fast as they can. Each instance keeps its buckets in
// memory and exchanges its spend through Postgres every Δ; together they
// may let the contractor through at most r·T + N·b + 2·(N−1)·r·Δ tokens in T
// seconds (server/ratebudget), where buckets of their own would let it
// through N·(r·T + b). And the shared budget is the contractor's full
// rate, not less. The bound is taken with Δ 400 ms longer than the
// interval: on a loaded machine an exchange may come late, and the
// instances then hear of each other's spend later.
func TestRateLimit_OneBudgetAcrossTwoInstances(t *testing.T) {
	const (
		rate      = 20.0
		burst     = 2
		late      = 400 * time.Millisecond // what an exchange may come late by
		instances = 2
		share     = 100 * time.Millisecond
		window    = 3 * time.Second
		devices   = 4 // per instance, each its own auth user
	)
	var exchanges sync.WaitGroup
	t.Cleanup(exchanges.Wait) // after cancel: cleanups run last first
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := env.ConfigWith(t, map[string]string{
		"SYNC_RATE_LIMIT": fmt.Sprint(rate), "SYNC_RATE_BURST": fmt.Sprint(burst),
	})
	var servers []string
	for range instances {
		limiter := middleware.NewRateLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateBytes)
		limiter.ShareSpend()
		exchange := ratebudget.New(env.Pool, limiter, share)
		exchanges.Go(func() { exchange.Run(ctx, share, slog.New(slog.DiscardHandler)) })
		h, err := testenv.NewHandler(cfg, env.Pool, slog.New(slog.DiscardHandler), server.WithContractorLimiter(limiter))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		servers = append(servers, srv.URL)
	}
	members := make([]tenant.Member, instances*devices)
	for i := range members {
		members[i] = tenant.Member{AuthUserID: uuid.New(), Role: "member"}
	}
	c, err := tenant.Create(ctx, env.Pool, tenant.NewContractor{Name: "one budget", Members: members})
	if err != nil {
		t.Fatal(err)
	}

	var allowed, refused atomic.Int64
	errs := make(chan error, len(members))
	start := time.Now()
	end := start.Add(window)
	var wg sync.WaitGroup
	for i, m := range members {
		d := env.DeviceFor(t, m.AuthUserID, c.ID).On(servers[i%instances])
		wg.Go(func() {
			for time.Now().Before(end) {
				r, err := d.Exchange(http.MethodGet, "/api/sync/canary", nil, nil)
				switch {
				case err != nil:
					errs <- err
					return
				case r.Status == http.StatusOK && time.Now().Before(end):
					allowed.Add(1)
				case r.Status == http.StatusOK:
				case r.Status == http.StatusTooManyRequests:
					refused.Add(1)
					time.Sleep(5 * time.Millisecond) // some patience, not Retry-After's: the test wants every token taken
				default:
					errs <- fmt.Errorf("canary = %d: %s", r.Status, r.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seconds := window.Seconds()
	bound := rate*seconds + instances*burst + 2*(instances-1)*rate*(share+late).Seconds()
	separate := instances * (rate*seconds + burst)
	t.Logf("%d instances, rate %.0f/s, burst %d, exchange every %s, %s: %d requests let through, %d refused; bound %.0f (buckets of their own: %.0f)",
		instances, rate, burst, share, window, allowed.Load(), refused.Load(), bound, separate)
	if got := float64(allowed.Load()); got > bound {
		t.Fatalf("%.0f requests let through in %s, over the bound of %.0f: the instances do not share the budget", got, window, bound)
	}
	if got := float64(allowed.Load()); got < 0.8*rate*seconds {
		t.Fatalf("%.0f requests let through in %s, under 80%% of the rate (%.0f): the shared budget takes more than was spent", got, window, rate*seconds)
	}
}
