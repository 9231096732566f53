package main

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/syncproxy/syncproxy"

// linkedForTests names the packages a production binary must not carry:
// ours that exist for tests and benchmarks, and any package named for tests
// (httptest, iotest, our copytest), wherever it comes from. The Go runtime's
// own internal/ packages (internal/synctest, internal/testlog) are linked by
// every binary and are not ours to choose.
func linkedForTests(pkg string) bool {
	switch pkg {
	case module + "/internal/bench", module + "/internal/testenv", module + "/internal/repocopy":
		return true
	}
	if strings.HasPrefix(pkg, "internal/") {
		return false
	}
	return strings.HasSuffix(path.Base(pkg), "test")
}

// TestBinary_LinksNoTestOrBenchCode keeps the bench and the test harness out
// of the production binary (they have cmd/syncproxy-bench and _test files).
func TestBinary_LinksNoTestOrBenchCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 || !strings.Contains(string(out), module+"/server\n") {
		t.Fatalf("go list -deps gave %d packages, not the server's dependencies:\n%s", len(deps), out)
	}
	for _, pkg := range deps {
		if linkedForTests(pkg) {
			t.Errorf("cmd/syncproxy links %s", pkg)
		}
	}
}

func TestLinkedForTests(t *testing.T) {
	for pkg, want := range map[string]bool{
		module + "/internal/bench":      true,
		module + "/internal/testenv":    true,
		module + "/internal/copytest":   true,
		module + "/internal/devicetest": true,
		"net/http/httptest":             true,
		"testing/fstest":                true,
		"internal/synctest":             false,
		module + "/server":              false,
		module + "/internal/contract":   false,
		"testing":                       false, // a dependency of prometheus/common's expfmt (through go-abnf)
	} {
		if got := linkedForTests(pkg); got != want {
			t.Errorf("linkedForTests(%s) = %t, want %t", pkg, got, want)
		}
	}
}

// TestGeneratedCode_ImportsNoServerPackage keeps the contract's generated
// code (gen/api, gen/db) a leaf the server builds on: a Go client made from
// the spec must not pull the server in (issue 18: the push body's x-go-type
// once pointed at server/pushbody, so gen/api linked the server's decoder).
func TestGeneratedCode_ImportsNoServerPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../gen/...").Output()
	if err != nil {
		t.Fatalf("go list -deps ../../gen/...: %v", err)
	}
	deps := strings.Fields(string(out))
	if !strings.Contains(string(out), module+"/gen/api\n") {
		t.Fatalf("go list -deps gave %d packages, not gen/'s dependencies:\n%s", len(deps), out)
	}
	for _, pkg := range deps {
		if pkg == module+"/server" || strings.HasPrefix(pkg, module+"/server/") {
			t.Errorf("generated code links %s", pkg)
		}
	}
}
