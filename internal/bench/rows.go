package bench

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/wire/push"
)

// costbookItems returns n realistic rows (every client column set, about
// 300 bytes of JSON each) with the given ids, or new ids when ids is nil.
// round varies the content, so a re-push of the same ids is a real update.
func costbookItems(n int, ids []uuid.UUID, round int) []costbookItem {
	units := []string{"ea", "sqft", "lf", "hr", "gal"}
	rows := make([]costbookItem, n)
	for i := range rows {
		id := uuid.New()
		if ids != nil {
			id = ids[i%len(ids)]
		}
		name := fmt.Sprintf("Drywall sheet 1/2in 4x8 #%d", i)
		desc := fmt.Sprintf("Gypsum board, moisture resistant, tapered edges; revision %d of item %d", round, i)
		unit := units[i%len(units)]
		cost := fmt.Sprintf("%d.%02d", 5+i%400, (i*7+round)%100)
		markup := fmt.Sprintf("%d.5", 10+i%25)
		sku := fmt.Sprintf("DW-%06d", i)
		taxable := i%3 != 0
		rows[i] = costbookItem{ID: id, Name: name, Description: desc, Unit: unit,
			UnitCost: cost, MarkupPercent: markup, Sku: sku, Taxable: taxable}
	}
	return rows
}

// costbookItem is a pushed costbook_items row with every client column set.
type costbookItem struct {
	ID            uuid.UUID `json:"id"`
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	Unit          string    `json:"unit"`
	UnitCost      string    `json:"unit_cost"`
	MarkupPercent string    `json:"markup_percent"`
	Sku           string    `json:"sku"`
	Taxable       bool      `json:"taxable"`
}

// pushBody is a push of rows, as the generated client's typed PushChanges
// sends it; each row is encoded here, so the timed push only joins them.
func pushBody(rows []costbookItem) (push.Body, error) {
	var b push.Body
	for _, r := range rows {
		if err := b.Upsert("costbook_items", r); err != nil {
			return push.Body{}, err
		}
	}
	return b, nil
}
