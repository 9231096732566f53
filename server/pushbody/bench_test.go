package pushbody_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/wire/push"
)

// BenchmarkDecodePush_1000 measures reading a push of 1,000 costbook_items
// (every client column set) the way the server does now, one streaming pass
// with rules compiled from the spec, against the way it did before in the
// same run: kin-openapi validating the body as a generic map, then a second,
// typed decode. The README's choice of decoder rests on these figures.
func BenchmarkDecodePush_1000(b *testing.B) {
	body := pushOf(b, 1000)
	b.Run("pushbody", func(b *testing.B) {
		dec := compileSpec(b)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var out push.Body
			if err := dec.DecodeBytes(body, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kin-openapi+typed", func(b *testing.B) {
		kin := newKinValidator(b)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := kin.validate(body); err != nil {
				b.Fatal(err)
			}
			var typed map[string][]api.CostbookItemWrite
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&typed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// pushOf is a push body of n costbook_items with every client column set.
func pushOf(b *testing.B, n int) []byte {
	rows := make([]map[string]any, n)
	for i := range rows {
		name, desc, unit := fmt.Sprintf("Drywall sheet #%d", i), fmt.Sprintf("Gypsum board, moisture resistant, item %d", i), "ea"
		cost, markup, sku, taxable := fmt.Sprintf("%d.50", i), "15.5", fmt.Sprintf("DW-%06d", i), i%2 == 0
		rows[i] = map[string]any{"id": uuid.New(), "name": name, "description": desc, "unit": unit,
			"unit_cost": cost, "markup_percent": markup, "sku": sku, "taxable": taxable}
	}
	body, err := json.Marshal(map[string]any{"costbook_items": rows})
	if err != nil {
		b.Fatal(err)
	}
	return body
}
