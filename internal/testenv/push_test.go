package testenv

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/wire/push"
)

// TestPush_TypedCall is the generated client's typed PushChanges against the
// real server, the way a Go app uses it: rows built as push.Body, sent,
// pulled back with their version, then deleted (one with a base_version)
// under an Idempotency-Key that replays.
func TestPush_TypedCall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Postgres cluster: not in -short")
	}
	ctx := context.Background()
	cluster, err := StartCluster(ctx, "typed")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Remove() })
	const secret = "typed-call-secret-0123456789abcdef-0123"
	cfg, err := Config(map[string]string{"DATABASE_URL": cluster.URL("typed"), "SYNC_JWT_SECRET": secret, "SYNC_RATE_LIMIT": "0"})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrations.Apply(ctx, pool, quiet); err != nil {
		t.Fatal(err)
	}
	handler, err := NewHandler(cfg, pool, quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	_, owner, err := NewTenant(ctx, pool, "typed call")
	if err != nil {
		t.Fatal(err)
	}
	token, err := Token(secret, owner)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(srv.URL, token, srv.Client())

	samples, err := Samples()
	if err != nil {
		t.Fatal(err)
	}
	a, b := uuid.New(), uuid.New()
	var body push.Body
	for i, id := range []uuid.UUID{a, b} {
		row, err := samples.Row("costbook_folders", id, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := body.Upsert("costbook_folders", row); err != nil {
			t.Fatal(err)
		}
	}
	first := pushed(t, c, body, "")
	if first.Upserted.CostbookFolders != 2 {
		t.Fatalf("upserted %+v, want 2 costbook_folders", first.Upserted)
	}

	res, err := c.PullChanges(ctx, &api.PullChangesParams{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := api.ParsePullChangesResponse(res)
	if err != nil || page.JSON200 == nil {
		t.Fatalf("pull: %v, %d %s", err, page.StatusCode(), page.Body)
	}
	var got []uuid.UUID
	for _, f := range page.JSON200.CostbookFolders {
		got = append(got, f.ID)
		if f.SyncSeq != first.Version {
			t.Errorf("folder %s at version %d, want the push's %d", f.ID, f.SyncSeq, first.Version)
		}
	}
	if len(got) != 2 || !slices.Contains(got, a) || !slices.Contains(got, b) {
		t.Fatalf("pulled folders %v, want %s and %s", got, a, b)
	}

	var deletes push.Body
	deletes.DeleteAt("costbook_folders", a, first.Version)
	deletes.Delete("costbook_folders", b)
	key := uuid.NewString()
	second := pushed(t, c, deletes, key)
	if second.Deleted.CostbookFolders != 2 {
		t.Fatalf("deleted %+v, want 2 costbook_folders", second.Deleted)
	}
	if replay := pushed(t, c, deletes, key); replay.Version != second.Version {
		t.Errorf("the same Idempotency-Key and body answered version %d, want the replay of %d", replay.Version, second.Version)
	}
}

// pushed sends body with the typed call and returns the 200's answer.
func pushed(t *testing.T, c *api.Client, body push.Body, key string) api.SyncPushResponse {
	t.Helper()
	res, err := Push(context.Background(), c, body, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := api.ParsePushChangesResponse(res)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.StatusCode() != http.StatusOK || parsed.JSON200 == nil {
		t.Fatalf("push: %d %s", parsed.StatusCode(), parsed.Body)
	}
	return *parsed.JSON200
}
