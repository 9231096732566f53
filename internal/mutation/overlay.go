package mutation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	} else if replace, err = regenerate(root, dir, m.File, mutated); err != nil {
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

// regenerate runs sqlc (the project's own, `go tool sqlc`) over the
// repository's migrations and its queries with file replaced by mutated, in
// dir, and maps every generated file that differs from the committed one to
// its regenerated copy. Going through sqlc keeps a mutant of the SQL the
// same kind of change a developer makes: the query text, with sqlc's
// parameter numbering and result types, not a hand edit of gen/db.
func regenerate(root, dir, file string, mutated []byte) (map[string]string, error) {
	config, err := os.ReadFile(filepath.Join(root, "sqlc.yaml"))
	if err != nil {
		return nil, err
	}
	for _, must := range []string{"schema: migrations", "queries: queries", "out: gen/db"} {
		if !bytes.Contains(config, []byte(must)) {
			return nil, fmt.Errorf("sqlc.yaml no longer says %q: teach internal/mutation where sqlc reads and writes", must)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sqlc.yaml"), config, 0o644); err != nil {
		return nil, err
	}
	if err := os.Symlink(filepath.Join(root, "migrations"), filepath.Join(dir, "migrations")); err != nil {
		return nil, err
	}
	queries, err := filepath.Glob(filepath.Join(root, "queries", "*.sql"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "queries"), 0o755); err != nil {
		return nil, err
	}
	for _, q := range queries {
		content, err := os.ReadFile(q)
		if err != nil {
			return nil, err
		}
		if filepath.Join(root, file) == q {
			content = mutated
		}
		if err := os.WriteFile(filepath.Join(dir, "queries", filepath.Base(q)), content, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("go", "tool", "sqlc", "generate", "-f", filepath.Join(dir, "sqlc.yaml"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sqlc generate of the mutated queries: %v\n%s", err, out)
	}
	generated, err := filepath.Glob(filepath.Join(dir, "gen", "db", "*.go"))
	if err != nil {
		return nil, err
	}
	replace := map[string]string{}
	for _, g := range generated {
		committed := filepath.Join(root, "gen", "db", filepath.Base(g))
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
		return nil, fmt.Errorf("the mutated %s generates the same gen/db (a change in a comment?)", file)
	}
	return replace, nil
}
