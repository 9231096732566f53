package main

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/syncproxy/syncproxy/internal/contract"
)

// queryName matches sqlc's annotation, `-- name: UpsertEstimates :execrows`.
var queryName = regexp.MustCompile(`^--\s*name:\s*(\w+)\s+:(\w+)`)

// queryNames returns every annotated query of the generated files with
// its command.
func queryNames(generated map[string][]byte) (map[string]string, error) {
	names := map[string]string{}
	for _, src := range generated {
		sc := bufio.NewScanner(bytes.NewReader(src))
		for sc.Scan() {
			if m := queryName.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
				names[m[1]] = m[2]
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// statement is one query the registry calls for a table.
type statement struct {
	verb    string // Upsert, Delete, Pull
	command string // sqlc command it must be declared with
	why     string
}

func statementsOf(t contract.Table) []statement {
	s := []statement{
		{"Upsert", "execrows", "writes the pushed rows (jsonb array @rows) set-based, partially"},
		{"Pull", "many", "reads rows in (sync_seq, key) order for a pull page"},
		{"Current", "many", "reads the stored rows of conflicting keys, for a 409"},
		{"Digest", "one", "counts the live rows and sums their digest"},
	}
	if t.Key == contract.Regular {
		s = append(s, statement{"Versions", "many", "reads id, sync_seq and (deleted_at IS NOT NULL)::boolean AS deleted of the keys a push checks against base_version"})
	}
	if t.Deletable {
		s = append(s,
			statement{"Delete", "execrows", "tombstones the ids of a push's deletes"},
			statement{"MarkTombstones", "execrows", "raises the purge marks of the tombstones older than @cutoff"},
			statement{"PurgeTombstones", "execrows", "deletes the tombstones older than @cutoff"})
	}
	return s
}

// checkQueries names every statement the template wrote no table, so an
// edit of the template fails here with what is missing instead of in the
// compiler with a missing method of gen/db.
func checkQueries(tables []contract.Table, names map[string]string, template string) error {
	var missing []string
	for _, t := range tables {
		for _, st := range statementsOf(t) {
			name := st.verb + goName(t.Name)
			cmd, ok := names[name]
			switch {
			case !ok:
				missing = append(missing, fmt.Sprintf("-- name: %s :%s (%s)", name, st.command, st.why))
			case cmd != st.command:
				missing = append(missing, fmt.Sprintf("%s: declared :%s, must be :%s", name, cmd, st.command))
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%s does not write the queries the registry calls:\n  %s", template, strings.Join(missing, "\n  "))
	}
	return nil
}

// goName is a table name as sqlc and oapi-codegen spell it in Go:
// step_a_rules -> StepARules.
func goName(table string) string {
	var b strings.Builder
	for _, part := range strings.Split(table, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
