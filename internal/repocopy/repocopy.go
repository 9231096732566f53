// Package repocopy is for tests that prove something about the repository by
// changing a copy of it: copy the files git knows (tracked and untracked, not
// ignored) to a scratch directory, edit them, and run commands there. The
// contract checks prove each check fires this way (cmd/contractcheck), and
// internal/copytest that a table is added without a Go edit. (Mutants of the
// code need no copy: `make mutate` builds them with go test -overlay.)
package repocopy

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Root is the repository root: the directory of go.mod above the working
// directory of the test.
func Root(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("not inside the module")
	}
	return filepath.Dir(mod)
}

// Files lists the repository's files as git sees them (tracked and
// untracked, not ignored) that exist in the working tree.
func Files(t testing.TB, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f == "" {
			continue
		}
		if info, err := os.Lstat(filepath.Join(root, f)); err == nil && info.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	return files
}

// Copy copies files from one root to another, creating directories.
func Copy(t testing.TB, from, to string, files []string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		Write(t, to, f, string(b))
	}
}

// Write creates or replaces dir/name.
func Write(t testing.TB, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Read returns dir/name.
func Read(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Edit replaces old, which must occur exactly once (if the file moved on,
// the change that relies on it must be updated), with new.
func Edit(t testing.TB, dir, name, old, new string) {
	t.Helper()
	s := Read(t, dir, name)
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("anchor %q occurs %d times in %s, want 1: update the change that edits it", old, n, name)
	}
	Write(t, dir, name, strings.Replace(s, old, new, 1))
}

// RemoveBetween deletes from start up to (not including) end.
func RemoveBetween(t testing.TB, dir, name, start, end string) {
	t.Helper()
	s := Read(t, dir, name)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("anchors %q..%q not found in %s: update the change that edits it", start, end, name)
	}
	Write(t, dir, name, s[:i]+s[j:])
}

// Append adds text at the end of dir/name.
func Append(t testing.TB, dir, name, text string) {
	t.Helper()
	Write(t, dir, name, Read(t, dir, name)+text)
}

// Run runs name with args in dir and returns its combined output and exit
// code; env entries are added to the environment. A command that cannot
// start fails the test.
func Run(t testing.TB, dir string, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	default:
		t.Fatalf("run %s %v: %v", name, args, err)
		return "", -1
	}
}
