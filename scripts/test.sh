#!/usr/bin/env bash
# `make test`: every test. Go (vet, then the tests against real Postgres and
# real HTTP), the black-box suites again behind PgBouncer (make test-pooler),
# then the Swift SDK against a live server. Ends with one line
# "N passed, M failed, K skipped" over all three; TEST_SUMMARY_FILE, if set,
# receives it too.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
logs=$(mktemp -d /tmp/syncproxy-test-XXXXXX)
# The ops page's browser test (server/opspage) fails without chromium here,
# instead of skipping: a skipped browser test is no pass.
export SYNC_TEST_BROWSER=${SYNC_TEST_BROWSER:-1}
trap 'rm -rf "$logs"' EXIT

echo "test: go vet ./..."
go vet ./... || exit 1

echo "test: go test ./... (verbose log: each test's PASS/FAIL line)"
go test -count=1 -v ./... 2>&1 | tee "$logs/go.log" | grep -E '^(ok|FAIL|---|panic:)|^\s+--- FAIL|^\s+[a-z_]+_test\.go:[0-9]+:|^devicetest:'
go_status=${PIPESTATUS[0]}
go_pass=$(grep -cE '^\s*--- PASS' "$logs/go.log" || true)
go_fail=$(grep -cE '^\s*--- FAIL' "$logs/go.log" || true)
go_skip=$(grep -cE '^\s*--- SKIP' "$logs/go.log" || true)
echo "test: go: $go_pass passed, $go_fail failed, $go_skip skipped (+$(( $(date +%s) - start ))s)"
if [ "$go_status" -ne 0 ] && [ "$go_fail" -eq 0 ]; then
	go_fail=1 # a build failure or a panic outside a test
fi

echo "test: make test-pooler (the black-box suites behind PgBouncer in transaction mode)"
make --no-print-directory test-pooler GOTESTFLAGS=-v 2>&1 | tee "$logs/pooler.log" | grep -E '^(ok|FAIL|---|panic:|test-pooler:)|^\s+--- FAIL|^\s+[a-z_]+_test\.go:[0-9]+:|^devicetest:'
pooler_status=${PIPESTATUS[0]}
pooler_pass=$(grep -cE '^\s*--- PASS' "$logs/pooler.log" || true)
pooler_fail=$(grep -cE '^\s*--- FAIL' "$logs/pooler.log" || true)
pooler_skip=$(grep -cE '^\s*--- SKIP' "$logs/pooler.log" || true)
if [ "$pooler_status" -ne 0 ] && [ "$pooler_fail" -eq 0 ]; then
	pooler_fail=1 # pgbouncer missing, a build failure or a panic outside a test
fi
echo "test: pooler: $pooler_pass passed, $pooler_fail failed, $pooler_skip skipped (+$(( $(date +%s) - start ))s)"

scripts/test-swift.sh 2>&1 | tee "$logs/swift.log"
swift_status=${PIPESTATUS[0]}
summary=$(grep -E "Test Suite 'All tests' (passed|failed)" -A1 "$logs/swift.log" | grep -oE 'Executed [0-9]+ tests?, with [0-9]+ failures?' | tail -1)
swift_run=$(echo "$summary" | grep -oE 'Executed [0-9]+' | grep -oE '[0-9]+' || echo 0)
swift_fail=$(echo "$summary" | grep -oE 'with [0-9]+' | grep -oE '[0-9]+' || echo 0)
swift_skip=$(grep -cE "Test Case '.*' skipped" "$logs/swift.log" || true)
swift_run=${swift_run:-0}
swift_fail=${swift_fail:-0}
if [ "$swift_status" -ne 0 ] && [ "$swift_fail" -eq 0 ]; then
	swift_fail=1 # the build or the server start failed
fi
swift_pass=$(( swift_run - swift_fail - swift_skip ))
echo "test: swift: $swift_pass passed, $swift_fail failed, $swift_skip skipped (+$(( $(date +%s) - start ))s)"

line="$(( go_pass + pooler_pass + swift_pass )) passed, $(( go_fail + pooler_fail + swift_fail )) failed, $(( go_skip + pooler_skip + swift_skip )) skipped"
echo "$line"
if [ -n "${TEST_SUMMARY_FILE:-}" ]; then
	echo "$line" >"$TEST_SUMMARY_FILE"
fi
[ "$go_status" -eq 0 ] && [ "$pooler_status" -eq 0 ] && [ "$swift_status" -eq 0 ]
