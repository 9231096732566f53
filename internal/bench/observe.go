package bench

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// requestObserver sits in the server's logger and records the duration the
// server itself measured for each request (its access log's duration_ms):
// the time from the first middleware to the response written, without the
// client's share of the CPU. Every record still reaches next, so the server
// pays for formatting its logs as it would in production.
type requestObserver struct {
	next  slog.Handler
	state *observed
}

type observed struct {
	recording atomic.Bool
	mu        sync.Mutex
	durations map[string][]time.Duration // by route
}

func newRequestObserver(next slog.Handler) requestObserver {
	return requestObserver{next: next, state: &observed{durations: map[string][]time.Duration{}}}
}

// start clears what was observed and starts recording.
func (o requestObserver) start() {
	o.state.mu.Lock()
	o.state.durations = map[string][]time.Duration{}
	o.state.mu.Unlock()
	o.state.recording.Store(true)
}

// stop stops recording and returns the durations seen since start, by route.
func (o requestObserver) stop() map[string][]time.Duration {
	o.state.recording.Store(false)
	o.state.mu.Lock()
	defer o.state.mu.Unlock()
	return o.state.durations
}

func (o requestObserver) Enabled(ctx context.Context, l slog.Level) bool {
	return o.state.recording.Load() || o.next.Enabled(ctx, l)
}

func (o requestObserver) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "request" && o.state.recording.Load() {
		var route string
		var d time.Duration
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "route":
				route = a.Value.String()
			case "duration_ms":
				if a.Value.Kind() == slog.KindFloat64 {
					d = time.Duration(a.Value.Float64() * float64(time.Millisecond))
				}
			}
			return true
		})
		o.state.mu.Lock()
		o.state.durations[route] = append(o.state.durations[route], d)
		o.state.mu.Unlock()
	}
	if o.next.Enabled(ctx, r.Level) {
		return o.next.Handle(ctx, r)
	}
	return nil
}

func (o requestObserver) WithAttrs(as []slog.Attr) slog.Handler {
	return requestObserver{next: o.next.WithAttrs(as), state: o.state}
}

func (o requestObserver) WithGroup(name string) slog.Handler {
	return requestObserver{next: o.next.WithGroup(name), state: o.state}
}
