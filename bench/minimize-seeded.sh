#!/usr/bin/env bash
# Minimizes the seeded-bug findings of tests/data/seeded-bugs (what the
# cache_soundness fuzzer saved for each bug of oracle/cache/linux.cc and for the
# RFC flaw of model rfc-v1) with the model-only predicates, and prints the
# table of docs/minimize.md: bug, what, signature, start size, minimized size
# (largest filter), time, candidates tested. Uses the drivers the tests build
# (tests/seeded/minimize_seeded_main.cc: minimize_seeded_bug<N>, minimize_seeded).
#
#   bench/minimize-seeded.sh [--build DIR] [--cases DIR] [--out DIR] [--runs N] [--bugs "1 .. 11 rfc"]
#
# --build: a build with SECDIFF_TESTS=ON (default: build); the drivers are
# built there if missing. --runs: repetitions per bug, the time column is their
# median. Exit 1 if any driver's checks fail (<= 6 insns per filter, <= 60 s,
# signature kept, no mismatch under the unmodified model).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build cases=$here/tests/data/seeded-bugs out=${TMPDIR:-/tmp}/secdiff-minimize-seeded runs=1
bugs="1 2 3 4 5 6 7 8 9 10 11 rfc"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --bugs) bugs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
t=$build/tests
targets=()
for b in $bugs; do
  [[ $b == rfc ]] && targets+=(minimize_seeded) || targets+=(minimize_seeded_bug$b)
done
targets+=(minimize_seeded)
missing=()
for x in "${targets[@]}"; do [[ -x $t/$x ]] || missing+=("$x"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  cmake --build "$build" --target "${missing[@]}" >/dev/null || { echo "building ${missing[*]} failed" >&2; exit 2; }
fi
mkdir -p "$out"
fails=0
rows=()
for b in $bugs; do
  if [[ $b == rfc ]]; then
    cmd=("$t/minimize_seeded" "$cases/rfc-v1.case" --model rfc-v1 --clean-model rfc-v1-fixed)
  else
    cmd=("$t/minimize_seeded_bug$b" "$cases/bug$b.case" --model linux --clean-exe "$t/minimize_seeded")
  fi
  times=()
  row=""
  for ((r = 1; r <= runs; r++)); do
    log=$out/$b-$r.log
    if ! "${cmd[@]}" --row -o "$out/$b.min" >"$log" 2>&1; then
      echo "bug $b run $r: FAILED (see $log)" >&2
      grep -E '^FAIL' "$log" >&2
      fails=$((fails + 1))
    fi
    row=$(sed -n 's/^ROW //p' "$log")
    [[ -n $row ]] && times+=("$(echo "$row" | awk -F'|' '{gsub(/ /, "", $7); print $7}')")
  done
  if [[ -z $row ]]; then rows+=("| $b | (no result, see $out/$b-1.log) | | | | | |"); continue; fi
  med=$(printf "%s\n" "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  # the row with the median time
  rows+=("$(echo "$row" | awk -F'|' -v m="$med" 'BEGIN {OFS="|"} {$7=" " m " "; print}')")
done
echo
echo "| bug | what | signature | start: filters / insns / inputs | minimized (largest filter) | time (s) | candidates |"
echo "|---|---|---|---|---|---:|---:|"
printf "%s\n" "${rows[@]}"
echo
echo "runs per bug: $runs (time: median); logs and minimized cases: $out"
[[ $fails -eq 0 ]]
