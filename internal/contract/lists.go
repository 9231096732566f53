package contract

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// TableList is a schema of the spec with one property per synced table (or
// per deletable table): adding a table means adding it to every one of them
// (README "Adding a synced table"). The spec gives an object of tables no
// other way to say it lists them, so the lists are named here, and a schema
// that lists tables without being named here is a problem: it would
// otherwise be forgotten when a table is added, and a device would be sent
// a property its generated types refuse (TableDigests has
// additionalProperties: false).
type TableList struct {
	Schema string
	// Deletable: the list holds the tables with tombstones only.
	Deletable bool
	// Arrays: the tables are the properties whose items are x-table rows
	// (an envelope with other properties too); else every property is one.
	Arrays bool
}

// TableLists are every schema of openapi.yaml that lists the synced tables.
var TableLists = []TableList{
	{Schema: PullResponseSchema, Arrays: true},
	{Schema: PushRequestSchema, Arrays: true},
	{Schema: TableCountsSchema},
	{Schema: TableDigestsSchema},
	{Schema: DeletedIDsSchema, Deletable: true},
	{Schema: DeleteRequestSchema, Deletable: true},
	{Schema: DeleteCountsSchema, Deletable: true},
}

// Listed returns the tables the list names: its properties (of an
// envelope, the arrays of its own table's rows; a deprecated alias is not
// a table).
func (s *Spec) Listed(l TableList) []string {
	if !l.Arrays {
		return PropertyNames(s.Component(l.Schema))
	}
	var names []string
	for prop, row := range s.TableArrays(l.Schema, nil) {
		if row != nil && row.Table == prop {
			names = append(names, prop)
		}
	}
	sort.Strings(names)
	return names
}

// PropertyLists are the TableLists whose every property is a table (the
// envelopes aside, which Tables and check-db compare row schema by row
// schema).
func PropertyLists() []TableList {
	var lists []TableList
	for _, l := range TableLists {
		if !l.Arrays {
			lists = append(lists, l)
		}
	}
	return lists
}

// TableListProblems says where lists disagree with the tables (the synced
// tables; deletable: those with tombstones): a list that lacks a table or
// names one more, a list that requires some of its tables but not all.
func (s *Spec) TableListProblems(lists []TableList, tables []string, deletable map[string]bool) []string {
	var problems []string
	for _, l := range lists {
		if s.Component(l.Schema) == nil {
			problems = append(problems, fmt.Sprintf("schema %s is missing: it lists the %s", l.Schema, l.what()))
			continue
		}
		var want []string
		for _, t := range tables {
			if !l.Deletable || deletable[t] {
				want = append(want, t)
			}
		}
		listed := s.Listed(l)
		for _, t := range want {
			if !slices.Contains(listed, t) {
				problems = append(problems, fmt.Sprintf("table %s: missing from %s, which lists the %s", t, l.Schema, l.what()))
			}
		}
		for _, t := range listed {
			if !slices.Contains(want, t) {
				problems = append(problems, fmt.Sprintf("%s lists %s, which is not one of the %s", l.Schema, t, l.what()))
			}
		}
		if l.Arrays {
			continue
		}
		required := s.Component(l.Schema).Required
		var notRequired []string
		for _, t := range listed {
			if !slices.Contains(required, t) {
				notRequired = append(notRequired, t)
			}
		}
		if len(required) > 0 && len(notRequired) > 0 {
			problems = append(problems, fmt.Sprintf("%s requires some of its tables but not %s: require every one", l.Schema, strings.Join(notRequired, ", ")))
		}
	}
	return problems
}

// UnlistedTableLists names the schemas with properties named like synced
// tables that TableLists does not name (row schemas aside).
func (s *Spec) UnlistedTableLists(tables []string) []string {
	if s.Doc.Components == nil {
		return nil
	}
	known := map[string]bool{}
	for _, l := range TableLists {
		known[l.Schema] = true
	}
	var problems []string
	for _, name := range sortedKeys(s.Doc.Components.Schemas) {
		if _, isRow := s.Rows[name]; isRow || known[name] {
			continue
		}
		var named []string
		for _, p := range PropertyNames(s.Component(name)) {
			if slices.Contains(tables, p) {
				named = append(named, p)
			}
		}
		if len(named) > 0 {
			problems = append(problems, fmt.Sprintf("schema %s has properties named like tables (%s), but contract.TableLists does not name it: add it there and to README \"Adding a synced table\" if it lists the tables, else rename them",
				name, strings.Join(named, ", ")))
		}
	}
	return problems
}

func (l TableList) what() string {
	if l.Deletable {
		return "tables with tombstones (a deleted_at column)"
	}
	return "synced tables (" + TableNameSchema + ")"
}
