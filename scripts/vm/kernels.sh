#!/usr/bin/env bash
# Entry point for the host runner and CI: makes sure the guest kernels exist in the cache
# (fetching / building them on first use) and prints one line per kernel on stdout:
#
#   <name> <path to kernel image> [<modules dir>]
#
#   debian /var/cache/secdiff/kernels/debian-6.1.192-2/vmlinuz /var/cache/secdiff/kernels/debian-6.1.192-2/modules
#   debug  /var/cache/secdiff/kernels/debug-3e96f8d3a4667752/bzImage
#
# The third field is absent when the kernel needs no modules (virtio console built in).
# Paths never contain spaces unless SECDIFF_CACHE does. Progress and errors go to stderr.
#
# Usage: scripts/vm/kernels.sh [debian|debug|all]     (default: all)
# Cache: ${SECDIFF_CACHE:-/var/cache/secdiff}/kernels/ (see vm/kernel/README.md)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "kernels: error: $*" >&2; exit 1; }

which="${1:-all}"
[ $# -le 1 ] || die "usage: $0 [debian|debug|all]"

emit_debian() {
  local d
  d="$("$here/debian-kernel.sh" --print-dir)" || die "debian kernel unavailable (see messages above)"
  [ -s "$d/vmlinuz" ] && [ -d "$d/modules" ] || die "incomplete debian kernel in $d"
  echo "debian $d/vmlinuz $d/modules"
}
emit_debug() {
  local d
  d="$("$here/debug-kernel.sh" --print-dir)" || die "debug kernel unavailable (see messages above)"
  [ -s "$d/bzImage" ] || die "incomplete debug kernel in $d"
  echo "debug $d/bzImage"
}

case "$which" in
  debian) emit_debian ;;
  debug) emit_debug ;;
  all) emit_debian; emit_debug ;;
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown kernel '$which' (expected debian, debug or all)" ;;
esac
