package contract

import (
	"context"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func loadSpec(t *testing.T) *Spec {
	t.Helper()
	s, err := Load(context.Background(), "../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTables_EveryTableListHoldsTheTables: the spec's tables are read only
// when every schema that lists them lists each (TableDigests included, which
// the README once left out), requires all or none, and no schema lists
// tables unnamed.
func TestTables_EveryTableListHoldsTheTables(t *testing.T) {
	if _, err := loadSpec(t).Tables(); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	for name, tc := range map[string]struct {
		drift func(s *Spec)
		want  string
	}{
		"TableDigests lacks a table": {
			func(s *Spec) { delete(s.Component(TableDigestsSchema).Properties, "step_a_rules") },
			"table step_a_rules: missing from TableDigests",
		},
		"DeleteCounts lists a table without tombstones": {
			func(s *Spec) {
				s.Component(DeleteCountsSchema).Properties["pdf_settings"] = s.Component(DeleteCountsSchema).Properties["estimates"]
			},
			"DeleteCounts lists pdf_settings, which is not one of the tables with tombstones",
		},
		"TableCounts requires all but one": {
			func(s *Spec) {
				c := s.Component(TableCountsSchema)
				c.Required = c.Required[1:]
			},
			"TableCounts requires some of its tables but not contractors",
		},
		"a schema lists tables but is not a table list": {
			func(s *Spec) {
				s.Doc.Components.Schemas["TableSizes"] = &openapi3.SchemaRef{Value: &openapi3.Schema{
					Type:       &openapi3.Types{"object"},
					Properties: openapi3.Schemas{"estimates": {Value: openapi3.NewIntegerSchema()}}}}
			},
			"schema TableSizes has properties named like tables (estimates), but contract.TableLists does not name it",
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := loadSpec(t)
			tc.drift(s)
			_, err := s.Tables()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Tables() = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
