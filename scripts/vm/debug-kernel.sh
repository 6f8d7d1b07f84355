#!/usr/bin/env bash
# Builds (once) secdiff's small "debug" guest kernel: Debian's linux-source-6.1 configured by
# vm/kernel/debug-config.sh (tinyconfig + SECCOMP_CACHE_DEBUG, X86_X32_ABI, IA32_EMULATION,
# AUDIT, syscall tracepoints, perf, BPF JIT (not always-on), virtio console built in, gzip).
#
# Usage: scripts/vm/debug-kernel.sh [--print-dir]
#
# Output: ${SECDIFF_CACHE:-/var/cache/secdiff}/kernels/debug-<key>/{bzImage,config,VERSION,build.log}
#   key = first 16 hex digits of sha256( "linux-source-6.1 <package version>\n"
#                                        + content of vm/kernel/debug-config.sh
#                                        + "\n<SCRIPT_VERSION>\n" )
# The full key is recorded in VERSION. If the directory is complete nothing is rebuilt.
# The source is unpacked under ${SECDIFF_CACHE}/kernels/.work/ (never in the clone) and the
# tree is deleted after a successful build (set SECDIFF_KEEP_TREE=1 to keep it).
#
# Progress goes to stderr. With --print-dir, stdout is exactly the output directory.
set -euo pipefail

SCRIPT_VERSION="secdiff-debug-kernel-v2"
SRC_PKG="linux-source-6.1"
SRC_TAR="/usr/src/linux-source-6.1.tar.xz"
NEEDED_PKGS=(linux-source-6.1 flex bison libelf-dev bc libssl-dev cpio kmod make gcc libc6-dev xz-utils)

die() { echo "debug-kernel: error: $*" >&2; exit 1; }
log() { echo "debug-kernel: $*" >&2; }

print_dir=0
for a in "$@"; do
  case "$a" in
    --print-dir) print_dir=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$a' (usage: $0 [--print-dir])" ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cfg_script="$root/vm/kernel/debug-config.sh"
[ -f "$cfg_script" ] || die "config script not found: $cfg_script"

# --- packages ---------------------------------------------------------------------------------
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}; install them as root: apt-get install ${missing[*]}"
  log "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2 \
      || die "could not install ${missing[*]}"
  fi
}
ensure_pkgs "${NEEDED_PKGS[@]}"
[ -f "$SRC_TAR" ] || die "$SRC_TAR not found although $SRC_PKG is installed"

src_ver="$(dpkg-query -W -f='${Version}' "$SRC_PKG")"
[ -n "$src_ver" ] || die "cannot determine the version of $SRC_PKG"

full_key="$( { printf '%s %s\n' "$SRC_PKG" "$src_ver"; cat "$cfg_script"; printf '\n%s\n' "$SCRIPT_VERSION"; } \
            | sha256sum | cut -d' ' -f1)"
key="${full_key:0:16}"

cache="${SECDIFF_CACHE:-/var/cache/secdiff}"
kdir="$cache/kernels"
out="$kdir/debug-$key"
mkdir -p "$kdir" 2>/dev/null || die "cannot create cache directory $kdir (set SECDIFF_CACHE to a writable path)"
[ -w "$kdir" ] || die "cache directory $kdir is not writable (set SECDIFF_CACHE)"

finish() {
  if [ "$print_dir" -eq 1 ]; then echo "$out"; else log "kernel: $out/bzImage"; fi
  exit 0
}
complete() { [ -s "$out/bzImage" ] && [ -s "$out/config" ] && [ -s "$out/VERSION" ]; }

complete && finish

# Serialise concurrent builders (CI jobs, several runners) on one lock per key.
exec 9>"$kdir/.debug-$key.lock"
if ! flock -n 9; then
  log "another build of debug-$key is running; waiting for it"
  flock 9
fi
complete && finish

work="$kdir/.work/debug-$key"
tree="$work/linux-source-6.1"
stage="$work/out"
rm -rf "$work"
mkdir -p "$work" "$stage"
blog="$stage/build.log"
: >"$blog"

t0=$(date +%s)
log "building debug kernel $key ($SRC_PKG $src_ver, $(nproc) jobs); log: $blog"
log "[1/4] unpacking $SRC_TAR"
# Skip what an x86 build never reads: the documentation except the top-level Documentation/Kconfig
# and the device trees of other architectures (their Kconfig files are still needed, because
# crypto/Kconfig sources arch/*/crypto/Kconfig). ~17 % fewer files to unpack and delete.
excl=(--exclude='linux-source-6.1/Documentation/*/*')
for a in alpha arc arm arm64 csky hexagon ia64 loongarch m68k microblaze mips nios2 openrisc \
         parisc powerpc riscv s390 sh sparc um xtensa; do
  excl+=(--exclude="linux-source-6.1/arch/$a/boot/dts")
done
tar -xf "$SRC_TAR" -C "$work" "${excl[@]}" || die "unpacking $SRC_TAR failed"
[ -d "$tree" ] || die "expected $tree after unpacking"

log "[2/4] configuring with vm/kernel/debug-config.sh"
if ! (cd "$tree" && sh "$cfg_script") >>"$blog" 2>&1; then
  tail -n 30 "$blog" >&2
  die "kernel configuration failed (full log: $blog)"
fi
for sym in SECCOMP SECCOMP_FILTER SECCOMP_CACHE_DEBUG X86_X32_ABI IA32_EMULATION AUDITSYSCALL \
           FTRACE_SYSCALLS PERF_EVENTS BPF_JIT VIRTIO_PCI VIRTIO_CONSOLE SERIAL_8250_CONSOLE \
           BLK_DEV_INITRD DEVTMPFS KERNEL_GZIP; do
  grep -qx "CONFIG_$sym=y" "$tree/.config" || die "CONFIG_$sym=y missing from the generated .config"
done
if grep -qx "CONFIG_BPF_JIT_ALWAYS_ON=y" "$tree/.config"; then die "BPF_JIT_ALWAYS_ON must be off"; fi
t1=$(date +%s)
log "      config OK after $((t1 - t0)) s (SECCOMP_CACHE_DEBUG, X86_X32_ABI, IA32_EMULATION present)"

log "[3/4] make -j$(nproc) bzImage (takes ~4-5 min on 2 cores)"
# Fixed build user/host/timestamp, so that uname -v does not depend on who built it or when.
export KBUILD_BUILD_USER=secdiff KBUILD_BUILD_HOST=secdiff KBUILD_BUILD_VERSION=1
KBUILD_BUILD_TIMESTAMP="$(LC_ALL=C date -u -d "@$(stat -c %Y "$SRC_TAR")")"
export KBUILD_BUILD_TIMESTAMP
(cd "$tree" && exec make -j"$(nproc)" bzImage) >>"$blog" 2>&1 &
mpid=$!
while kill -0 "$mpid" 2>/dev/null; do
  for _ in $(seq 30); do kill -0 "$mpid" 2>/dev/null || break; sleep 1; done
  kill -0 "$mpid" 2>/dev/null || break
  n=$(grep -c '^  CC ' "$blog" || true)
  log "      ... $(( $(date +%s) - t1 )) s, $n files compiled"
done
if ! wait "$mpid"; then
  tail -n 40 "$blog" >&2
  die "kernel build failed (full log: $blog; tree kept in $tree)"
fi
t2=$(date +%s)
[ -s "$tree/arch/x86/boot/bzImage" ] || die "make succeeded but arch/x86/boot/bzImage is missing"
log "      built in $((t2 - t1)) s"

log "[4/4] installing into $out"
krel="$(make -s -C "$tree" kernelrelease 2>/dev/null || echo unknown)"
cp "$tree/arch/x86/boot/bzImage" "$stage/bzImage"
cp "$tree/.config" "$stage/config"
cat >"$stage/VERSION" <<EOF
name=debug
kernelrelease=$krel
source_package=$SRC_PKG
source_version=$src_ver
script_version=$SCRIPT_VERSION
key=$full_key
config_script_sha256=$(sha256sum "$cfg_script" | cut -d' ' -f1)
compiler=$(gcc --version | head -n1)
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$((t2 - t0))
bzimage_bytes=$(stat -c %s "$stage/bzImage")
bzimage_sha256=$(sha256sum "$stage/bzImage" | cut -d' ' -f1)
build_timestamp=$KBUILD_BUILD_TIMESTAMP
EOF
rm -rf "$out"
mv "$stage" "$out"
if [ "${SECDIFF_KEEP_TREE:-0}" = 1 ]; then
  log "keeping source tree $tree (SECDIFF_KEEP_TREE=1)"
else
  log "removing the source tree (can take a few minutes on a busy disk)"
  rm -rf "$work"
  rmdir "$kdir/.work" 2>/dev/null || true
fi
log "done in $(( $(date +%s) - t0 )) s: $out/bzImage ($(stat -c %s "$out/bzImage") bytes, $krel)"
finish
