#!/usr/bin/env bash
# Sets up, builds and runs every test: the clang build (-Werror), the same tests
# under ASan+UBSan, and a gcc build. Pass --quick to run only the clang build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc)

echo "== kernels for the VM tests (cached outside the clone)"
./scripts/vm/kernels.sh all

echo "== clang (Release, -Werror)"
./scripts/build.sh release
(cd build && ctest --output-on-failure -j"$jobs" -LE slow)
echo "== real kernels in QEMU"
(cd build && ctest --output-on-failure -L slow)

if [ $quick -eq 0 ]; then
  echo "== clang ASan+UBSan"
  ./scripts/build.sh asan
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$jobs" -LE slow)
  echo "== gcc"
  ./scripts/build.sh gcc
fi
echo "test.sh: all tests passed"
