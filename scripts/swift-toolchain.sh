#!/usr/bin/env bash
# Idempotently provide a Linux Swift 6 toolchain for syncproxy's Swift client.
#
# If a native `swift` is on PATH (macOS / dev machines) it is used as is and
# nothing is built. Otherwise a Debian trixie chroot with the `swiftlang`
# package is built once into a cache directory OUTSIDE the repository:
#
#   ${SWIFT_CHROOT:-/var/cache/syncproxy/swift-trixie}
#
# The chroot is built in "$DIR.tmp" and renamed to "$DIR" only after every
# step succeeded; "$DIR/.syncproxy-ready" (holding `swift --version`) marks a
# usable chroot. Concurrent runs serialise on flock("$DIR.lock").
#
# Environment:
#   SWIFT_CHROOT          chroot directory (default above)
#   SWIFT_DEBIAN_MIRROR   Debian mirror (default: the host's apt mirror)
#   SWIFT_TOOLCHAIN_QUIET=1  print nothing when the toolchain is already ready
# Progress goes to stderr.
#
# "$DIR/.syncproxy-packages" lists the packages installed into the chroot. A
# chroot built by an older version of this script (fewer PACKAGES, e.g. before
# libsqlite3-dev for the replica) gets the missing ones installed in place,
# under the same lock, instead of being rebuilt: CI machines keep their cache.
set -euo pipefail

DIR="${SWIFT_CHROOT:-/var/cache/syncproxy/swift-trixie}"
DIR="${DIR%/}"
TMP="$DIR.tmp"
LOCK="$DIR.lock"
MARKER=".syncproxy-ready"
# /usr/bin/swift in the chroot is an absolute symlink (-> /usr/libexec/...),
# so test the real binary from the host side.
SWIFT_BIN="usr/libexec/swift/bin/swift"
SUITE=trixie
# libsqlite3-dev: the replica links the system SQLite (the CSQLite module map).
PACKAGES=(swiftlang libc6-dev libstdc++-14-dev libcurl4 ca-certificates libsqlite3-dev)
PACKAGES_STAMP=".syncproxy-packages"
packages_wanted() { printf '%s\n' "${PACKAGES[@]}"; }
packages_current() { [[ "$(cat "$DIR/$PACKAGES_STAMP" 2>/dev/null)" == "$(packages_wanted)" ]]; }
START=$SECONDS

log() { printf '[swift-toolchain +%ss] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
quiet() { [[ "${SWIFT_TOOLCHAIN_QUIET:-0}" == 1 ]]; }

# 1. Native toolchain: nothing to do.
if native="$(command -v swift 2>/dev/null)"; then
  quiet || log "native swift found at $native: $("$native" --version 2>&1 | head -n1)"
  exit 0
fi

# Fast path without the lock: an existing marker means the chroot is complete
# (it only appears via the final atomic rename).
if [[ -f "$DIR/$MARKER" && -x "$DIR/$SWIFT_BIN" ]] && packages_current; then
  quiet || log "chroot ready at $DIR: $(head -n1 "$DIR/$MARKER")"
  exit 0
fi

[[ "$(id -u)" == 0 ]] || die "building the Swift chroot needs root (debootstrap/chroot); run as root or install swift natively"
[[ "$(uname -s)" == Linux ]] || die "no native swift on PATH and the chroot fallback only works on Linux"

mkdir -p "$(dirname "$DIR")"
exec 9>"$LOCK"
if ! flock -n 9; then
  log "waiting for lock $LOCK (another run is building the chroot)"
  flock 9
fi

# Re-check under the lock: a concurrent run may have finished meanwhile.
if [[ -f "$DIR/$MARKER" && -x "$DIR/$SWIFT_BIN" ]] && packages_current; then
  quiet || log "chroot ready at $DIR: $(head -n1 "$DIR/$MARKER")"
  exit 0
fi

# A ready chroot from an older PACKAGES list: install what is missing in place
# (apt-get install is idempotent), then record the list. /proc, /dev and
# /dev/pts stay mounted afterwards, as scripts/swift.sh leaves them too.
if [[ -f "$DIR/$MARKER" && -x "$DIR/$SWIFT_BIN" ]]; then
  log "chroot at $DIR lacks packages of the current list; installing ${PACKAGES[*]}"
  for m in proc dev dev/pts; do
    if ! awk -v p="$DIR/$m" '$2 == p {found = 1} END {exit !found}' /proc/mounts; then
      case "$m" in
        proc) mount -t proc proc "$DIR/proc" ;;
        *) mount --bind "/$m" "$DIR/$m" ;;
      esac
    fi
  done
  cp -L /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
  in_ready() {
    chroot "$DIR" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
  }
  in_ready apt-get update -qq
  in_ready apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  in_ready apt-get clean
  packages_wanted >"$DIR/$PACKAGES_STAMP"
  log "chroot ready at $DIR: packages up to date"
  exit 0
fi

# Unmount everything mounted at or below $1 (deepest first). /proc/mounts
# escapes spaces etc. as octal, hence printf %b.
unmount_under() {
  local root="$1" m
  local -a mps=()
  while IFS= read -r m; do
    m="$(printf '%b' "$m")"
    if [[ "$m" == "$root" || "$m" == "$root"/* ]]; then mps+=("$m"); fi
  done < <(awk '{print $2}' /proc/mounts)
  ((${#mps[@]})) || return 0
  printf '%s\n' "${mps[@]}" | awk '{print length($0) "\t" $0}' | sort -rn | cut -f2- |
    while IFS= read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
}

remove_tree() {
  local d="$1"
  [[ -e "$d" ]] || return 0
  unmount_under "$d"
  rm -rf --one-file-system "$d"
}

cleanup() { unmount_under "$TMP" || true; }
trap cleanup EXIT

# Mirror: the host's Debian mirror (deb822 .sources or one-line .list).
detect_mirror() {
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    while read -r uri; do
      uri="${uri%/}"
      if [[ "$uri" == http*://*/debian ]]; then echo "$uri"; return 0; fi
    done < <(awk '/^[[:space:]]*#/ {next}
                  $1 == "URIs:" {for (i = 2; i <= NF; i++) print $i}
                  $1 == "deb" {for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; break}}' "$f")
  done
  echo "http://deb.debian.org/debian"
}
MIRROR="${SWIFT_DEBIAN_MIRROR:-$(detect_mirror)}"

in_chroot() {
  chroot "$TMP" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

log "building Swift chroot in $TMP (mirror $MIRROR, suite $SUITE)"

if [[ -e "$DIR" ]]; then
  log "removing incomplete chroot $DIR (no $MARKER)"
  remove_tree "$DIR"
fi
if [[ -e "$TMP" ]]; then
  log "removing leftover $TMP from an interrupted run"
  remove_tree "$TMP"
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap on the host"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  log "debootstrap installed"
fi

log "debootstrap --variant=minbase $SUITE (a few minutes)"
debootstrap --variant=minbase "$SUITE" "$TMP" "$MIRROR" >"$TMP.debootstrap.log" 2>&1 || {
  tail -n 20 "$TMP.debootstrap.log" >&2
  die "debootstrap failed (full log: $TMP.debootstrap.log)"
}
rm -f "$TMP.debootstrap.log"
log "debootstrap done"

# DNS for apt inside the chroot; /proc, /dev, /dev/pts for the package
# scripts and swift (unmounted again by the EXIT trap / before the rename).
cp -L /etc/resolv.conf "$TMP/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$TMP/proc"
mount --bind /dev "$TMP/dev"
mount --bind /dev/pts "$TMP/dev/pts"

log "apt-get install ${PACKAGES[*]} in chroot"
in_chroot apt-get update -qq
in_chroot apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
in_chroot apt-get clean
log "packages installed"

cat >"$TMP/etc/ld.so.conf.d/syncproxy-swift.conf" <<'EOF'
/usr/libexec/swift/lib/swift/linux
/usr/libexec/swift/lib/swift/host
EOF
in_chroot ldconfig
log "ldconfig done"

version="$(in_chroot swift --version 2>&1)" || { echo "$version" >&2; die "swift --version failed in chroot"; }
[[ -x "$TMP/$SWIFT_BIN" ]] || die "$TMP/$SWIFT_BIN missing after install"
printf '%s\n' "$version" >"$TMP/$MARKER"
packages_wanted >"$TMP/$PACKAGES_STAMP"

unmount_under "$TMP"
mv -T "$TMP" "$DIR"
log "chroot ready at $DIR: $(head -n1 "$DIR/$MARKER")"
