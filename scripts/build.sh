#!/usr/bin/env bash
# Configures and builds one configuration: scripts/build.sh [release|asan|gcc] [targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=${1:-release}
shift || true
case "$cfg" in
  release) dir=build;      args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DSECDIFF_WERROR=ON) ;;
  asan)    dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DSECDIFF_WERROR=ON -DSECDIFF_SANITIZE=ON -DSECDIFF_BENCH=OFF) ;;
  gcc)     dir=build-gcc;  args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc -DSECDIFF_WERROR=ON) ;;
  *) echo "usage: $0 [release|asan|gcc] [targets...]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
ninja -C "$dir" "$@"
