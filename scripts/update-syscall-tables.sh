#!/usr/bin/env bash
# Refreshes oracle/syscalls/tbl/<MAJOR.MINOR>/syscall_{64,32}.tbl, the kernel's
# arch/x86/entry/syscalls/ tables that cmake/gen_syscall_tables.cmake turns into
# C++ at build time.
#
# By default the files come from Debian's linux-source-<MAJOR.MINOR> package
# (/usr/src/linux-source-<MAJOR.MINOR>.tar.xz). --install installs that package
# with apt-get first. --from takes a kernel source tree or tarball instead (for
# versions Debian's configured suites do not ship, e.g. 6.18 on bookworm).
#
# Usage:
#   scripts/update-syscall-tables.sh [--install] VERSION...
#   scripts/update-syscall-tables.sh --from DIR_OR_TARBALL VERSION
#
# It prints, per file, the package version, the git blob id and the sha256, for
# oracle/syscalls/tbl/README.md. Then rebuild: the generator runs on its own.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tbl_dir=$root/oracle/syscalls/tbl

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

install=0
from=
versions=()
while [ $# -gt 0 ]; do
  case $1 in
    --install) install=1 ;;
    --from) [ $# -ge 2 ] || usage; from=$2; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) versions+=("$1") ;;
  esac
  shift
done
[ ${#versions[@]} -gt 0 ] || usage
if [ -n "$from" ] && [ ${#versions[@]} -ne 1 ]; then
  echo "--from takes exactly one VERSION" >&2
  exit 2
fi

# git's blob id (sha1 of "blob <size>\0<content>"), without running git.
blob_id() {
  { printf 'blob %d\0' "$(stat -c %s "$1")"; cat "$1"; } | sha1sum | cut -c1-40
}

# Copies the two tables out of a tree or tarball into directory $2.
extract() {
  local src=$1 dest=$2
  if [ -d "$src" ]; then
    cp "$src/arch/x86/entry/syscalls/syscall_64.tbl" "$src/arch/x86/entry/syscalls/syscall_32.tbl" "$dest/"
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  # One pass over the (large) tarball; the top directory's name varies.
  tar -xf "$src" -C "$tmp" --wildcards \
    '*/arch/x86/entry/syscalls/syscall_64.tbl' '*/arch/x86/entry/syscalls/syscall_32.tbl'
  local d
  d=$(dirname "$(find "$tmp" -path '*/arch/x86/entry/syscalls/syscall_64.tbl' | head -n1)")
  cp "$d/syscall_64.tbl" "$d/syscall_32.tbl" "$dest/"
  rm -rf "$tmp"
}

for v in "${versions[@]}"; do
  if ! [[ $v =~ ^[0-9]+\.[0-9]+$ ]]; then
    echo "VERSION must be MAJOR.MINOR (got '$v')" >&2
    exit 2
  fi
  src=$from
  origin="$from"
  if [ -z "$src" ]; then
    pkg=linux-source-$v
    for ext in tar.xz tar.bz2 tar.gz; do
      if [ -f "/usr/src/$pkg.$ext" ]; then src=/usr/src/$pkg.$ext; break; fi
    done
    if [ -z "$src" ] && [ "$install" = 1 ]; then
      apt-get install -y "$pkg"
      for ext in tar.xz tar.bz2 tar.gz; do
        if [ -f "/usr/src/$pkg.$ext" ]; then src=/usr/src/$pkg.$ext; break; fi
      done
    fi
    if [ -z "$src" ]; then
      echo "$pkg is not installed: run with --install (apt-get install $pkg), or use --from" >&2
      exit 1
    fi
    origin="Debian $pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo '(version unknown)')"
  fi
  mkdir -p "$tbl_dir/$v"
  echo "== $v from $origin ($src)"
  extract "$src" "$tbl_dir/$v"
  for f in syscall_64.tbl syscall_32.tbl; do
    p=$tbl_dir/$v/$f
    echo "  $f  blob $(blob_id "$p")  sha256 $(sha256sum "$p" | cut -c1-64)"
  done
  # The generator's NR_syscalls, as scripts/syscallhdr.sh --emit-nr computes it.
  nr64=$(awk '$1 ~ /^[0-9]+$/ && ($2 == "common" || $2 == "64") && $1 + 0 > m { m = $1 + 0 } END { print m + 1 }' "$tbl_dir/$v/syscall_64.tbl")
  nr32=$(awk '$1 ~ /^[0-9]+$/ && $2 == "i386" && $1 + 0 > m { m = $1 + 0 } END { print m + 1 }' "$tbl_dir/$v/syscall_32.tbl")
  echo "  NR_syscalls $nr64, IA32_NR_syscalls $nr32"
done
echo "Update oracle/syscalls/tbl/README.md with the provenance above; a new"
echo "version also needs its kSeccompFacts entry in oracle/kernel_profile.cc."
