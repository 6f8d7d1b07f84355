#!/usr/bin/env bash
# Installs what secdiff needs on Debian bookworm (run as root); installs only what is missing.
set -euo pipefail

PKGS=(
  cmake ninja-build pkg-config clang lld g++ make
  libz3-dev libgtest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  libseccomp-dev libboost-dev libboost-filesystem-dev
  qemu-system-x86 python3 bc
  libclang-rt-14-dev afl++
)
[ $# -gt 0 ] && PKGS+=("$@")

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: dependencies present"
