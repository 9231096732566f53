package contract

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// KeyKind says how a table's rows are keyed within a contractor.
type KeyKind int

const (
	// Regular rows are keyed by a client-generated uuid `id` (and the
	// contractor): the pull row has both `id` and `contractor_id`.
	Regular KeyKind = iota
	// Singleton tables hold one row per contractor, keyed by the contractor:
	// the pull row has `contractor_id` and no `id`.
	Singleton
	// TenantRow is the contractors table: one row per contractor whose `id`
	// is the contractor id; the pull row has `id` and no `contractor_id`.
	TenantRow
)

func (k KeyKind) String() string {
	switch k {
	case Regular:
		return "regular"
	case Singleton:
		return "singleton"
	case TenantRow:
		return "tenant row"
	}
	return fmt.Sprintf("KeyKind(%d)", int(k))
}

// Table is one synced table as the spec describes it.
type Table struct {
	Name string
	// Ordinal is the table's position in the TableName enum. It is stable:
	// cursors store it, so tables are only ever appended to the enum.
	Ordinal   int
	Key       KeyKind
	Deletable bool       // listed in DeletedIds: deletes leave tombstones
	Pull      *RowSchema // items of SyncPullResponse.<name>
	Write     *RowSchema // items of SyncPushRequest.<name>
	// GoModel is the pull row's x-go-type, the sqlc model a pulled row is
	// (e.g. "db.Estimate").
	GoModel string
	// PushAliases are other SyncPushRequest properties whose items are this
	// table's write rows (deprecated names still accepted), applied before
	// the table's own property.
	PushAliases []string
}

// Tables returns the synced tables in TableName order. It fails when the
// envelopes disagree about which tables exist or how a table is keyed: the
// generators must never guess.
func (s *Spec) Tables() ([]Table, error) {
	names := EnumStrings(s.Component(TableNameSchema))
	if len(names) == 0 {
		return nil, fmt.Errorf("schema %s: no enum of table names", TableNameSchema)
	}
	pull := s.TableArrays(PullResponseSchema, nil)
	push := s.TableArrays(PushRequestSchema, PushNonTables)
	deletable := map[string]bool{}
	for _, n := range PropertyNames(s.Component(DeletedIDsSchema)) {
		deletable[n] = true
	}

	aliases := map[string][]string{}
	for _, prop := range sortedKeys(push) {
		if row := push[prop]; row != nil && row.Table != prop {
			aliases[row.Table] = append(aliases[row.Table], prop)
		}
	}

	var problems []string
	seen := map[string]bool{}
	tables := make([]Table, 0, len(names))
	for i, name := range names {
		if seen[name] {
			problems = append(problems, fmt.Sprintf("%s lists %s twice", TableNameSchema, name))
			continue
		}
		seen[name] = true
		t := Table{Name: name, Ordinal: i, Deletable: deletable[name], PushAliases: aliases[name]}
		t.Pull, t.Write = pull[name], push[name]
		switch {
		case t.Pull == nil || t.Pull.Table != name:
			problems = append(problems, fmt.Sprintf("table %s: %s.%s must be an array of a row schema with x-table: %s", name, PullResponseSchema, name, name))
			continue
		case t.Write == nil || t.Write.Table != name:
			problems = append(problems, fmt.Sprintf("table %s: %s.%s must be an array of a row schema with x-table: %s", name, PushRequestSchema, name, name))
			continue
		}
		_, hasID := t.Pull.Schema.Properties["id"]
		_, hasContractor := t.Pull.Schema.Properties["contractor_id"]
		switch {
		case hasID && hasContractor:
			t.Key = Regular
		case hasContractor:
			t.Key = Singleton
		case hasID:
			t.Key = TenantRow
		default:
			problems = append(problems, fmt.Sprintf("table %s: %s has neither id nor contractor_id, so its rows have no key", name, t.Pull.Name))
			continue
		}
		if t.Deletable && t.Key != Regular {
			problems = append(problems, fmt.Sprintf("table %s: a %s table cannot be in %s (only rows with an id are deleted through sync)", name, t.Key, DeletedIDsSchema))
		}
		model, _ := t.Pull.Schema.Extensions["x-go-type"].(string)
		if model == "" {
			problems = append(problems, fmt.Sprintf("table %s: %s needs x-go-type naming its sqlc model (e.g. db.Estimate)", name, t.Pull.Name))
		}
		t.GoModel = model
		tables = append(tables, t)
	}
	for _, prop := range sortedKeys(pull) {
		if !seen[prop] {
			problems = append(problems, fmt.Sprintf("%s.%s is a table array, but %s does not list %s", PullResponseSchema, prop, TableNameSchema, prop))
		}
	}
	for _, prop := range sortedKeys(push) {
		if row := push[prop]; row != nil && row.Table == prop && !seen[prop] {
			problems = append(problems, fmt.Sprintf("%s.%s is a table array, but %s does not list %s", PushRequestSchema, prop, TableNameSchema, prop))
		}
	}
	for table := range aliases {
		if !seen[table] {
			problems = append(problems, fmt.Sprintf("%s: %s are rows of %s, which %s does not list", PushRequestSchema, strings.Join(aliases[table], ", "), table, TableNameSchema))
		}
	}
	if len(problems) == 0 {
		// The envelopes agree (above); the other lists of tables too.
		problems = append(s.TableListProblems(PropertyLists(), names, deletable), s.UnlistedTableLists(names)...)
	}
	if len(problems) > 0 {
		return nil, errors.New("openapi.yaml: " + strings.Join(problems, "; "))
	}
	return tables, nil
}

func sortedKeys[V any](m map[string]V) []string {
	list := make([]string, 0, len(m))
	for k := range m {
		list = append(list, k)
	}
	sort.Strings(list)
	return list
}
