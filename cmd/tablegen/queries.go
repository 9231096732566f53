package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/syncproxy/syncproxy/internal/contract"
)

// queryName matches sqlc's annotation, `-- name: UpsertEstimates :execrows`.
var queryName = regexp.MustCompile(`^--\s*name:\s*(\w+)\s+:(\w+)`)

// queryNames returns every annotated query in dir with its command.
func queryNames(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if m := queryName.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
				names[m[1]] = m[2]
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
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

// checkQueries names every statement a table lacks, so adding a table fails
// here with what to write instead of in the compiler with a missing method.
func checkQueries(tables []contract.Table, names map[string]string, dir string) error {
	var missing []string
	for _, t := range tables {
		for _, st := range statementsOf(t) {
			name := st.verb + goName(t.Name)
			cmd, ok := names[name]
			switch {
			case !ok:
				missing = append(missing, fmt.Sprintf("%s/%s.sql: -- name: %s :%s (%s)", dir, t.Name, name, st.command, st.why))
			case cmd != st.command:
				missing = append(missing, fmt.Sprintf("%s: declared :%s, must be :%s", name, cmd, st.command))
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("queries the registry needs are missing (copy them from %s/estimates.sql):\n  %s", dir, strings.Join(missing, "\n  "))
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
