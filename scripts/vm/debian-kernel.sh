#!/usr/bin/env bash
# Fetches (once) Debian's cloud kernel for the QEMU backend: vmlinuz, its config and the six
# virtio modules needed for virtio-serial, numbered in load order.
#
# Usage: scripts/vm/debian-kernel.sh [--print-dir]
#
# Package: the versioned package that linux-image-cloud-amd64 depends on (e.g.
#   linux-image-6.1.0-56-cloud-amd64), or SECDIFF_DEBIAN_KERNEL_PKG=<package> to pin one.
# Output: ${SECDIFF_CACHE:-/var/cache/secdiff}/kernels/debian-<package version>/
#   vmlinuz  config  VERSION  modules/NN_<name>.ko  (NN = load order, 01 first)
# Nothing is downloaded when that directory is already complete. Only apt-cache (local) is
# consulted to find the version (its answer is remembered in kernels/.debian-apt-lookup until
# the apt index changes); apt-get update runs only if the lookup or the download fails.
#
# Progress goes to stderr. With --print-dir, stdout is exactly the output directory.
set -euo pipefail

SCRIPT_VERSION="secdiff-debian-kernel-v1"
META_PKG="linux-image-cloud-amd64"
# The modules virtio-serial needs; the order is derived with depmod + modprobe --show-depends.
WANT_MODULES=(virtio_pci virtio_console)
EXPECT_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console)
APT_OPTS=(-o DPkg::Lock::Timeout=600)

die() { echo "debian-kernel: error: $*" >&2; exit 1; }
log() { echo "debian-kernel: $*" >&2; }

print_dir=0
for a in "$@"; do
  case "$a" in
    --print-dir) print_dir=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$a' (usage: $0 [--print-dir])" ;;
  esac
done

ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}; install them as root: apt-get install ${missing[*]}"
  log "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get "${APT_OPTS[@]}" update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2 \
      || die "could not install ${missing[*]}"
  fi
}

# --- which package / version -------------------------------------------------------------------
lookup_pkg() {
  if [ -n "${SECDIFF_DEBIAN_KERNEL_PKG:-}" ]; then echo "$SECDIFF_DEBIAN_KERNEL_PKG"; return; fi
  local p
  p="$(apt-cache depends "$META_PKG" 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1)"
  if [ -z "$p" ]; then
    p="$(apt-cache search --names-only '^linux-image-[0-9].*-cloud-amd64$' 2>/dev/null \
          | awk '{print $1}' | grep -v -- '-dbg$' | grep -v unsigned | sort -V | tail -n1)"
  fi
  echo "$p"
}
lookup_ver() {
  apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n1
}

# apt-cache takes ~2 s, and its answer changes only with the apt index: it is remembered
# per index state (the lists directory and the binary cache), so a cached kernel is found
# at once. An apt-get update (or a new SECDIFF_DEBIAN_KERNEL_PKG) asks apt-cache again.
memo="${SECDIFF_CACHE:-/var/cache/secdiff}/kernels/.debian-apt-lookup"
apt_state="$( (stat -c '%n %Y %s' /var/lib/apt/lists /var/cache/apt/pkgcache.bin 2>/dev/null || true) | tr '\n' ' ')"
apt_state+="pin=${SECDIFF_DEBIAN_KERNEL_PKG:-}"
pkg="" ver=""
if [ -r "$memo" ] && [ "$(sed -n 1p "$memo")" = "$apt_state" ]; then
  pkg="$(sed -n 2p "$memo")"
  ver="$(sed -n 3p "$memo")"
fi
if [ -z "$pkg" ] || [ -z "$ver" ]; then
  pkg="$(lookup_pkg)"
  [ -n "$pkg" ] && ver="$(lookup_ver "$pkg")"
fi
if [ -z "$pkg" ] || [ -z "$ver" ]; then
  [ "$(id -u)" -eq 0 ] || die "no Debian cloud kernel package in the apt index; run 'apt-get update' as root"
  log "no cloud kernel package in the apt index; running apt-get update"
  apt-get "${APT_OPTS[@]}" update -qq >&2 || die "apt-get update failed"
  pkg="$(lookup_pkg)"
  [ -n "$pkg" ] || die "cannot find $META_PKG or any linux-image-*-cloud-amd64 package in the apt sources"
  ver="$(lookup_ver "$pkg")"
  [ -n "$ver" ] || die "apt-cache knows no version of $pkg"
fi

cache="${SECDIFF_CACHE:-/var/cache/secdiff}"
kdir="$cache/kernels"
out="$kdir/debian-${ver//:/_}"
mkdir -p "$kdir" 2>/dev/null || die "cannot create cache directory $kdir (set SECDIFF_CACHE to a writable path)"
[ -w "$kdir" ] || die "cache directory $kdir is not writable (set SECDIFF_CACHE)"
# Remember the lookup (a temporary file and a rename: concurrent runs never see half of it).
if [ "$(sed -n 1p "$memo" 2>/dev/null)" != "$apt_state" ] || [ "$(sed -n 3p "$memo" 2>/dev/null)" != "$ver" ]; then
  tmp_memo="$(mktemp "$kdir/.debian-apt-lookup.XXXXXX" 2>/dev/null)" \
    && printf '%s\n%s\n%s\n' "$apt_state" "$pkg" "$ver" >"$tmp_memo" && mv -f "$tmp_memo" "$memo" || rm -f "${tmp_memo:-}"
fi

finish() {
  if [ "$print_dir" -eq 1 ]; then echo "$out"; else log "kernel: $out/vmlinuz, modules: $out/modules"; fi
  exit 0
}
complete() {
  [ -s "$out/vmlinuz" ] && [ -s "$out/config" ] && [ -s "$out/VERSION" ] \
    && [ "$(find "$out/modules" -name '*.ko' 2>/dev/null | wc -l)" -ge ${#EXPECT_MODULES[@]} ]
}
complete && finish

exec 9>"$kdir/.debian-${ver//:/_}.lock"
if ! flock -n 9; then log "another fetch of $pkg is running; waiting for it"; flock 9; fi
complete && finish

ensure_pkgs kmod dpkg apt
t0=$(date +%s)
work="$kdir/.work/debian-${ver//:/_}"
rm -rf "$work"
mkdir -p "$work/dl" "$work/root" "$work/out/modules"
# apt-get download drops privileges to _apt; let it write the directory to avoid the
# "Download is performed unsandboxed as root" notice.
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work/dl"; fi

log "downloading $pkg=$ver"
download() { (cd "$work/dl" && apt-get "${APT_OPTS[@]}" download -qq "$pkg=$ver" >&2); }
if ! download; then
  [ "$(id -u)" -eq 0 ] || die "apt-get download $pkg=$ver failed"
  log "download failed; running apt-get update and retrying"
  apt-get "${APT_OPTS[@]}" update -qq >&2 || die "apt-get update failed"
  nver="$(lookup_ver "$pkg")"
  if [ -n "$nver" ] && [ "$nver" != "$ver" ]; then
    rm -rf "$work"
    die "the apt index changed ($pkg is now $nver, was $ver); run this script again"
  fi
  download || die "apt-get download $pkg=$ver failed"
fi
deb="$(find "$work/dl" -maxdepth 1 -name '*.deb' | head -n1)"
[ -n "$deb" ] || die "apt-get download produced no .deb in $work/dl"
log "extracting $(basename "$deb") ($(stat -c %s "$deb") bytes)"
dpkg-deb -x "$deb" "$work/root"

vmlinuz="$(find "$work/root/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)"
[ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $pkg"
krel="${vmlinuz##*/vmlinuz-}"
[ -f "$work/root/boot/config-$krel" ] || die "no boot/config-$krel in $pkg"
mdir="$work/root/lib/modules/$krel"
[ -d "$mdir" ] || die "no lib/modules/$krel in $pkg"

# The package ships no modules.dep; generate it and ask modprobe for the load order.
depmod -b "$work/root" "$krel" || die "depmod failed"
deps="$(modprobe -d "$work/root" -S "$krel" -a --show-depends "${WANT_MODULES[@]}")" \
  || die "modprobe --show-depends ${WANT_MODULES[*]} failed"
printf '%s\n' "$deps" | sed "s|$work/root||g" >"$work/out/modprobe-show-depends.txt"
mapfile -t paths < <(printf '%s\n' "$deps" | awk '$1=="insmod" && !seen[$2]++ {print $2}')
[ ${#paths[@]} -gt 0 ] || die "modprobe listed no modules to insert (are they built in?)"

order=()
n=0
for p in "${paths[@]}"; do
  n=$((n + 1))
  base="${p##*/}"
  name="${base%%.ko*}"
  dst="$work/out/modules/$(printf '%02d' "$n")_$name.ko"
  case "$base" in
    *.ko) cp "$p" "$dst" ;;
    *.ko.xz) xz -dc "$p" >"$dst" ;;
    *.ko.zst) command -v zstd >/dev/null || ensure_pkgs zstd; zstd -qdc "$p" >"$dst" ;;
    *.ko.gz) gzip -dc "$p" >"$dst" ;;
    *) die "unexpected module file $p" ;;
  esac
  vm="$(modinfo -F vermagic "$dst" 2>/dev/null | cut -d' ' -f1)"
  [ "$vm" = "$krel" ] || die "$dst has vermagic '$vm', expected '$krel'"
  order+=("$name")
done
for m in "${EXPECT_MODULES[@]}"; do
  printf '%s\n' "${order[@]}" | grep -qx "$m" || log "warning: expected module $m is not in the load order (${order[*]})"
done

cp "$vmlinuz" "$work/out/vmlinuz"
cp "$work/root/boot/config-$krel" "$work/out/config"
cat >"$work/out/VERSION" <<EOF
name=debian
package=$pkg
package_version=$ver
kernelrelease=$krel
script_version=$SCRIPT_VERSION
deb_sha256=$(sha256sum "$deb" | cut -d' ' -f1)
module_load_order=${order[*]}
fetched=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
rm -rf "$out"
mv "$work/out" "$out"
rm -rf "$work"
rmdir "$kdir/.work" 2>/dev/null || true
log "done in $(( $(date +%s) - t0 )) s: $krel ($pkg $ver), modules: ${order[*]}"
finish
