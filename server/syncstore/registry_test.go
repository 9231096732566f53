package syncstore

import (
	"slices"
	"testing"
)

// TestCheckRegistry_TheSpecsTablesInTheirOrder: the decoder's tables must be
// the registry's, in the same order (a push hands the decoder's i-th table
// to the registry's i-th); a stale registry is refused at start.
func TestCheckRegistry_TheSpecsTablesInTheirOrder(t *testing.T) {
	var names []string
	for _, tb := range Tables() {
		names = append(names, tb.Name)
	}
	if err := CheckRegistry(names); err != nil {
		t.Fatalf("the registry's own tables: %v", err)
	}
	swapped := slices.Clone(names)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	for name, decoded := range map[string][]string{
		"another order":  swapped,
		"one table less": names[:len(names)-1],
		"one table more": append(slices.Clone(names), "site_visits"),
		"no table":       nil,
	} {
		if err := CheckRegistry(decoded); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
