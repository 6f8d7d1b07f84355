#!/usr/bin/env bash
# Configures and builds a fuzz build: scripts/fuzz-build.sh libfuzzer|afl|none [--bugs] [targets...]
#   libfuzzer  build-fuzz-libfuzzer/  clang, -fsanitize=fuzzer, ASan+UBSan
#   afl        build-fuzz-afl/        afl-clang-fast(++), libAFLDriver, ASan+UBSan
#   none       build-fuzz-none/       plain: standalone drivers, AFL++ mutator .so, tools
# (in the source tree). --bugs also builds fuzz_cache_soundness_bug<N> (seeded-bug benchmark).
# FUZZ_BUILD_ROOT puts the build directories elsewhere; FUZZ_SANITIZE=OFF builds without sanitizers;
# FUZZ_SRC builds another source tree (e.g. a snapshot taken for a benchmark).
set -euo pipefail
cd "${FUZZ_SRC:-$(dirname "$0")/..}"
engine=${1:?usage: $0 libfuzzer|afl|none [--bugs] [targets...]}
shift
bugs=OFF
if [[ ${1:-} == --bugs ]]; then bugs=ON; shift; fi
root=${FUZZ_BUILD_ROOT:-$PWD}
dir=$root/build-fuzz-$engine
san=${FUZZ_SANITIZE:-ON}
[[ $engine == none ]] && san=OFF
case "$engine" in
  libfuzzer|none) cc=clang; cxx=clang++ ;;
  afl) cc=afl-clang-fast; cxx=afl-clang-fast++ ;;
  *) echo "unknown engine $engine" >&2; exit 2 ;;
esac
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=$cc \
  -DCMAKE_CXX_COMPILER=$cxx -DSECDIFF_WERROR=ON -DSECDIFF_BENCH=OFF -DSECDIFF_AGENT=OFF -DSECDIFF_TESTS=${FUZZ_TESTS:-ON} \
  -DSECDIFF_FUZZ=$engine -DSECDIFF_FUZZ_SANITIZE=$san -DSECDIFF_FUZZ_SEEDED_BUGS=$bugs >/dev/null
if [[ $# -gt 0 ]]; then
  cmake --build "$dir" -j"$(nproc)" --target "$@"
else
  cmake --build "$dir" -j"$(nproc)"
fi
echo "$dir"
