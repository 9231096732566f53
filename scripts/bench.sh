#!/usr/bin/env bash
# `make bench`: builds the "before" server once (BENCH_BASELINE, a git
# revision; default: e0a8c14, the baseline of issue 23) into .bench/, and this
# build's server, then runs syncproxy-bench with its compare phase against
# both, so before/after figures come from one run on one machine. Extra
# arguments go to the bench. Both binaries are only run as servers
# (`syncproxy serve`): an old revision whose syncproxy still had a bench
# subcommand is fine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rev="${BENCH_BASELINE:-e0a8c14}"
args=("$@")
if full=$(git rev-parse --verify -q "$rev^{commit}"); then
	bin=".bench/syncproxy-${full:0:12}"
	if [ ! -x "$bin" ]; then
		echo "bench: building the before server ($rev) into $bin"
		mkdir -p .bench
		tmp=$(mktemp -d /tmp/syncproxy-bench-XXXXXX)
		trap 'git -C "$root" worktree remove --force "$tmp" >/dev/null 2>&1 || rm -rf "$tmp"' EXIT
		git worktree add -q --detach "$tmp" "$full"
		(cd "$tmp" && go build -o "$root/$bin" ./cmd/syncproxy)
	fi
	self=".bench/syncproxy-this-build"
	echo "bench: building this build's server into $self"
	mkdir -p .bench
	go build -o "$self" ./cmd/syncproxy
	args+=(-compare-with "$bin" -compare-label "$rev (before)" -self "$self")
else
	echo "bench: revision $rev is not in this clone (shallow?); the before/after phase is skipped"
fi
exec go run ./cmd/syncproxy-bench "${args[@]}"
