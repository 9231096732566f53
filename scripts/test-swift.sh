#!/usr/bin/env bash
# Builds the Swift SDK and runs its XCTest suite against a live syncproxy on a
# throwaway Postgres cluster (natively where `swift` exists, else in the cached
# Debian chroot of scripts/swift.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)
say() { echo "test-swift: $* (+$(( $(date +%s) - start ))s)"; }

work=$(mktemp -d /tmp/syncproxy-swift-XXXXXX)
chmod 755 "$work"
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

say "building syncproxy"
go build -o "$work/syncproxy" ./cmd/syncproxy
say "starting syncproxy dev on a fresh cluster"
"$work/syncproxy" dev -data "$work/data" -addr 127.0.0.1:0 -env-file "$work/env" >"$work/dev.log" 2>&1 &
pid=$!
for _ in $(seq 1 240); do
	[ -s "$work/env" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		cat "$work/dev.log"
		echo "test-swift: syncproxy dev exited before it was ready" >&2
		exit 1
	fi
	sleep 0.25
done
[ -s "$work/env" ] || { cat "$work/dev.log"; echo "test-swift: syncproxy dev not ready after 60s" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a
export SYNC_REQUIRE_LIVE=1
say "server ready at $SYNC_BASE_URL"

cd "$root" # Package.swift is at the root; the package lives in swift-client/
say "swift build"
"$root/scripts/swift.sh" build
say "swift test"
"$root/scripts/swift.sh" test
say "done"
