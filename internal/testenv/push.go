package testenv

import (
	"context"
	"net/http"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/wire/push"
)

// Push sends body with the generated client's typed PushChanges, as a Go app
// built from the contract does; idempotencyKey may be empty. Bodies the
// contract refuses (malformed JSON, a wrong shape) go through Do, which
// sends the caller's bytes.
func Push(ctx context.Context, c *api.Client, body push.Body, idempotencyKey string, editors ...api.RequestEditorFn) (*http.Response, error) {
	var params api.PushChangesParams
	if idempotencyKey != "" {
		params.IdempotencyKey = &idempotencyKey
	}
	return c.PushChanges(ctx, &params, body, editors...)
}
