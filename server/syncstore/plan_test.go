package syncstore

import (
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
)

// The row limit counts what a push carries, duplicates and the deprecated
// alias included: deduplication must not let an oversized push through.
func TestPlanRows_CountsEveryRowAndDelete(t *testing.T) {
	id := uuid.New()
	items := []api.CostbookItemWrite{{Id: id, Name: "a"}, {Id: id, Name: "b"}}
	alias := []api.CostbookItemWrite{{Id: uuid.New(), Name: "c"}}
	pdf := []api.PdfSettingsWrite{{}, {}, {}}
	deletes := []api.Uuid{uuid.New(), uuid.New()}
	plan, err := planPush(uuid.New(), api.SyncPushRequest{
		CostbookItems: &items, Items: &alias, PdfSettings: &pdf,
		Deletes: &api.DeleteRequest{Estimates: &deletes},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan.rows(), 2+1+3+2; got != want {
		t.Fatalf("rows() = %d, want %d", got, want)
	}
}
