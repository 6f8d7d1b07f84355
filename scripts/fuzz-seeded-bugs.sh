#!/usr/bin/env bash
# Seeded-bug benchmark (docs/fuzzing.md): time-to-detect of each planted bug of
# the linux cache model (oracle/cache/linux.cc, SECDIFF_LINUX_BUG=1..11), of
# the RFC's prev == NULL flaw (model rfc-v1), and a run of the unmodified
# models (linux + rfc-v1-fixed) that must find nothing, for three engines:
#   lf     libFuzzer with the structure-aware mutator (fuzz_cache_soundness_bugN)
#   afl    AFL++ with the custom mutator library (AFL_CUSTOM_MUTATOR_ONLY=1)
#   bytes  libFuzzer without it: the byte-level baseline (fuzz_cache_soundness_bytes_bugN)
# Each run: one process (one core), from a copy of the seed corpus, -seed=run,
# until the first finding of the expected property or the cap.
#
#   scripts/fuzz-seeded-bugs.sh [--runs 3] [--cap 60] [--baseline-cap 60] [--jobs 1]
#       [--bugs "1 2 ... 11 rfc none"] [--engines "lf afl bytes"] [--seeds DIR] [--out DIR] [--report]
#
# Needs the builds of scripts/fuzz-build.sh: libfuzzer --bugs, afl --bugs, none
# (for libsecdiff_afl_mutator.so). FUZZ_BUILD_ROOT as there.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=${FUZZ_BUILD_ROOT:-$here}
runs=3 cap=60 bcap=60 jobs=1 out=/tmp/secdiff-seeded-bugs
bugs="1 2 3 4 5 6 7 8 9 10 11 rfc none"
engines="lf afl bytes"
seeds=$here/fuzzers/seeds
report_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --cap) cap=$2; shift 2 ;;
    --baseline-cap) bcap=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --bugs) bugs=$2; shift 2 ;;
    --engines) engines=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --report) report_only=1; shift ;;  # only print the table of an earlier --out
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
lf=$root/build-fuzz-libfuzzer/fuzzers
afl=$root/build-fuzz-afl/fuzzers
mut=$root/build-fuzz-none/fuzzers/libsecdiff_afl_mutator.so
mkdir -p "$out"

declare -A desc=(
  [1]="JSET handled as JEQ" [2]="JGE evaluated as JGT" [3]="compat bitmap built with the native arch"
  [4]="no AND with the previous filter" [5]="argument load taken as the syscall number"
  [6]="no upper range check on nr in lookup" [7]="RET K judged with the legacy 0x7fff0000 mask"
  [8]="jf edge of a conditional jump dropped" [9]="AND K ignored" [10]="JA offset off by one"
  [11]="uprobe exception on the compat arch too" [rfc]="RFC v1 prev == NULL (model rfc-v1)"
  [none]="unmodified: linux + rfc-v1-fixed")

binary() {  # engine bug
  local e=$1 b=$2
  case "$e" in
    lf) [[ $b =~ ^[0-9]+$ ]] && echo "$lf/fuzz_cache_soundness_bug$b" || echo "$lf/fuzz_cache_soundness" ;;
    bytes) [[ $b =~ ^[0-9]+$ ]] && echo "$lf/fuzz_cache_soundness_bytes_bug$b" || echo "$lf/fuzz_cache_soundness_bytes" ;;
    afl) [[ $b =~ ^[0-9]+$ ]] && echo "$afl/fuzz_cache_soundness_bug$b" || echo "$afl/fuzz_cache_soundness" ;;
  esac
}

# one run: prints seconds to the first finding, or "timeout"
one() {  # engine bug run
  local e=$1 b=$2 r=$3 c=$cap
  [[ $e == bytes ]] && c=$bcap
  local d=$out/$b-$e-$r
  rm -rf "$d"; mkdir -p "$d/corpus" "$d/findings"
  cp "$seeds"/*.case "$d/corpus/"
  local models=linux expect=cache-soundness.linux
  [[ $b == rfc ]] && models=rfc-v1 expect=cache-sequence.rfc-v1
  [[ $b == none ]] && models=linux,rfc-v1-fixed expect=""
  local bin; bin=$(binary "$e" "$b")
  local start; start=$(date +%s.%N)
  (
    export SECDIFF_FINDINGS_DIR=$d/findings SECDIFF_FUZZ_MODELS=$models SECDIFF_FUZZ_ABORT=1
    if [[ $e == afl ]]; then
      export AFL_CUSTOM_MUTATOR_LIBRARY=$mut AFL_CUSTOM_MUTATOR_ONLY=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 \
        AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_FAST_CAL=1 AFL_SKIP_CRASHES=1 \
        AFL_MAP_SIZE=131072
      exec afl-fuzz -i "$d/corpus" -o "$d/afl" -m none -t 5000 -s "$r" -V "$c" -- "$bin"
    else
      exec "$bin" -seed="$r" -max_total_time="$c" -max_len=65536 -timeout=10 \
        -artifact_prefix="$d/findings/" "$d/corpus"
    fi
  ) >"$d/log" 2>&1 &
  local pid=$! t=""
  while :; do
    local now; now=$(date +%s.%N)
    local el; el=$(echo "$now - $start" | bc)
    if ls "$d/findings" 2>/dev/null | grep -q '\.case$'; then
      if [[ -z $expect ]] || ls "$d/findings" | grep -q "^$expect.*\.case$"; then t=$el; break; fi
    fi
    if (( $(echo "$el > $c + 5" | bc) )) || ! kill -0 $pid 2>/dev/null; then break; fi
    sleep 0.2
  done
  kill $pid 2>/dev/null  # afl-fuzz stops its fork server on SIGTERM
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 $pid 2>/dev/null || break; sleep 0.2; done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if [[ -z $t ]] && ls "$d/findings" 2>/dev/null | grep -q "^${expect:-NONE}.*\.case$"; then
    t=$(echo "$(date +%s.%N) - $start" | bc)
  fi
  if [[ -n $expect && -n $t ]]; then printf "%.1f\n" "$t"
  elif [[ -z $expect ]]; then ls "$d/findings" | grep -q '\.case$' && echo "FOUND" || echo "clean"
  else echo "timeout"; fi
}

results=$out/results.tsv
if [[ $report_only == 0 ]]; then
: >"$results"
cells=()
for b in $bugs; do for e in $engines; do for ((r = 1; r <= runs; r++)); do cells+=("$e $b $r"); done; done; done
running=0
for cell in "${cells[@]}"; do
  set -- $cell
  ( res=$(one "$1" "$2" "$3"); printf "%s\t%s\t%s\t%s\n" "$2" "$1" "$3" "$res" >>"$results"; echo "bug $2 engine $1 run $3: $res" >&2 ) &
  running=$((running + 1))
  if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
done
wait
fi

median() {  # values (numbers or timeout) -> median, timeouts count as +inf
  printf "%s\n" "$@" | sed 's/timeout/inf/' | sort -g | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; if (m=="inf") print "timeout"; else printf "%.1f\n", m}'
}
echo
echo "| bug | what | libFuzzer + mutator (s) | AFL++ + mutator (s) | libFuzzer bytes (s) |"
echo "|---|---|---|---|---|"
for b in $bugs; do
  row="| $b | ${desc[$b]} |"
  for e in lf afl bytes; do
    vals=$(awk -F'\t' -v b="$b" -v e="$e" '$1==b && $2==e {print $4}' "$results" | tr '\n' ' ')
    if [[ -z $vals ]]; then row+=" – |"; continue; fi
    if [[ $b == none ]]; then row+=" ${vals% } |"; continue; fi
    row+=" **$(median $vals)** (${vals% }) |"
  done
  echo "$row"
done
echo
echo "caps: ${cap}s (structure-aware), ${bcap}s (bytes); runs per cell: $runs; jobs: $jobs; results: $results"
