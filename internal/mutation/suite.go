package mutation

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Suite is the test suite's packages, what each test binary links, and
// where each top-level test is defined.
type Suite struct {
	root     string
	Packages []Package
}

// Package is one package of the suite that has tests.
type Package struct {
	ImportPath string
	Dir        string          // relative to the root
	deps       map[string]bool // every package its test binary links
	tests      map[string]bool // top-level test functions
}

// Pattern is the package as a go test argument.
func (p Package) Pattern() string { return "./" + p.Dir + "/" }

// ListSuite lists the packages of patterns (go list, from root) that have
// tests.
func ListSuite(root string, patterns []string) (*Suite, error) {
	args := append([]string{"list", "-test", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .Deps \" \"}}\t{{join .TestGoFiles \" \"}} {{join .XTestGoFiles \" \"}}"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %v\n%s", strings.Join(patterns, " "), err, stderr.String())
	}
	s := &Suite{root: root}
	byPath := map[string]*Package{}
	var order []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			continue
		}
		path, dir, deps, files := f[0], f[1], strings.Fields(f[2]), strings.Fields(f[3])
		switch {
		case strings.HasSuffix(path, ".test"): // the test binary: what it links
			p := byPath[strings.TrimSuffix(path, ".test")]
			if p == nil {
				p = &Package{ImportPath: strings.TrimSuffix(path, ".test")}
				byPath[p.ImportPath] = p
			}
			p.deps = map[string]bool{}
			for _, d := range deps {
				// "pkg [pkg.test]" is pkg recompiled for the test binary.
				p.deps[strings.Fields(d)[0]] = true
			}
		case strings.Contains(path, " "): // a package recompiled for a test
		default:
			p := byPath[path]
			if p == nil {
				p = &Package{ImportPath: path}
				byPath[path] = p
			}
			rel, err := filepath.Rel(root, dir)
			if err != nil {
				return nil, err
			}
			p.Dir = rel
			p.tests = map[string]bool{}
			for _, file := range files {
				if err := testsIn(filepath.Join(dir, file), p.tests); err != nil {
					return nil, err
				}
			}
			if len(files) > 0 {
				order = append(order, path)
			}
		}
	}
	for _, path := range order {
		s.Packages = append(s.Packages, *byPath[path])
	}
	if len(s.Packages) == 0 {
		return nil, fmt.Errorf("the suite %s has no tests", strings.Join(patterns, " "))
	}
	return s, nil
}

var testFunc = regexp.MustCompile(`^func (Test[A-Za-z0-9_]*)\(\w+ \*testing\.T\)`)

func testsIn(file string, into map[string]bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := testFunc.FindStringSubmatch(sc.Text()); m != nil {
			into[m[1]] = true
		}
	}
	return sc.Err()
}

// Defining returns the packages that define one of the tests, and the tests
// no package of the suite defines.
func (s *Suite) Defining(tests []string) (pkgs []Package, missing []string) {
	for _, t := range tests {
		found := false
		for _, p := range s.Packages {
			if p.tests[t] {
				found = true
				if !slices.ContainsFunc(pkgs, func(q Package) bool { return q.ImportPath == p.ImportPath }) {
					pkgs = append(pkgs, p)
				}
			}
		}
		if !found {
			missing = append(missing, t)
		}
	}
	return pkgs, missing
}

// Linking returns the packages whose test binary links a package in one of
// dirs (repository-relative): only those can notice a change there.
func (s *Suite) Linking(modulePath string, dirs []string) []Package {
	var out []Package
	for _, p := range s.Packages {
		for _, d := range dirs {
			path := modulePath + "/" + filepath.ToSlash(d)
			if p.ImportPath == path || p.deps[path] {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// ModulePath reads the module path from root/go.mod.
func ModulePath(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("go.mod has no module line")
}

// Event is one line of `go test -json` (test2json).
type Event struct {
	Action      string
	Package     string
	ImportPath  string // build-output and build-fail name the package here
	Test        string
	Output      string
	FailedBuild string
}

// ParseEvent decodes one line; ok is false for a line that is not an event.
func ParseEvent(line []byte) (e Event, ok bool) {
	if len(line) == 0 || line[0] != '{' {
		return Event{}, false
	}
	return e, json.Unmarshal(line, &e) == nil
}
