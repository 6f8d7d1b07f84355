#!/usr/bin/env bash
# Builds the uncompressed newc initramfs for the QEMU guest.
#
# Usage: scripts/vm/initramfs.sh --agent PATH [--modules DIR] -o OUT.cpio
#
# Contents:
#   /init               the static agent (mode 0755)
#   /dev /proc /sys     empty directories (mount points)
#   /dev/console        character device 5,1 (without it PID 1 has no stdin/stdout/stderr)
#   /mods/*.ko          only with --modules: every *.ko in DIR, kept under its own name; the
#                       guest loads them in lexical order, so name them NN_<name>.ko
#                       (scripts/vm/debian-kernel.sh does).
#
# The archive is written by a small newc writer in this script (no cpio, no mknod), so it does
# not need root and is byte-for-byte reproducible: all entries have uid/gid 0 and mtime
# ${SOURCE_DATE_EPOCH:-0}, inode numbers are assigned in order. The kernel unpacks it as root.
set -euo pipefail

die() { echo "initramfs: error: $*" >&2; exit 1; }
usage() { echo "usage: $0 --agent PATH [--modules DIR] -o OUT.cpio" >&2; exit 2; }

agent="" mods="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --agent) [ $# -ge 2 ] || usage; agent="$2"; shift 2 ;;
    --agent=*) agent="${1#*=}"; shift ;;
    --modules) [ $# -ge 2 ] || usage; mods="$2"; shift 2 ;;
    --modules=*) mods="${1#*=}"; shift ;;
    -o|--output) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "initramfs: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$agent" ] && [ -n "$out" ] || usage
[ -f "$agent" ] || die "agent '$agent' not found"
[ "$(head -c 4 "$agent" | od -An -c | tr -d ' ')" = '177ELF' ] || die "agent '$agent' is not an ELF executable"
if command -v readelf >/dev/null && readelf -lW "$agent" 2>/dev/null | grep -q 'program interpreter'; then
  die "agent '$agent' is dynamically linked; the initramfs has no libc (build it with -static)"
fi
modfiles=()
if [ -n "$mods" ]; then
  [ -d "$mods" ] || die "modules directory '$mods' not found"
  mapfile -t modfiles < <(find "$mods" -maxdepth 1 \( -type f -o -type l \) -name '*.ko' -printf '%f\n' | LC_ALL=C sort)
  [ ${#modfiles[@]} -gt 0 ] || die "no *.ko files in '$mods'"
fi

mtime="${SOURCE_DATE_EPOCH:-0}"
ino=0
tmp="$(mktemp "$(dirname -- "$out")/.initramfs.XXXXXX")" || die "cannot create a file next to '$out'"
trap 'rm -f "$tmp"' EXIT

pad4() {  # write zero bytes so that $1 becomes a multiple of 4
  local n=$(( (4 - $1 % 4) % 4 ))
  [ "$n" -eq 0 ] || head -c "$n" /dev/zero
}
# entry NAME MODE(octal) SIZE RDEVMAJ RDEVMIN NLINK [FILE]
entry() {
  local name="$1" mode=$((8#$2)) size="$3" rmaj="$4" rmin="$5" nlink="$6" file="${7:-}"
  local namesize=$(( ${#name} + 1 ))
  ino=$((ino + 1))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    "$ino" "$mode" 0 0 "$nlink" "$mtime" "$size" 0 0 "$rmaj" "$rmin" "$namesize" 0
  printf '%s\0' "$name"
  pad4 $((110 + namesize))
  if [ -n "$file" ]; then
    cat -- "$file"
    pad4 "$size"
  fi
}
fsize() { stat -L -c %s -- "$1"; }

{
  entry dev 040755 0 0 0 2
  entry dev/console 020600 0 5 1 1
  entry proc 040755 0 0 0 2
  entry sys 040755 0 0 0 2
  entry init 0100755 "$(fsize "$agent")" 0 0 1 "$agent"
  if [ ${#modfiles[@]} -gt 0 ]; then
    entry mods 040755 0 0 0 2
    for m in "${modfiles[@]}"; do
      entry "mods/$m" 0100644 "$(fsize "$mods/$m")" 0 0 1 "$mods/$m"
    done
  fi
  entry TRAILER!!! 0 0 0 0 1
} >"$tmp"
chmod 0644 "$tmp"
mv -f -- "$tmp" "$out"
trap - EXIT
echo "initramfs: wrote $out ($(fsize "$out") bytes; init=$(basename -- "$agent")${modfiles:+; ${#modfiles[@]} modules})" >&2
