package mutation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Overlay writes the mutant into dir (a fresh scratch directory) and returns
// the path of a `go test -overlay` file there, and the repository-relative
// directories of the Go packages whose files it replaces.
func (m Mutant) Overlay(root, dir string) (overlayFile string, pkgDirs []string, err error) {
	mutated, err := m.apply(root)
	if err != nil {
		return "", nil, err
	}
	replace := map[string]string{} // repository file (absolute) -> its mutated copy
	if strings.HasSuffix(m.File, ".go") {
		copyPath := filepath.Join(dir, filepath.Base(m.File))
		if err := os.WriteFile(copyPath, mutated, 0o644); err != nil {
			return "", nil, err
		}
		replace[filepath.Join(root, m.File)] = copyPath
	} else if replace, err = regenerate(root, dir, m.File, m.Table, mutated); err != nil {
		return "", nil, fmt.Errorf("mutant %q: %w", m.Name, err)
	}
	seen := map[string]bool{}
	for file := range replace {
		rel, _ := filepath.Rel(root, filepath.Dir(file))
		if !seen[rel] {
			seen[rel] = true
			pkgDirs = append(pkgDirs, rel)
		}
	}
	b, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", nil, err
	}
	overlayFile = filepath.Join(dir, "overlay.json")
	return overlayFile, pkgDirs, os.WriteFile(overlayFile, b, 0o644)
}

// regenerate runs the SQL's generators (the project's own, `go run
// ./cmd/tablegen` and `go tool sqlc`) over the repository's migrations and
// queries with file replaced by mutated, in dir, and maps every file of
// gen/db that differs from the committed one to its regenerated copy.
// Going through the generators keeps a mutant of the SQL the same kind of
// change a developer makes: the query text or its template, with sqlc's
// parameter numbering and result types, not a hand edit of gen/db. A
// mutant of the template for one table (table) keeps the other tables'
// statements as committed.
func regenerate(root, dir, file, table string, mutated []byte) (map[string]string, error) {
	cfg, err := readSqlc(root)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(root, "sqlc.yaml"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sqlc.yaml"), raw, 0o644); err != nil {
		return nil, err
	}
	if err := os.Symlink(filepath.Join(root, cfg.schema), filepath.Join(dir, cfg.schema)); err != nil {
		return nil, err
	}
	// Every query directory sqlc reads, and the templates beside them.
	for _, qdir := range cfg.queries {
		files, err := filepath.Glob(filepath.Join(root, qdir, "*.sql*"))
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(dir, qdir), 0o755); err != nil {
			return nil, err
		}
		for _, f := range files {
			content, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if filepath.Join(root, file) == f {
				content = mutated
			}
			if err := os.WriteFile(filepath.Join(dir, qdir, filepath.Base(f)), content, 0o644); err != nil {
				return nil, err
			}
		}
	}
	if isTemplate(file) {
		if err := tablegen(root, dir, file, table, cfg); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("go", "tool", "sqlc", "generate", "-f", filepath.Join(dir, "sqlc.yaml"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sqlc generate of the mutated queries: %v\n%s", err, out)
	}
	generated, err := filepath.Glob(filepath.Join(dir, cfg.out, "*.go"))
	if err != nil {
		return nil, err
	}
	replace := map[string]string{}
	for _, g := range generated {
		committed := filepath.Join(root, cfg.out, filepath.Base(g))
		want, err := os.ReadFile(g)
		if err != nil {
			return nil, err
		}
		have, err := os.ReadFile(committed)
		if err != nil {
			return nil, fmt.Errorf("sqlc generated %s, which is not committed: run make generate", filepath.Base(g))
		}
		if !bytes.Equal(want, have) {
			replace[committed] = g
		}
	}
	if len(replace) == 0 {
		return nil, fmt.Errorf("the mutated %s generates the same %s (a change in a comment?)", file, cfg.out)
	}
	return replace, nil
}

// tablegen writes every table's statements from the mutated template into
// the copy of the directory sqlc reads them from; with a table, only that
// table's (the others are put back as committed).
func tablegen(root, dir, template, table string, cfg *sqlcInputs) error {
	out := ""
	for _, q := range cfg.queries {
		if q != filepath.Dir(template) {
			out = q
		}
	}
	if out == "" {
		return fmt.Errorf("sqlc.yaml reads no directory of generated statements besides %s: teach internal/mutation where tablegen writes", filepath.Dir(template))
	}
	cmd := exec.Command("go", "run", "./cmd/tablegen", "-spec", "openapi.yaml", "-template", filepath.Join(dir, template),
		"-sql-out", filepath.Join(dir, out), "-out", filepath.Join(dir, "tables.gen.go"))
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tablegen from the mutated %s: %v\n%s", template, err, b)
	}
	if table == "" {
		return nil
	}
	generated, err := filepath.Glob(filepath.Join(dir, out, "*.gen.sql"))
	if err != nil {
		return err
	}
	found := false
	for _, g := range generated {
		if filepath.Base(g) == table+".gen.sql" {
			found = true
			continue
		}
		committed, err := os.ReadFile(filepath.Join(root, out, filepath.Base(g)))
		if err != nil {
			return err
		}
		if err := os.WriteFile(g, committed, 0o644); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("tablegen wrote no %s.gen.sql: is %s a synced table?", table, table)
	}
	return nil
}

// sqlcInputs is what sqlc.yaml says sqlc reads and writes.
type sqlcInputs struct {
	schema  string
	queries []string
	out     string
}

func readSqlc(root string) (*sqlcInputs, error) {
	raw, err := os.ReadFile(filepath.Join(root, "sqlc.yaml"))
	if err != nil {
		return nil, err
	}
	var cfg struct {
		SQL []struct {
			Schema  string    `yaml:"schema"`
			Queries yaml.Node `yaml:"queries"`
			Gen     struct {
				Go struct {
					Out string `yaml:"out"`
				} `yaml:"go"`
			} `yaml:"gen"`
		} `yaml:"sql"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("sqlc.yaml: %w", err)
	}
	if len(cfg.SQL) != 1 || cfg.SQL[0].Schema == "" || cfg.SQL[0].Gen.Go.Out == "" {
		return nil, fmt.Errorf("sqlc.yaml: want one sql entry with a schema directory and gen.go.out: teach internal/mutation where sqlc reads and writes")
	}
	in := &sqlcInputs{schema: filepath.Clean(cfg.SQL[0].Schema), out: filepath.Clean(cfg.SQL[0].Gen.Go.Out)}
	q := cfg.SQL[0].Queries
	switch q.Kind {
	case yaml.ScalarNode:
		in.queries = []string{q.Value}
	case yaml.SequenceNode:
		if err := q.Decode(&in.queries); err != nil {
			return nil, fmt.Errorf("sqlc.yaml queries: %w", err)
		}
	}
	if len(in.queries) == 0 {
		return nil, fmt.Errorf("sqlc.yaml: no queries")
	}
	for i := range in.queries {
		in.queries[i] = filepath.Clean(in.queries[i])
	}
	return in, nil
}
