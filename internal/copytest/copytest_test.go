package copytest_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/syncproxy/syncproxy/internal/repocopy"
)

// suite is the part of the black-box suite (server/blackbox) the copy runs: every
// per-table behaviour on every table.
const suite = `^TestEveryTable_`

// copyRepo copies the repository into a fresh scratch directory.
func copyRepo(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("copies the repository and runs the suite in it: not in -short")
	}
	root := repocopy.Root(t)
	dir := t.TempDir()
	repocopy.Copy(t, root, dir, repocopy.Files(t, root))
	return dir
}

// runSuite runs the suite (verbose) in a copy and returns its output and
// whether it passed.
func runSuite(t *testing.T, dir string) (string, bool) {
	t.Helper()
	out, code := repocopy.Run(t, dir, nil, "go", "test", "-count=1", "-v", "-run", suite, "./server/blackbox/")
	return out, code == 0
}

var failedTest = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

func failures(out string) []string {
	var names []string
	for _, m := range failedTest.FindAllStringSubmatch(out, -1) {
		names = append(names, m[1])
	}
	return names
}

// TestAddTable_NoGoFileEdited adds a tenth synced table through a
// migration, its line in docs/citus.sql and the spec only, runs `make
// generate`, and proves the table works end to end: the drift checks accept
// it, no hand-written Go file or query changed, and every per-table
// behaviour test passes on it over real HTTP.
func TestAddTable_NoGoFileEdited(t *testing.T) {
	dir := copyRepo(t)
	const table, template = "site_visits", "costbook_folders"
	before := handWritten(t, dir)
	addTable(t, dir, table, template)

	if out, code := repocopy.Run(t, dir, nil, "make", "generate"); code != 0 {
		t.Fatalf("make generate failed:\n%s", out)
	}
	if after := handWritten(t, dir); !equalMaps(before, after) {
		t.Fatalf("make generate changed hand-written Go or SQL files: %v", changedKeys(before, after))
	}
	for _, check := range []string{"check-db", "check-tenant", "check-distributable", "check-generated"} {
		if out, code := repocopy.Run(t, dir, nil, "make", check); code != 0 {
			t.Fatalf("make %s fails for the new table:\n%s", check, out)
		}
	}
	out, ok := runSuite(t, dir)
	if !ok {
		t.Fatalf("the suite fails with the new table: %v\n%s", failures(out), tail(out, 80))
	}
	// Every per-table test ran on the new table and passed.
	tests := regexp.MustCompile(`(?m)^=== RUN\s+(TestEveryTable_\w+)$`).FindAllStringSubmatch(out, -1)
	if len(tests) == 0 {
		t.Fatalf("no per-table test ran:\n%s", tail(out, 40))
	}
	for _, m := range tests {
		if want := "--- PASS: " + m[1] + "/" + table + " "; !strings.Contains(out, want) {
			t.Errorf("%s did not pass on %s (no %q in the output)", m[1], table, want)
		}
	}
}

// handWritten maps every Go file that is not generated, and every file of
// queries/ (the hand-written SQL and the template of every table's), to its
// content.
func handWritten(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() && (rel == "gen" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		goFile := strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, ".gen.go")
		if d.IsDir() || !(goFile || strings.HasPrefix(rel, "queries"+string(filepath.Separator))) {
			return nil
		}
		b, err := os.ReadFile(path)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func equalMaps(a, b map[string]string) bool {
	return len(changedKeys(a, b)) == 0
}

func changedKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
