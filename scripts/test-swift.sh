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
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p"
			wait "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT

# start_dev NAME [VAR=VALUE...]: syncproxy dev on its own fresh cluster under
# $work/NAME, with extra environment; its env file is $work/NAME.env.
start_dev() {
	local name="$1"
	shift
	env "$@" "$work/syncproxy" dev -data "$work/$name" -addr 127.0.0.1:0 -env-file "$work/$name.env" >"$work/$name.log" 2>&1 &
	pids+=("$!")
}

wait_dev() {
	local name="$1" p="$2"
	for _ in $(seq 1 240); do
		[ -s "$work/$name.env" ] && return 0
		if ! kill -0 "$p" 2>/dev/null; then
			cat "$work/$name.log"
			echo "test-swift: syncproxy dev ($name) exited before it was ready" >&2
			exit 1
		fi
		sleep 0.25
	done
	cat "$work/$name.log"
	echo "test-swift: syncproxy dev ($name) not ready after 60s" >&2
	exit 1
}

say "building syncproxy"
go build -o "$work/syncproxy" ./cmd/syncproxy
say "starting syncproxy dev on a fresh cluster"
start_dev data
# A second server that purges tombstones after 1 s, for the resync test
# (SYNC_RESYNC_BASE_URL): on the main server a 1 s retention would turn other
# tests' delta pulls into 410s.
say "starting a second syncproxy dev with a 1 s tombstone retention"
start_dev resync SYNC_TOMBSTONE_RETENTION=1s SYNC_TOMBSTONE_PURGE_INTERVAL=1s
wait_dev data "${pids[0]}"
wait_dev resync "${pids[1]}"
set -a
# shellcheck disable=SC1091
. "$work/data.env"
set +a
SYNC_RESYNC_BASE_URL=$(sed -n 's/^SYNC_BASE_URL=//p' "$work/resync.env")
SYNC_RESYNC_TOKEN=$(sed -n 's/^SYNC_TOKEN=//p' "$work/resync.env")
export SYNC_RESYNC_BASE_URL SYNC_RESYNC_TOKEN
export SYNC_REQUIRE_LIVE=1
# The contract version of this checkout: from 1.1 on, the replica's 1.1 live
# tests must run (they skip only against an older server from an older spec).
SYNC_SPEC_VERSION=$(awk '/^info:/ {f = 1} f && $1 == "version:" {gsub(/"/, "", $2); print $2; exit}' openapi.yaml)
export SYNC_SPEC_VERSION
say "servers ready at $SYNC_BASE_URL and $SYNC_RESYNC_BASE_URL (resync)"

cd "$root" # Package.swift is at the root; the package lives in swift-client/
say "swift build"
"$root/scripts/swift.sh" build
say "swift test"
"$root/scripts/swift.sh" test
say "done"
