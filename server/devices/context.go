package devices

import (
	"context"
	"time"
)

// note is what a handler tells the ledger about its request beyond what
// the middleware sees (the status): for now, the version a pull delivered.
type note struct {
	pulled *Pulled
}

type noteKey struct{}

// withNote returns ctx carrying an empty note for one request.
func withNote(ctx context.Context) (context.Context, *note) {
	n := &note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

// NotePulled tells the ledger that the request's pull ended its walk: the
// device holds every change up to version, as of serverTime. Outside a
// recorded request it does nothing.
func NotePulled(ctx context.Context, version int64, serverTime time.Time) {
	if n, ok := ctx.Value(noteKey{}).(*note); ok {
		n.pulled = &Pulled{Version: version, Time: serverTime}
	}
}
