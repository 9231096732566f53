package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// A generator regenerates one committed output directory into a scratch
// directory, never into the working tree: the check must not repair what it
// is checking, and must not race an editor or `make generate`.
type generator struct {
	tool      string // how to name it in messages
	committed string // output directory, relative to the repository root
	// file, when set, is the one generated file in committed to compare
	// (the directory also holds hand-written code).
	file string
	// run generates into fresh (an empty directory standing in for committed).
	run func(ctx context.Context, fresh string) error
}

func runGenerated(ctx context.Context, r *report, args []string) error {
	flags := flag.NewFlagSet("generated", flag.ContinueOnError)
	spec := flags.String("spec", "openapi.yaml", "the OpenAPI document")
	swiftOut := flags.String("swift-out", "swift-client/Sources/SyncProxyClient/Generated", "committed swiftgen output directory")
	registry := flags.String("registry", "server/syncstore/tables.gen.go", "committed tablegen output file")
	template := flags.String("template", "queries/table.sql.tmpl", "the template tablegen writes every table's standard statements from")
	tableSQL := flags.String("table-sql", "gen/queries", "committed tablegen output directory of the statements")
	if err := flags.Parse(args); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "contractcheck-generated-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)

	gens, err := generators(scratch, *spec, *swiftOut, *registry, *template, *tableSQL)
	if err != nil {
		return err
	}
	var dirs []string
	for _, g := range gens {
		dirs = append(dirs, filepath.Join(g.committed, g.file))
	}
	r.comparing("regenerating %s into a scratch directory and comparing with the committed files", strings.Join(dirs, ", "))

	// The generators are independent: run them at once.
	errs := make([]error, len(gens))
	var wg sync.WaitGroup
	for i, g := range gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.run(ctx, filepath.Join(scratch, "out", fmt.Sprint(i)))
		}()
	}
	wg.Wait()

	compared, differing := 0, 0
	for i, g := range gens {
		if errs[i] != nil {
			r.problem("%s failed, so %s cannot be checked: %v", g.tool, g.committed, errs[i])
			differing++
			continue
		}
		n, bad, err := compareDirs(r, g.tool, g.committed, filepath.Join(scratch, "out", fmt.Sprint(i)), g.file)
		if err != nil {
			return err
		}
		compared += n
		differing += bad
	}
	return r.verdict(
		fmt.Sprintf("%s compared", plural(compared, "file", "files")),
		fmt.Sprintf("%s out of date (of %d compared)", plural(differing, "generated file is", "generated files are"), compared),
		"run make generate and commit the result; never edit generated files by hand (change openapi.yaml, queries/ or migrations/ and regenerate)")
}

// generators lists sqlc, oapi-codegen, tablegen and swiftgen, each reading
// the committed inputs and writing into a scratch directory. sqlc reads the
// committed statements tablegen wrote: a stale gen/queries is tablegen's
// difference, a gen/db that does not follow from it sqlc's.
func generators(scratch, spec, swiftOut, registry, template, tableSQL string) ([]generator, error) {
	sqlcGens, err := sqlcGenerators(scratch)
	if err != nil {
		return nil, err
	}
	apiOut, err := oapiCodegenOutput("oapi-codegen.yaml")
	if err != nil {
		return nil, err
	}
	// oapi-codegen's -o does not override a config's output: give it a copy
	// of the config that writes into the scratch directory.
	apiConfig := filepath.Join(scratch, "oapi-codegen.yaml")
	gens := append(sqlcGens,
		generator{
			tool:      "oapi-codegen",
			committed: filepath.Dir(apiOut),
			run: func(ctx context.Context, fresh string) error {
				if err := retargetConfig("oapi-codegen.yaml", apiConfig, filepath.Join(fresh, filepath.Base(apiOut))); err != nil {
					return err
				}
				return goCommand(ctx, "tool", "oapi-codegen", "-config", apiConfig, spec)
			},
		},
		generator{
			tool:      "tablegen",
			committed: filepath.Dir(registry),
			file:      filepath.Base(registry),
			run: func(ctx context.Context, fresh string) error {
				return goCommand(ctx, "run", "./cmd/tablegen", "-spec", spec, "-template", template,
					"-sql-out", fresh+"-unused", "-out", filepath.Join(fresh, filepath.Base(registry)))
			},
		},
		generator{
			tool:      "tablegen",
			committed: tableSQL,
			run: func(ctx context.Context, fresh string) error {
				return goCommand(ctx, "run", "./cmd/tablegen", "-spec", spec, "-template", template,
					"-sql-out", fresh, "-out", filepath.Join(fresh+"-unused", filepath.Base(registry)))
			},
		},
		generator{
			tool:      "swiftgen",
			committed: swiftOut,
			run: func(ctx context.Context, fresh string) error {
				return goCommand(ctx, "run", "./cmd/swiftgen", "-spec", spec, "-out", fresh)
			},
		})
	return gens, nil
}

// sqlcConfig is the part of sqlc.yaml (version 2) that says what sqlc reads
// and where it writes.
type sqlcConfig struct {
	SQL []struct {
		Schema  stringList `yaml:"schema"`
		Queries stringList `yaml:"queries"`
		Gen     struct {
			Go *struct {
				Out string `yaml:"out"`
			} `yaml:"go"`
		} `yaml:"gen"`
	} `yaml:"sql"`
}

func readSqlcConfig(path string) (*sqlcConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg sqlcConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, nil
}

// stringList accepts sqlc's "a path or a list of paths".
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = []string{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = list
	return nil
}

// sqlcGenerators copies sqlc.yaml with its schema and query paths into
// scratch/sqlc, so that sqlc's relative "out" lands there, then runs sqlc once;
// each Go output directory becomes one generator.
func sqlcGenerators(scratch string) ([]generator, error) {
	cfg, err := readSqlcConfig("sqlc.yaml")
	if err != nil {
		return nil, err
	}
	work := filepath.Join(scratch, "sqlc")
	var inputs, outs []string
	for _, s := range cfg.SQL {
		inputs = append(inputs, s.Schema...)
		inputs = append(inputs, s.Queries...)
		if s.Gen.Go != nil {
			outs = append(outs, filepath.Clean(s.Gen.Go.Out))
		}
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("sqlc.yaml: no gen.go.out")
	}
	for _, in := range append(inputs, "sqlc.yaml") {
		if err := copyPath(in, filepath.Join(work, in)); err != nil {
			return nil, err
		}
	}
	var once sync.Once
	var runErr error
	generate := func(ctx context.Context) error {
		once.Do(func() {
			runErr = goCommand(ctx, "tool", "sqlc", "generate", "-f", filepath.Join(work, "sqlc.yaml"))
		})
		return runErr
	}
	var gens []generator
	for _, out := range outs {
		gens = append(gens, generator{
			tool:      "sqlc",
			committed: out,
			run: func(ctx context.Context, fresh string) error {
				if err := generate(ctx); err != nil {
					return err
				}
				return copyPath(filepath.Join(work, out), fresh)
			},
		})
	}
	return gens, nil
}

// oapiCodegenOutput reads the output file named in oapi-codegen's config.
func oapiCodegenOutput(config string) (string, error) {
	raw, err := os.ReadFile(config)
	if err != nil {
		return "", err
	}
	var cfg struct {
		Output string `yaml:"output"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return "", fmt.Errorf("%s: %w", config, err)
	}
	if cfg.Output == "" {
		return "", fmt.Errorf("%s: no output", config)
	}
	return filepath.Clean(cfg.Output), nil
}

// retargetConfig writes a copy of oapi-codegen's config with another output.
func retargetConfig(config, copyPath, output string) error {
	raw, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %w", config, err)
	}
	cfg["output"] = output
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(copyPath, out, 0o644)
}

// compareDirs compares every file under committed with its fresh twin, both
// ways, and returns how many files it compared and how many differ.
// compareDirs compares a committed output directory with a fresh one, or
// only the file named only when it is not empty.
func compareDirs(r *report, tool, committed, fresh, only string) (compared, differing int, err error) {
	have, err := listFiles(committed)
	if err != nil {
		return 0, 0, err
	}
	want, err := listFiles(fresh)
	if err != nil {
		return 0, 0, err
	}
	if only != "" {
		have = map[string][]byte{only: have[only]}
		if _, ok := want[only]; !ok {
			want = map[string][]byte{}
		}
		if have[only] == nil {
			delete(have, only)
		}
	}
	names := map[string]bool{}
	for n := range have {
		names[n] = true
	}
	for n := range want {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		path := filepath.Join(committed, n)
		compared++
		h, inHave := have[n]
		w, inWant := want[n]
		switch {
		case !inWant:
			r.problem("%s: committed, but %s does not generate it (stale or hand-written): delete it, or move hand-written code out of %s", path, tool, committed)
		case !inHave:
			r.problem("%s: %s generates it, but it is not committed (new output)", path, tool)
		case !bytes.Equal(h, w):
			r.problem("%s: differs from a fresh %s run (%s)", path, tool, firstDifference(h, w))
		default:
			continue
		}
		differing++
	}
	return compared, differing, nil
}

// listFiles reads every regular file under dir, by slash-separated relative
// path. A missing dir is empty.
func listFiles(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir && os.IsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	return files, err
}

// firstDifference names the first differing line, so a hand edit is visible
// in the CI log without a diff tool.
func firstDifference(committed, fresh []byte) string {
	a := strings.Split(string(committed), "\n")
	b := strings.Split(string(fresh), "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var la, lb string
		if i < len(a) {
			la = a[i]
		}
		if i < len(b) {
			lb = b[i]
		}
		if la != lb || i >= len(a) || i >= len(b) {
			from := commonPrefix(la, lb)
			return fmt.Sprintf("line %d: committed %q, generated %q", i+1, excerpt(la, from), excerpt(lb, from))
		}
	}
	return "same lines, different bytes"
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// excerpt shows about 70 bytes of line around byte from, where it differs.
func excerpt(line string, from int) string {
	line = strings.TrimRight(line, " \t\r")
	indent := len(line) - len(strings.TrimLeft(line, " \t"))
	start := max(0, from-30)
	if start < indent && from >= indent {
		start = indent // the indentation is the same in both: skip it
	}
	end := min(len(line), start+70)
	out := line[start:end]
	if start > indent {
		out = "..." + out
	}
	if end < len(line) {
		out += "..."
	}
	return out
}

// goCommand runs the go command (or $GO) in the current directory.
func goCommand(ctx context.Context, args ...string) error {
	gocmd := os.Getenv("GO")
	if gocmd == "" {
		gocmd = "go"
	}
	cmd := exec.CommandContext(ctx, gocmd, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", gocmd, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// copyPath copies a file or a directory tree from src to dst.
func copyPath(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
