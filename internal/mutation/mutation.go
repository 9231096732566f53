// Package mutation is the project's mutation testing kept as data:
// mutants.yaml at the repository root lists small semantic slips (a file, the
// exact text to replace, its replacement, why it is a bug, and the test meant
// to catch it), and `make mutate` (cmd/mutate) applies them one at a time and
// requires the test suite to fail on each.
//
// A mutant is never written into the working tree: Overlay builds it as a
// `go test -overlay` file map, so the build cache is kept and only the
// mutated package and what depends on it are recompiled. A mutant of a Go
// file replaces that file; a mutant of the SQL regenerates gen/db in a
// scratch directory and replaces the generated files that changed: of a
// hand-written queries/*.sql with sqlc; of the template of every table's
// statements (queries/*.sql.tmpl) with tablegen, then sqlc. A mutant of the
// template may name one table (Table, or each_table for a set of them):
// only that table's statements are then regenerated from the mutated
// template. The template makes a slip in one table alone impossible to
// write, but the per-table tests must still catch it table by table, or a
// test that looks at one table only would pass for all.
package mutation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/syncproxy/syncproxy/internal/contract"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

// DataFile is where the mutants live, relative to the repository root.
const DataFile = "mutants.yaml"

// Set is mutants.yaml, its per-table entries expanded.
type Set struct {
	// Suite are the package patterns of the test suite every mutant must
	// fail (go test patterns, relative to the root).
	Suite   []string
	Mutants []Mutant
}

// Mutant is one slip to put into the code.
type Mutant struct {
	Name string
	File string // relative to the root: a .go file, queries/*.sql or a template queries/*.sql.tmpl
	// Table, for a mutant of the template: the one table whose statements
	// are mutated (the others are generated from the template as it is).
	Table    string
	Edits    []Edit // applied in order; each find must occur exactly once
	Why      string
	CaughtBy []string // names of top-level tests meant to catch it
}

// Edit replaces the one occurrence of Find by Replace.
type Edit struct {
	Find    string `yaml:"find"`
	Replace string `yaml:"replace"`
}

// entry is one item of mutants.yaml as written.
type entry struct {
	Name     string   `yaml:"name"`
	File     string   `yaml:"file"`
	Find     string   `yaml:"find"`
	Replace  string   `yaml:"replace"`
	Edits    []Edit   `yaml:"edits"`
	Why      string   `yaml:"why"`
	CaughtBy []string `yaml:"caught_by"`
	// Table: of a template, mutate this table's statements only.
	Table string `yaml:"table"`
	// EachTable repeats the entry for every table of a set of the registry
	// (deletable: the tables with an id and tombstones; keyed: with an id;
	// all), {table} in name (and file, unless it is the template, which is
	// then mutated for that table only) standing for the table's name.
	EachTable string   `yaml:"each_table"`
	Except    []string `yaml:"except"`
}

type document struct {
	Suite   []string `yaml:"suite"`
	Mutants []entry  `yaml:"mutants"`
}

// Load reads and checks root/mutants.yaml: every mutant names a file it may
// change, and every text it replaces occurs in that file exactly once, so a
// refactor that moves the code a mutant names fails here instead of
// silently testing nothing.
func Load(root string) (*Set, error) {
	return LoadFile(root, filepath.Join(root, DataFile))
}

// LoadFile is Load with the mutants read from file (a trial set, say).
func LoadFile(root, file string) (*Set, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc document
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Suite) == 0 {
		return nil, fmt.Errorf("%s: no suite (the go test packages every mutant must fail)", file)
	}
	set := &Set{Suite: doc.Suite}
	var problems []string
	seen := map[string]bool{}
	for i, e := range doc.Mutants {
		expanded, err := e.expand()
		if err != nil {
			problems = append(problems, fmt.Sprintf("mutant %d (%q): %v", i+1, e.Name, err))
			continue
		}
		for _, m := range expanded {
			if seen[m.Name] {
				problems = append(problems, fmt.Sprintf("mutant %q: the name is used twice", m.Name))
			}
			seen[m.Name] = true
			if _, err := m.apply(root); err != nil {
				problems = append(problems, err.Error())
			}
			set.Mutants = append(set.Mutants, m)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s:\n  %s", file, strings.Join(problems, "\n  "))
	}
	return set, nil
}

func (e entry) expand() ([]Mutant, error) {
	edits := e.Edits
	switch {
	case e.Name == "" || e.File == "" || strings.TrimSpace(e.Why) == "":
		return nil, errors.New("name, file and why are required")
	case len(e.CaughtBy) == 0:
		return nil, errors.New("caught_by is required: the test(s) meant to catch it")
	case len(edits) > 0 && (e.Find != "" || e.Replace != ""):
		return nil, errors.New("give find/replace or edits, not both")
	case len(edits) == 0:
		edits = []Edit{{Find: e.Find, Replace: e.Replace}}
	}
	for _, ed := range edits {
		if ed.Find == "" || ed.Find == ed.Replace {
			return nil, errors.New("every edit needs a find and a different replace")
		}
	}
	for _, name := range e.CaughtBy {
		if !testName.MatchString(name) {
			return nil, fmt.Errorf("caught_by %q is not the name of a top-level test", name)
		}
	}
	base := Mutant{Name: e.Name, File: e.File, Table: e.Table, Edits: edits, Why: strings.TrimSpace(e.Why), CaughtBy: e.CaughtBy}
	if e.Table != "" && !isTemplate(e.File) {
		return nil, errors.New("table is for a mutant of the template (queries/*.sql.tmpl)")
	}
	if e.EachTable == "" {
		if len(e.Except) > 0 {
			return nil, errors.New("except without each_table")
		}
		if e.Table != "" && !slices.ContainsFunc(syncstore.Tables(), func(t syncstore.Table) bool { return t.Name == e.Table }) {
			return nil, fmt.Errorf("table %q is not a table of the registry", e.Table)
		}
		return []Mutant{base}, nil
	}
	switch {
	case e.Table != "":
		return nil, errors.New("give table or each_table, not both")
	case !strings.Contains(e.Name, "{table}"):
		return nil, errors.New("each_table needs {table} in name")
	case !isTemplate(e.File) && !strings.Contains(e.File, "{table}"):
		return nil, errors.New("each_table needs {table} in file, or the template as file")
	}
	tables, err := tableSet(e.EachTable)
	if err != nil {
		return nil, err
	}
	var out []Mutant
	for _, t := range tables {
		if slices.Contains(e.Except, t) {
			continue
		}
		m := base
		m.Name = strings.ReplaceAll(e.Name, "{table}", t)
		m.File = strings.ReplaceAll(e.File, "{table}", t)
		if isTemplate(e.File) {
			m.Table = t
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("each_table %s leaves no table", e.EachTable)
	}
	return out, nil
}

var testName = regexp.MustCompile(`^Test[A-Za-z0-9_]*$`)

// tableSet names tables of the generated registry, so a table added later
// gets its per-table mutants without an edit here.
func tableSet(name string) ([]string, error) {
	var out []string
	for _, t := range syncstore.Tables() {
		switch name {
		case "all":
		case "keyed":
			if t.Key != contract.Regular {
				continue
			}
		case "deletable":
			if t.Key != contract.Regular || !t.Deletable {
				continue
			}
		default:
			return nil, fmt.Errorf("each_table %q: want all, keyed or deletable", name)
		}
		out = append(out, t.Name)
	}
	return out, nil
}

// apply returns the mutated content of m.File.
func (m Mutant) apply(root string) ([]byte, error) {
	if err := supported(m.File); err != nil {
		return nil, fmt.Errorf("mutant %q: %w", m.Name, err)
	}
	raw, err := os.ReadFile(filepath.Join(root, m.File))
	if err != nil {
		return nil, fmt.Errorf("mutant %q: %w", m.Name, err)
	}
	text := string(raw)
	for i, ed := range m.Edits {
		if n := strings.Count(text, ed.Find); n != 1 {
			return nil, fmt.Errorf("mutant %q: edit %d: the text to replace occurs %d times in %s, want exactly once (has the code moved? update %s):\n%s",
				m.Name, i+1, n, m.File, DataFile, indent(ed.Find))
		}
		text = strings.Replace(text, ed.Find, ed.Replace, 1)
	}
	return []byte(text), nil
}

func supported(file string) error {
	switch {
	case filepath.IsAbs(file) || strings.Contains(file, ".."):
		return fmt.Errorf("file %s: must be relative to the repository root", file)
	case strings.HasSuffix(file, "_test.go"):
		return fmt.Errorf("file %s: a mutant of a test is not a mutant of the code", file)
	case strings.HasPrefix(file, "gen/") || strings.HasSuffix(file, ".gen.go"):
		return fmt.Errorf("file %s: generated; mutate its source (queries/*.sql, the template queries/*.sql.tmpl)", file)
	case strings.HasSuffix(file, ".go"):
		return nil
	case strings.HasPrefix(file, "queries/") && (strings.HasSuffix(file, ".sql") || isTemplate(file)):
		return nil
	}
	return fmt.Errorf("file %s: only Go files, queries/*.sql and the template queries/*.sql.tmpl can be mutated (through go test -overlay)", file)
}

// isTemplate says file is a template tablegen writes statements from.
func isTemplate(file string) bool { return strings.HasSuffix(file, ".sql.tmpl") }

func indent(s string) string {
	return "    | " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    | ")
}
