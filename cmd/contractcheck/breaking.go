package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/syncproxy/syncproxy/internal/contract"
)

// Released contracts live in api/baseline as openapi-v<major>.yaml, one per
// major version of info.version. Within a major, openapi.yaml may only change
// compatibly; a breaking change needs a new major and a new baseline.
var baselineName = regexp.MustCompile(`^openapi-v(\d+)\.yaml$`)

const breakingFix = "keep old clients working (deprecate before removing; add optional, not required, request fields; only widen types and enums), " +
	"or release a new major on purpose: bump info.version's major in openapi.yaml, then run make baseline and commit api/baseline/"

func breakingFlags(name string, args []string) (spec, dir string, err error) {
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	specPath := flags.String("spec", "openapi.yaml", "the OpenAPI document")
	baselineDir := flags.String("baselines", "api/baseline", "directory of the released contracts, openapi-v<major>.yaml")
	err = flags.Parse(args)
	return *specPath, *baselineDir, err
}

func runBreaking(ctx context.Context, r *report, args []string) error {
	specPath, dir, err := breakingFlags("breaking", args)
	if err != nil {
		return err
	}
	version, major, err := specVersion(specPath)
	if err != nil {
		r.problem("%v", err)
		return r.verdict("", "info.version is unreadable", "give "+specPath+" a semantic info.version (MAJOR.MINOR.PATCH)")
	}
	baselines, err := listBaselines(r, dir)
	if err != nil {
		return err
	}
	latest := -1
	for m := range baselines {
		latest = max(latest, m)
	}
	base, ok := baselines[major]
	switch {
	case latest < 0:
		r.comparing("looking for the released contract of %s (info.version %s) in %s/", specPath, version, dir)
		r.problem("%s/ has no baseline: run make baseline to record the released contract", dir)
		return r.verdict("", "no baseline to compare with", "run make baseline and commit "+dir+"/")
	case major < latest:
		r.comparing("looking for the released contract of %s (info.version %s) in %s/", specPath, version, dir)
		r.problem("info.version %s is older than the newest baseline, %s", version, baselines[latest])
		return r.verdict("", "info.version went backwards", "set info.version's major to at least "+strconv.Itoa(latest))
	case !ok:
		// A new major without its baseline: show what breaks against the
		// previous one, and ask for the baseline that makes the move explicit.
		prev := baselines[latest]
		r.comparing("comparing %s (info.version %s) with %s using oasdiff breaking", specPath, version, prev)
		changes, _, err := oasdiffBreaking(ctx, prev, specPath)
		if err != nil {
			return err
		}
		for _, c := range changes {
			r.note("v%d → v%d: %s", latest, major, c)
		}
		r.problem("info.version %s starts major %d, but %s/openapi-v%d.yaml does not exist", version, major, dir, major)
		return r.verdict("", fmt.Sprintf("major %d has no baseline (%s against v%d)", major, plural(len(changes), "breaking change", "breaking changes"), latest),
			"if the new major is intended, run make baseline and commit "+dir+"/; else restore info.version's major to "+strconv.Itoa(latest))
	}
	r.comparing("comparing %s (info.version %s) with the released %s using oasdiff breaking", specPath, version, base)
	changes, warnings, err := oasdiffBreaking(ctx, base, specPath)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		r.note("warning (does not fail): %s", w)
	}
	for _, c := range changes {
		r.problem("%s", c)
	}
	if err := tableOrderKept(ctx, r, base, specPath); err != nil {
		return err
	}
	return r.verdict(
		fmt.Sprintf("no breaking change against %s", base),
		fmt.Sprintf("%s against the released %s", plural(len(changes), "breaking change", "breaking changes"), base),
		breakingFix)
}

// runBaseline records openapi.yaml as the released contract of its major. It
// refuses to overwrite a baseline with a spec that breaks it: within a major,
// the baseline only moves forward compatibly.
func runBaseline(ctx context.Context, r *report, args []string) error {
	specPath, dir, err := breakingFlags("baseline", args)
	if err != nil {
		return err
	}
	version, major, err := specVersion(specPath)
	if err != nil {
		return err
	}
	target := filepath.Join(dir, fmt.Sprintf("openapi-v%d.yaml", major))
	r.comparing("recording %s (info.version %s) as %s", specPath, version, target)
	if _, err := os.Stat(target); err == nil {
		changes, _, err := oasdiffBreaking(ctx, target, specPath)
		if err != nil {
			return err
		}
		for _, c := range changes {
			r.problem("%s", c)
		}
		if r.failed() {
			return r.verdict("", fmt.Sprintf("%s breaks %s; a released major never changes incompatibly", specPath, target), "bump info.version's major first")
		}
	}
	spec, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(target, spec, 0o644); err != nil {
		return err
	}
	return r.verdict("wrote "+target+": commit it", "", "")
}

// specVersion reads info.version and its major.
func specVersion(path string) (version string, major int, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	var doc struct {
		Info struct {
			Version string `yaml:"version"`
		} `yaml:"info"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	version = doc.Info.Version
	head, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	major, err = strconv.Atoi(head)
	if err != nil || major < 0 {
		return version, 0, fmt.Errorf("%s: info.version %q does not start with a major version number", path, version)
	}
	return version, major, nil
}

// listBaselines maps each major to its baseline file, and reports a baseline
// whose own info.version has another major.
func listBaselines(r *report, dir string) (map[int]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	baselines := map[int]string{}
	for _, e := range entries {
		m := baselineName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		major, _ := strconv.Atoi(m[1])
		path := filepath.Join(dir, e.Name())
		baselines[major] = path
		if v, got, err := specVersion(path); err != nil {
			r.problem("%v", err)
		} else if got != major {
			r.problem("%s: its info.version %s is not major %d", path, v, major)
		}
	}
	return baselines, nil
}

// oasdiffChange is one entry of `oasdiff breaking --format json`.
type oasdiffChange struct {
	ID        string `json:"id"`
	Text      string `json:"text"`
	Level     int    `json:"level"` // 3 error (breaking), 2 warning, 1 info
	Operation string `json:"operation"`
	Path      string `json:"path"`
}

func (c oasdiffChange) String() string {
	where := strings.TrimSpace(c.Operation + " " + c.Path)
	if where == "" {
		where = "components"
	}
	return fmt.Sprintf("%s: %s: %s", where, c.ID, strings.ReplaceAll(c.Text, "`", "'"))
}

// oasdiffBreaking runs oasdiff (github.com/oasdiff/oasdiff, kept in its own
// modfile so it cannot move go.mod's dependencies) and returns the changes it
// rates as breaking (errors) and as warnings, one line each.
func oasdiffBreaking(ctx context.Context, base, revision string) (breaking, warnings []string, err error) {
	gocmd := os.Getenv("GO")
	if gocmd == "" {
		gocmd = "go"
	}
	args := []string{"tool", "-modfile=tools/oasdiff.mod", "oasdiff", "breaking", base, revision, "--format", "json"}
	cmd := exec.CommandContext(ctx, gocmd, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w\n%s", gocmd, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var changes []oasdiffChange
	if err := json.Unmarshal(stdout.Bytes(), &changes); err != nil {
		return nil, nil, fmt.Errorf("oasdiff output: %w", err)
	}
	for _, c := range changes {
		switch {
		case c.Level >= 3:
			breaking = append(breaking, c.String())
		case c.Level == 2:
			warnings = append(warnings, c.String())
		}
	}
	sort.Strings(breaking)
	sort.Strings(warnings)
	return breaking, warnings, nil
}

// tableOrderKept checks that the released TableName enum is a prefix of the
// current one: a table's position is its ordinal, which cursors devices hold
// store, so tables are only ever appended. oasdiff sees an enum as a set and
// would not notice a reordering.
func tableOrderKept(ctx context.Context, r *report, base, current string) error {
	was, err := contract.Load(ctx, base)
	if err != nil {
		return err
	}
	now, err := contract.Load(ctx, current)
	if err != nil {
		return err
	}
	before := contract.EnumStrings(was.Component(contract.TableNameSchema))
	after := contract.EnumStrings(now.Component(contract.TableNameSchema))
	for i, name := range before {
		if i >= len(after) || after[i] != name {
			r.problem("%s: the released enum lists %s at position %d, the spec does not (tables are only appended: cursors store their positions)",
				contract.TableNameSchema, name, i)
			return nil
		}
	}
	return nil
}
