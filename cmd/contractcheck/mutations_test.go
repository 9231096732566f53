package main

// The proof that every check fires: each case copies the repository (its git
// files, tracked and untracked) to a scratch directory, applies one drift,
// runs the checks there and asserts that the check meant to catch the drift
// fails and names it, while the unmodified copy passes every check. One
// throwaway Postgres cluster serves all cases (a fresh database each).
//
// The checker is this test binary itself (TestMain runs main when asked), so
// nothing is linked per case; only a copy whose migrations differ gets its own
// build, because migrations.Apply applies the migrations embedded at build
// time. The Swift compile and go vet are not mutated here: a hand edit of
// generated Swift is caught by the regenerate-and-compare check.

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/syncproxy/syncproxy/internal/pgcluster"
	"github.com/syncproxy/syncproxy/internal/repocopy"
)

const swiftGenerated = "swift-client/Sources/SyncProxyClient/Generated"

type driftCase struct {
	name  string
	drift func(t *testing.T, dir string)
	// fail lists the checks that must fail, each with the strings its output
	// must contain (what a newcomer needs to find the drift).
	fail map[string][]string
	// pass lists the checks that must pass.
	pass []string
}

var allChecks = []string{"generated", "db", "breaking", "tenant", "distributable"}

func driftCases() []driftCase {
	return []driftCase{
		{
			name: "unmodified copy",
			pass: allChecks,
		},
		{
			name: "column renamed in a migration only",
			drift: func(t *testing.T, dir string) {
				repocopy.Write(t, dir, "migrations/9999_drift_rename.sql", "ALTER TABLE costbook_items RENAME COLUMN sku TO stock_code;\n")
			},
			fail: map[string][]string{
				"db": {"costbook_items.stock_code: column (text NULL) has no property in CostbookItem", "CostbookItem.sku: property has no column costbook_items.sku"},
			},
			pass: []string{"tenant", "breaking"},
		},
		{
			name: "required field added to a schema in the spec only",
			drift: func(t *testing.T, dir string) {
				repocopy.Edit(t, dir, "openapi.yaml",
					"      x-table: costbook_items\n      required: [id, name]\n      properties:\n",
					"      x-table: costbook_items\n      required: [id, name, color]\n      properties:\n        color:\n          type: string\n")
			},
			fail: map[string][]string{
				"db":       {"CostbookItemWrite.color: property has no column costbook_items.color"},
				"breaking": {"POST /api/sync/push: new-required-request-property", "color"},
			},
			pass: []string{"tenant"},
		},
		{
			name: "endpoint removed",
			drift: func(t *testing.T, dir string) {
				repocopy.RemoveBetween(t, dir, "openapi.yaml", "  /readyz:\n", "  /metrics:\n")
			},
			fail: map[string][]string{
				"breaking": {"GET /readyz: api-path-removed-without-deprecation"},
			},
			pass: []string{"db", "tenant"},
		},
		{
			name: "hand edit in a generated Go file",
			drift: func(t *testing.T, dir string) {
				repocopy.Append(t, dir, "gen/db/models.go", "\n// patched by hand\n")
			},
			fail: map[string][]string{"generated": {"gen/db/models.go: differs from a fresh sqlc run", "patched by hand"}},
			pass: []string{"db", "breaking", "tenant"},
		},
		{
			name: "hand edit in a generated query, and the template changed without make generate",
			drift: func(t *testing.T, dir string) {
				repocopy.Edit(t, dir, "gen/queries/estimates.gen.sql", "ORDER BY sync_seq, id\n", "ORDER BY sync_seq\n")
				repocopy.Edit(t, dir, "queries/table.sql.tmpl", "DELETE FROM {{.Name}} WHERE", "DELETE FROM ONLY {{.Name}} WHERE")
			},
			fail: map[string][]string{"generated": {
				"gen/queries/estimates.gen.sql: differs from a fresh tablegen run",
				"gen/queries/costbook_items.gen.sql: differs from a fresh tablegen run",
				"gen/db/estimates.gen.sql.go: differs from a fresh sqlc run",
			}},
			pass: []string{"db", "breaking", "tenant"},
		},
		{
			// README "Adding a synced table" once forgot TableDigests: the
			// server then sends a digest the clients' types refuse.
			name: "a table left out of TableDigests",
			drift: func(t *testing.T, dir string) {
				repocopy.Edit(t, dir, "openapi.yaml",
					"        step_a_rules:\n          $ref: \"#/components/schemas/TableDigest\"\n    TableDigest:\n",
					"    TableDigest:\n")
			},
			fail: map[string][]string{
				"db":        {"table step_a_rules: missing from TableDigests, which lists the synced tables (TableName)"},
				"generated": {"table step_a_rules: missing from TableDigests"},
			},
			pass: []string{"tenant"},
		},
		{
			name: "a column default stated otherwise in the spec",
			drift: func(t *testing.T, dir string) {
				repocopy.Edit(t, dir, "openapi.yaml", "description: Default draft.", "description: Default sent.")
			},
			fail: map[string][]string{
				"db":        {`EstimateWrite.status: states the default "sent", but column estimates.status defaults to 'draft'::text`},
				"generated": {"gen/queries/estimates.gen.sql: differs from a fresh tablegen run"},
			},
			pass: []string{"tenant"},
		},
		{
			name: "hand edit in a generated Swift file",
			drift: func(t *testing.T, dir string) {
				repocopy.Append(t, dir, swiftGenerated+"/CostbookItem.swift", "\n// patched by hand\n")
			},
			fail: map[string][]string{"generated": {swiftGenerated + "/CostbookItem.swift: differs from a fresh swiftgen run"}},
		},
		{
			name: "generated file deleted and a stray one added",
			drift: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "gen/db/tenant.sql.go")); err != nil {
					t.Fatal(err)
				}
				repocopy.Write(t, dir, swiftGenerated+"/Extra.swift", "// hand-written\n")
			},
			fail: map[string][]string{"generated": {
				"gen/db/tenant.sql.go: sqlc generates it, but it is not committed",
				swiftGenerated + "/Extra.swift: committed, but swiftgen does not generate it",
			}},
		},
		{
			name: "new query without contractor_id",
			drift: func(t *testing.T, dir string) {
				repocopy.Write(t, dir, "queries/drift.sql", "-- name: GetCostbookItemByID :one\nSELECT * FROM costbook_items WHERE id = @id;\n")
			},
			fail: map[string][]string{
				"tenant": {"queries/drift.sql:1 GetCostbookItemByID: reads costbook_items without costbook_items.contractor_id = @contractor_id"},
			},
			pass: []string{"db", "breaking"},
		},
		{
			name: "property type changed in the spec",
			drift: func(t *testing.T, dir string) {
				repocopy.Edit(t, dir, "openapi.yaml",
					"        taxable:\n          type: boolean\n        created_at:",
					"        taxable:\n          type: string\n        created_at:")
			},
			fail: map[string][]string{
				"db":       {"costbook_items.taxable: column is boolean NOT NULL DEFAULT false, but CostbookItem.taxable is string (expected boolean)"},
				"breaking": {"GET /api/sync/pull: response-property-type-changed", "taxable"},
			},
			pass: []string{"tenant"},
		},
		{
			name: "tables reordered in TableName",
			drift: func(t *testing.T, dir string) {
				repocopy.Edit(t, dir, "openapi.yaml",
					"      enum:\n        - contractors\n        - costbook_folders\n        - costbook_items\n",
					"      enum:\n        - contractors\n        - costbook_items\n        - costbook_folders\n")
			},
			fail: map[string][]string{"breaking": {"TableName: the released enum lists costbook_folders at position 1"}},
			pass: []string{"tenant"},
		},
		{
			// One migration, one build of the copy's checker: each drift
			// must be named on its own.
			name: "a migration that keys, constrains, refers and numbers rows across tenants, and a table nobody declared",
			drift: func(t *testing.T, dir string) {
				repocopy.Write(t, dir, "migrations/9999_drift_distributable.sql", strings.Join([]string{
					"ALTER TABLE costbook_items DROP CONSTRAINT costbook_items_pkey, ADD PRIMARY KEY (id, contractor_id);",
					"CREATE UNIQUE INDEX estimates_number ON estimates (number);",
					"ALTER TABLE costbook_items ADD CONSTRAINT costbook_items_folder FOREIGN KEY (folder_id, contractor_id) REFERENCES costbook_folders (contractor_id, id);",
					"ALTER TABLE estimate_events ADD COLUMN position bigserial;",
					"CREATE TABLE notes (contractor_id uuid NOT NULL REFERENCES contractors (id), id uuid NOT NULL, PRIMARY KEY (contractor_id, id));",
				}, "\n")+"\n")
			},
			fail: map[string][]string{
				"distributable": {
					"table costbook_items: primary key costbook_items_pkey (id, contractor_id) does not lead with contractor_id",
					"table estimates: unique index estimates_number (number) does not lead with contractor_id",
					"table costbook_items: foreign key costbook_items_folder (folder_id, contractor_id) → costbook_folders (contractor_id, id): does not carry costbook_items.contractor_id to costbook_folders.contractor_id",
					"table estimate_events: column position takes its values from a sequence",
					"table notes: not declared in docs/citus.sql",
				},
			},
			pass: []string{"tenant"},
		},
		{
			name: "a synced table distributed by another column in the Citus DDL",
			drift: func(t *testing.T, dir string) {
				repocopy.Edit(t, dir, "docs/citus.sql",
					"create_distributed_table('estimates', 'contractor_id'", "create_distributed_table('estimates', 'id'")
			},
			fail: map[string][]string{
				"distributable": {"table estimates: synced, distributed by id in docs/citus.sql, not by its tenant key contractor_id"},
			},
			pass: []string{"db", "tenant"},
		},
		{
			name: "a query that moves a row to another tenant",
			drift: func(t *testing.T, dir string) {
				repocopy.Write(t, dir, "queries/drift.sql", "-- name: MoveCostbookItem :exec\n"+
					"UPDATE costbook_items SET contractor_id = @new_contractor WHERE contractor_id = @contractor_id AND id = @id;\n")
			},
			fail: map[string][]string{
				"distributable": {"queries/drift.sql:1 MoveCostbookItem: UPDATE sets costbook_items.contractor_id, the distribution column"},
			},
			pass: []string{"tenant"},
		},
		{
			name: "a query on every tenant's rows without saying why",
			drift: func(t *testing.T, dir string) {
				repocopy.Write(t, dir, "queries/drift.sql", "-- name: CountEstimates :one\nSELECT count(*) FROM estimates WHERE contractor_id = @contractor_id OR status = 'sent';\n")
			},
			fail: map[string][]string{
				"tenant":        {"CountEstimates: reads estimates without estimates.contractor_id = @contractor_id"},
				"distributable": {"queries/drift.sql:1 CountEstimates: reads estimates without estimates.contractor_id = a value (a statement on every node"},
			},
		},
		{
			// The per-table statements are generated (gen/queries): the
			// checks read every query folder of sqlc.yaml, not queries/ only.
			name: "the template's digest no longer pinned to the tenant, after make generate",
			drift: func(t *testing.T, dir string) {
				repocopy.Edit(t, dir, "queries/table.sql.tmpl",
					"FROM {{.Name}}\nWHERE {{.Scope}} = @contractor_id{{if .Deletable}}",
					"FROM {{.Name}}\nWHERE ({{.Scope}} = @contractor_id OR sync_seq = 0){{if .Deletable}}")
				tablegen := exec.Command("go", "run", "./cmd/tablegen", "-spec", "openapi.yaml", "-template", "queries/table.sql.tmpl",
					"-sql-out", "gen/queries", "-out", "server/syncstore/tables.gen.go")
				tablegen.Dir = dir
				if out, err := tablegen.CombinedOutput(); err != nil {
					t.Fatalf("tablegen in the copy: %v\n%s", err, out)
				}
			},
			fail: map[string][]string{
				"tenant":        {"gen/queries/estimates.gen.sql:", "DigestEstimates: reads estimates without estimates.contractor_id = @contractor_id"},
				"distributable": {"gen/queries/estimates.gen.sql:", "DigestEstimates: reads estimates without estimates.contractor_id = a value"},
			},
			pass: []string{"db"},
		},
		{
			name: "breaking change with a new major but no new baseline",
			drift: func(t *testing.T, dir string) {
				repocopy.RemoveBetween(t, dir, "openapi.yaml", "  /readyz:\n", "  /metrics:\n")
				releaseMajor2(t, dir)
			},
			fail: map[string][]string{"breaking": {"api/baseline/openapi-v2.yaml does not exist", "v1 → v2: GET /readyz: api-path-removed-without-deprecation", "run make baseline"}},
		},
		{
			name: "breaking change released on purpose: new major and its baseline",
			drift: func(t *testing.T, dir string) {
				repocopy.RemoveBetween(t, dir, "openapi.yaml", "  /readyz:\n", "  /metrics:\n")
				releaseMajor2(t, dir)
				spec, err := os.ReadFile(filepath.Join(dir, "openapi.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				repocopy.Write(t, dir, "api/baseline/openapi-v2.yaml", string(spec))
			},
			pass: []string{"breaking"},
		},
	}
}

// runMainEnv makes the test binary act as contractcheck itself.
const runMainEnv = "CONTRACTCHECK_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestChecksFireOnDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the repository and runs the generators: not in -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := repocopy.Files(t, root)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cluster, err := pgcluster.StartTemp(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Remove() })

	t.Run("drift", func(t *testing.T) {
		for _, tc := range driftCases() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				repocopy.Copy(t, root, dir, files)
				if tc.drift != nil {
					tc.drift(t, dir)
				}
				bin := self
				if !sameFiles(t, filepath.Join(root, "migrations"), filepath.Join(dir, "migrations")) {
					bin = filepath.Join(dir, "contractcheck.bin")
					build := exec.Command("go", "build", "-o", bin, "./cmd/contractcheck")
					build.Dir = dir
					if out, err := build.CombinedOutput(); err != nil {
						t.Fatalf("build the copy's contractcheck (its migrations differ): %v\n%s", err, out)
					}
				}
				for _, check := range allChecks {
					want, mustFail := tc.fail[check]
					mustPass := slices.Contains(tc.pass, check)
					if !mustFail && !mustPass {
						continue
					}
					args := []string{check}
					if check == "db" || check == "distributable" {
						args = append(args, "-cluster-url", cluster.URL("postgres"))
					}
					out, code := repocopy.Run(t, dir, []string{runMainEnv + "=1"}, bin, args...)
					switch {
					case mustPass && code != 0:
						t.Errorf("check %s should pass (exit 0), got exit %d:\n%s", check, code, out)
					case mustPass && !strings.Contains(out, "check "+check+": OK"):
						t.Errorf("check %s: no OK verdict:\n%s", check, out)
					case mustFail && code != 1:
						t.Errorf("check %s should fail with drift (exit 1), got exit %d:\n%s", check, code, out)
					case mustFail:
						if !strings.Contains(out, "check "+check+": FAIL: ") || !strings.Contains(out, " → ") {
							t.Errorf("check %s: no FAIL verdict with a remedy:\n%s", check, out)
						}
						for _, w := range want {
							if !strings.Contains(out, w) {
								t.Errorf("check %s output does not name the drift %q:\n%s", check, w, out)
							}
						}
					}
				}
			})
		}
	})
}

// sameFiles reports whether two directories hold the same files.
func sameFiles(t *testing.T, a, b string) bool {
	fa, err := listFiles(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := listFiles(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fa) != len(fb) {
		return false
	}
	for name, content := range fa {
		if other, ok := fb[name]; !ok || !bytes.Equal(content, other) {
			return false
		}
	}
	return true
}

// releaseMajor2 sets info.version to 2.0.0, whatever 1.x the spec is at (the
// minor moves with every additive release).
func releaseMajor2(t *testing.T, dir string) {
	t.Helper()
	spec := repocopy.Read(t, dir, "openapi.yaml")
	version := regexp.MustCompile(`\n  version: 1\.\d+\.\d+\n`)
	if n := len(version.FindAllStringIndex(spec, -1)); n != 1 {
		t.Fatalf("info.version 1.x occurs %d times in openapi.yaml, want 1", n)
	}
	repocopy.Write(t, dir, "openapi.yaml", version.ReplaceAllString(spec, "\n  version: 2.0.0\n"))
}
