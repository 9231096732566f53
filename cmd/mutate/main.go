// Command mutate is `make mutate`: it applies every mutant of mutants.yaml
// (see internal/mutation) to the code, one at a time, through
// `go test -overlay`, and requires the test suite to fail on each.
//
// For each mutant it first runs the tests the mutant names (caught_by), in
// the packages that define them: a failure there is the suite failing, in
// seconds. When they pass, it runs the whole suite (every package whose test
// binary links the mutated code, -failfast), so a stale caught_by costs time
// but never hides a catch; such a mutant is reported with the test that did
// catch it. A mutant that does not compile, or a suite that fails outside any
// test, is an error, never a catch. It ends with "N of N caught" and exits
// non-zero if any mutant survived or failed to run.
//
//	go run ./cmd/mutate [-only REGEXP] [-skip-baseline] [-list]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/syncproxy/syncproxy/internal/mutation"
)

func main() {
	only := flag.String("only", "", "run only the mutants whose name matches this regular expression")
	skipBaseline := flag.Bool("skip-baseline", false, "do not first run the unmutated suite (CI: make test has just run it)")
	list := flag.Bool("list", false, "check mutants.yaml and list the mutants; run nothing")
	timeout := flag.Duration("timeout", 10*time.Minute, "go test -timeout of one run")
	file := flag.String("file", "", "read the mutants from this file instead of "+mutation.DataFile+" (to try mutants out)")
	flag.Parse()
	if err := run(*file, *only, *skipBaseline, *list, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "mutate: FAIL:", err)
		os.Exit(1)
	}
}

func run(file, only string, skipBaseline, list bool, timeout time.Duration) error {
	start := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if file == "" {
		file = filepath.Join(root, mutation.DataFile)
	}
	set, err := mutation.LoadFile(root, file)
	if err != nil {
		return err
	}
	mutants := set.Mutants
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		mutants = nil
		for _, m := range set.Mutants {
			if re.MatchString(m.Name) {
				mutants = append(mutants, m)
			}
		}
		if len(mutants) == 0 {
			return fmt.Errorf("-only %q matches no mutant", only)
		}
	}
	suite, err := mutation.ListSuite(root, set.Suite)
	if err != nil {
		return err
	}
	module, err := mutation.ModulePath(root)
	if err != nil {
		return err
	}
	for _, m := range mutants {
		if _, missing := suite.Defining(m.CaughtBy); len(missing) > 0 {
			return fmt.Errorf("mutant %q: caught_by names %s, which no package of the suite (%s) defines",
				m.Name, strings.Join(missing, ", "), strings.Join(set.Suite, " "))
		}
	}
	shown := file
	if rel, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(rel, "..") {
		shown = rel
	}
	fmt.Printf("mutate: %d mutants from %s; suite %s (%d packages with tests)\n",
		len(mutants), shown, strings.Join(set.Suite, " "), len(suite.Packages))
	if list {
		for i, m := range mutants {
			fmt.Printf("  %2d. %-60s %s  caught_by %s\n", i+1, m.Name, m.File, strings.Join(m.CaughtBy, ", "))
		}
		return nil
	}

	scratch, err := os.MkdirTemp("", "syncproxy-mutate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	r := runner{root: root, module: module, timeout: timeout, logs: scratch}

	if !skipBaseline {
		t0 := time.Now()
		fmt.Printf("mutate: baseline: the unmutated suite must pass ...\n")
		res, err := r.goTest("baseline", "", "", suite.Packages, false)
		if err != nil {
			return err
		}
		if res.failed() {
			return fmt.Errorf("the unmutated suite fails (%s), so no mutant could be told apart from it:\n%s", res.describe(), res.tail)
		}
		fmt.Printf("mutate: baseline: passes [%s]\n", since(t0))
	}

	var survived, broken []string
	caught := 0
	width := len(fmt.Sprint(len(mutants)))
	for i, m := range mutants {
		t0 := time.Now()
		fmt.Printf("[%*d/%d] %s (%s) ... ", width, i+1, len(mutants), m.Name, m.File)
		verdict, err := r.mutant(m, suite, module, filepath.Join(scratch, fmt.Sprint(i+1)))
		switch {
		case err != nil:
			broken = append(broken, m.Name)
			fmt.Printf("ERROR [%s]\n    %s\n", since(t0), strings.ReplaceAll(err.Error(), "\n", "\n    "))
		case verdict == "":
			survived = append(survived, m.Name)
			fmt.Printf("SURVIVED [%s]: the whole suite passes with it\n    why it is a bug: %s\n", since(t0), m.Why)
		default:
			caught++
			head, detail, _ := strings.Cut(verdict, "\n")
			fmt.Printf("caught by %s [%s]\n", head, since(t0))
			if detail != "" {
				fmt.Println(detail)
			}
		}
	}
	if len(survived)+len(broken) > 0 {
		msg := fmt.Sprintf("%d of %d caught [%s]", caught, len(mutants), since(start))
		if len(survived) > 0 {
			msg += "; survived: " + strings.Join(survived, ", ") + " → write the test that fails with it (README: Mutation testing)"
		}
		if len(broken) > 0 {
			msg += "; could not run: " + strings.Join(broken, ", ")
		}
		return fmt.Errorf("%s", msg)
	}
	fmt.Printf("mutate: %d of %d caught [%s]\n", caught, len(mutants), since(start))
	return nil
}

type runner struct {
	root    string
	module  string
	timeout time.Duration
	logs    string // each go test run's output, for the messages
}

// mutant returns what caught m ("" when nothing did).
func (r runner) mutant(m mutation.Mutant, suite *mutation.Suite, module, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	overlay, pkgDirs, err := m.Overlay(r.root, dir)
	if err != nil {
		return "", err
	}
	named, _ := suite.Defining(m.CaughtBy)
	res, err := r.goTest(filepath.Base(dir)+"-named", overlay, "^("+strings.Join(m.CaughtBy, "|")+")$", named, false)
	if err != nil {
		return "", err
	}
	if err := res.broken(); err != nil {
		return "", err
	}
	if res.failed() {
		return res.describe(), nil
	}
	// The named tests pass with the mutant: the whole suite decides.
	linking := suite.Linking(module, pkgDirs)
	if len(linking) == 0 {
		return "", fmt.Errorf("no package of the suite links %s", strings.Join(pkgDirs, ", "))
	}
	res, err = r.goTest(filepath.Base(dir)+"-suite", overlay, "", linking, true)
	if err != nil {
		return "", err
	}
	if err := res.broken(); err != nil {
		return "", err
	}
	if res.failed() {
		// Not the test meant to catch it: say what the catching test saw,
		// so a flaky test is told apart from a stale caught_by.
		return res.describe() + " (not by caught_by " + strings.Join(m.CaughtBy, ", ") + ": update " + mutation.DataFile +
			"); it said:\n    " + strings.ReplaceAll(res.why, "\n", "\n    "), nil
	}
	return "", nil
}

// result is what one go test run reported.
type result struct {
	failedTests []string // "pkg TestX/sub", in the order they failed
	why         string   // what the first failing test said (its log lines)
	buildFailed []string
	pkgFailed   []string // packages that failed, with or without a failed test
	tail        string   // the last lines of output, for a message
}

func (res result) failed() bool { return len(res.failedTests) > 0 }

// broken is an error when the run failed for a reason other than a test: a
// mutant that does not compile, or a harness that could not start.
func (res result) broken() error {
	switch {
	case len(res.buildFailed) > 0:
		return fmt.Errorf("the mutant does not compile (%s):\n%s", strings.Join(res.buildFailed, ", "), res.tail)
	case len(res.failedTests) == 0 && len(res.pkgFailed) > 0:
		return fmt.Errorf("%s failed outside any test (the harness?):\n%s", strings.Join(res.pkgFailed, ", "), res.tail)
	}
	return nil
}

func (res result) describe() string {
	// The deepest failure names the case; its parents fail with it.
	first := res.failedTests[0]
	for _, t := range res.failedTests {
		if strings.HasPrefix(t, first+"/") {
			first = t
		}
	}
	if n := len(res.failedTests); n > 1 {
		return fmt.Sprintf("%s and %d more", first, n-1)
	}
	return first
}

// goTest runs go test -json over pkgs with the overlay (if any), only the
// tests runRE matches (if any), and collects what failed. -vet=off: vet
// judges the code, not the tests, and would only cost each mutant time.
func (r runner) goTest(name, overlay, runRE string, pkgs []mutation.Package, failfast bool) (result, error) {
	args := []string{"test", "-count=1", "-vet=off", "-json", "-timeout", r.timeout.String()}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	if runRE != "" {
		args = append(args, "-run", runRE)
	}
	if failfast {
		args = append(args, "-failfast")
	}
	for _, p := range pkgs {
		args = append(args, p.Pattern())
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = r.root
	log, err := os.Create(filepath.Join(r.logs, name+".log"))
	if err != nil {
		return result{}, err
	}
	defer log.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	var res result
	var lines []string
	said := map[string][]string{} // "pkg TestX" -> its output, for the first failure
	sc := bufio.NewScanner(io.TeeReader(stdout, log))
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	for sc.Scan() {
		e, ok := mutation.ParseEvent(sc.Bytes())
		if !ok {
			lines = keep(lines, sc.Text())
			continue
		}
		short := strings.TrimPrefix(strings.TrimPrefix(e.Package, r.module), "/")
		switch {
		case e.Action == "output" || e.Action == "build-output":
			line := strings.TrimRight(e.Output, "\n")
			lines = keep(lines, line)
			if e.Test != "" && len(res.failedTests) == 0 {
				said[short+" "+e.Test] = keep(said[short+" "+e.Test], line)
			}
		case e.Action == "build-fail":
			res.buildFailed = appendNew(res.buildFailed, e.ImportPath)
		case e.Action == "fail" && e.Test != "":
			if len(res.failedTests) == 0 {
				res.why = strings.Join(said[short+" "+e.Test], "\n")
			}
			res.failedTests = append(res.failedTests, short+" "+e.Test)
		case e.Action == "fail" && e.FailedBuild != "":
			res.buildFailed = appendNew(res.buildFailed, e.FailedBuild)
		case e.Action == "fail":
			res.pkgFailed = append(res.pkgFailed, short)
		}
	}
	waitErr := cmd.Wait()
	res.tail = strings.Join(lines, "\n")
	if ctx.Err() != nil {
		return res, fmt.Errorf("go test did not end within %s", r.timeout+time.Minute)
	}
	var exit *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exit) {
		return res, fmt.Errorf("go test: %w", waitErr)
	}
	if waitErr != nil && !res.failed() && len(res.buildFailed)+len(res.pkgFailed) == 0 {
		res.pkgFailed = append(res.pkgFailed, "go test (exit "+fmt.Sprint(exit.ExitCode())+")")
	}
	return res, nil
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func keep(lines []string, line string) []string {
	const max = 40
	lines = append(lines, line)
	if len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	return lines
}

func since(t time.Time) string {
	d := time.Since(t)
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module: run from the repository")
	}
	return filepath.Dir(mod), nil
}
