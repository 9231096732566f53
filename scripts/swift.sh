#!/usr/bin/env bash
# Run `swift ARGS...` in the current directory.
#
# Uses a native `swift` if one is on PATH. Otherwise it uses the Debian trixie
# chroot provided by scripts/swift-toolchain.sh (${SWIFT_CHROOT:-/var/cache/
# syncproxy/swift-trixie}): /proc, /dev, /dev/pts (and /dev/shm) and the current
# repository root (git toplevel, else the current directory) are mounted into
# the chroot at the same absolute paths, and swift runs there with a clean
# environment (HOME=/root inside the chroot, so SwiftPM caches stay in the
# chroot) plus every SYNC_* variable of the caller.
#
# Mounts are left in place for reuse by later and concurrent calls; setting
# them up is idempotent (checked against /proc/mounts) and serialised with
# flock. The chroot shares the host's network, so 127.0.0.1 servers are
# reachable from inside.
set -euo pipefail

if native="$(command -v swift 2>/dev/null)"; then
  exec "$native" "$@"
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
DIR="${SWIFT_CHROOT:-/var/cache/syncproxy/swift-trixie}"
DIR="${DIR%/}"
export SWIFT_CHROOT="$DIR"

SWIFT_TOOLCHAIN_QUIET=1 "$HERE/swift-toolchain.sh"

die() { echo "swift.sh: $*" >&2; exit 1; }

CWD="$(pwd -P)"
ROOT="$(git rev-parse --show-toplevel 2>/dev/null || true)"
[[ -n "$ROOT" ]] || ROOT="$CWD"
ROOT="$(cd "$ROOT" && pwd -P)"
DIRP="$(cd "$DIR" && pwd -P)"
[[ "$ROOT" != / ]] || die "refusing to bind-mount / into the chroot; run from a project directory"
[[ "$DIRP" != "$ROOT" && "$DIRP" != "$ROOT"/* ]] || die "chroot $DIRP lies inside $ROOT; set SWIFT_CHROOT elsewhere"
[[ "$ROOT" != "$DIRP"/* ]] || die "$ROOT lies inside the chroot $DIRP"
[[ "$CWD" == "$ROOT" || "$CWD" == "$ROOT"/* ]] || die "cwd $CWD is not inside $ROOT"

# Is $1 a mount point? (/proc/mounts escapes space, tab, newline, backslash.)
is_mounted() {
  local esc="$1"
  esc="${esc//\\/\\134}"; esc="${esc// /\\040}"; esc="${esc//$'\t'/\\011}"; esc="${esc//$'\n'/\\012}"
  awk -v p="$esc" '$2 == p {found = 1} END {exit !found}' /proc/mounts
}

ensure_mount() { # ensure_mount TARGET mount-args...
  local target="$1"; shift
  is_mounted "$target" && return 0
  mkdir -p "$target"
  mount "$@" "$target"
}

# Serialise mount setup with the toolchain builder and other swift.sh calls.
exec 9>"$DIR.lock"
flock 9
ensure_mount "$DIRP/proc" -t proc proc
ensure_mount "$DIRP/dev" --bind /dev
ensure_mount "$DIRP/dev/pts" --bind /dev/pts
if is_mounted /dev/shm; then ensure_mount "$DIRP/dev/shm" --bind /dev/shm; fi
# A bind mount left by an earlier run whose directory was deleted and
# re-created at the same path (CI clones into the same folder again) shows the
# old, deleted directory: remount unless it is the same directory.
if is_mounted "$DIRP$ROOT" && [[ "$(stat -c %d:%i "$ROOT")" != "$(stat -c %d:%i "$DIRP$ROOT" 2>/dev/null)" ]]; then
  umount -l "$DIRP$ROOT"
fi
ensure_mount "$DIRP$ROOT" --bind "$ROOT"
cp -L /etc/resolv.conf "$DIRP/etc/resolv.conf" 2>/dev/null || true
flock -u 9
exec 9>&-

passenv=()
while IFS= read -r name; do
  [[ "$name" == SYNC_* ]] && passenv+=("$name=${!name}")
done < <(compgen -e)

exec chroot "$DIRP" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
  ${TERM:+TERM="$TERM"} "${passenv[@]}" \
  sh -c 'cd "$1" && shift && exec swift "$@"' swift-chroot "$CWD" "$@"
