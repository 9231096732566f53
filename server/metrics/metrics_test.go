package metrics

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestMetrics_SyncSeries(t *testing.T) {
	m := New()
	ctx, outcome := WithOutcome(context.Background())
	m.Pushed(ctx, []TableCount{
		{Table: "costbook_items", Upserts: 3, Deletes: 2, Deduped: 1},
		{Table: "estimates", Upserts: 1},
		{Table: "pdf_settings"},
	}, false)
	m.Pushed(context.Background(), []TableCount{{Table: "costbook_items", Upserts: 3}}, true)
	m.Pulled(context.Background(), []TableCount{
		{Table: "costbook_items", Upserts: 4},
		{Table: "estimates", Deletes: 1},
	})
	m.ObserveRequest(PushRoute, "POST", 200, "", time.Millisecond)
	m.ObserveRequest(PullRoute, "GET", 401, "UNAUTHORIZED", time.Millisecond)
	m.ObserveRequest(PullRoute, "GET", 403, "FORBIDDEN", time.Millisecond)
	m.ObserveRequest(PushRoute, "POST", 400, "BAD_REQUEST", time.Millisecond)
	m.ObservePushBytes(1234)

	text, err := m.Text()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`syncproxy_sync_rows_pushed_total{op="upsert",table="costbook_items"} 3`, // the replay did not count
		`syncproxy_sync_rows_pushed_total{op="upsert",table="estimates"} 1`,
		`syncproxy_sync_rows_pushed_total{op="delete",table="costbook_items"} 2`,
		`syncproxy_sync_rows_deduped_total{table="costbook_items"} 1`,
		`syncproxy_sync_idempotent_replays_total 1`,
		`syncproxy_sync_rows_pulled_total{op="upsert",table="costbook_items"} 4`,
		`syncproxy_sync_rows_pulled_total{op="delete",table="estimates"} 1`,
		`syncproxy_sync_pushes_total{status="200"} 1`,
		`syncproxy_sync_pushes_total{status="400"} 1`,
		`syncproxy_sync_pulls_total{status="401"} 1`,
		`syncproxy_http_errors_total{code="UNAUTHORIZED",status="401"} 1`,
		`syncproxy_http_errors_total{code="FORBIDDEN",status="403"} 1`,
		`syncproxy_http_errors_total{code="BAD_REQUEST",status="400"} 1`,
		`syncproxy_sync_push_payload_bytes_count 1`,
		`syncproxy_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, `table="pdf_settings"`) {
		t.Error("a table with no rows got a series")
	}

	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("request", outcome.LogAttrs()...)
	var logged map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &logged); err != nil {
		t.Fatal(err)
	}
	if logged["sync_op"] != "push" || logged["rows_upserted"] != 4.0 || logged["rows_deleted"] != 2.0 || logged["rows_deduped"] != 1.0 {
		t.Fatalf("log = %s", buf.String())
	}
	if up, _ := logged["upserted"].(map[string]any); up["costbook_items"] != 3.0 {
		t.Fatalf("per-table counts missing: %s", buf.String())
	}
}

func TestOutcome_NoAttrsOutsideSync(t *testing.T) {
	_, o := WithOutcome(context.Background())
	if attrs := o.LogAttrs(); attrs != nil {
		t.Fatalf("attrs = %v for a request that synced nothing", attrs)
	}
	var none *Outcome
	if none.LogAttrs() != nil {
		t.Fatal("nil outcome logged attributes")
	}
}
