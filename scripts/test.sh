#!/usr/bin/env bash
# Sets up, builds and runs every test: the clang build (-Werror), the fuzz
# targets for libFuzzer and AFL++ with their smoke runs, the real kernels in
# QEMU and `secdiff fuzz` end to end, the same unit tests under ASan+UBSan, and
# a gcc build. Pass --quick to skip the ASan and gcc builds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d ../shared/profiles ]; then
  echo "test.sh: $(cd .. && pwd)/shared/profiles is missing: the corpus tests import the real" \
       "profiles from ../shared/profiles next to the clone (as CI has it)" >&2
  exit 2
fi
./scripts/setup.sh
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc)

echo "== kernels for the VM tests (cached outside the clone)"
./scripts/vm/kernels.sh all

echo "== clang (Release, -Werror)"
./scripts/build.sh release
(cd build && ctest --output-on-failure -j"$jobs" -LE slow)
echo "== fuzz targets: libFuzzer and AFL++ (ASan+UBSan), smoke runs"
targets=(fuzz_cache_soundness fuzz_oracle_consistency fuzz_kernel_load fuzz_vm_diff)
./scripts/fuzz-build.sh libfuzzer "${targets[@]}"
(cd build-fuzz-libfuzzer && ctest --output-on-failure -L fuzz)
./scripts/fuzz-build.sh afl "${targets[@]}"
(cd build-fuzz-afl && ctest --output-on-failure -L fuzz)
echo "== real kernels in QEMU, and secdiff fuzz end to end"
(cd build && SECDIFF_FUZZ_TEST_REQUIRE=1 ctest --output-on-failure -L slow)

if [ $quick -eq 0 ]; then
  echo "== clang ASan+UBSan"
  ./scripts/build.sh asan
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$jobs" -LE slow)
  echo "== gcc"
  ./scripts/build.sh gcc
fi
echo "test.sh: all tests passed"
