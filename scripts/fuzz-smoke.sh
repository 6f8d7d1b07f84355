#!/usr/bin/env bash
# One smoke run of a fuzz target (ctest -L fuzz):
#   scripts/fuzz-smoke.sh ENGINE BINARY SEEDS SECONDS [--models M] [--expect-none | --expect SIGNATURE_PREFIX]
# Runs BINARY for SECONDS from a copy of SEEDS with findings in a temporary
# directory. --expect-none fails on any finding; --expect fails unless a
# finding whose signature starts with the prefix appears.
set -uo pipefail
engine=$1 bin=$2 seeds=$3 secs=$4
shift 4
models="" expect="" none=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --expect-none) none=1; shift ;;
    --expect) expect=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/corpus" "$tmp/findings"
cp "$seeds"/* "$tmp/corpus/" 2>/dev/null || true
export SECDIFF_FINDINGS_DIR=$tmp/findings
[[ -n $models ]] && export SECDIFF_FUZZ_MODELS=$models
found() { ls "$tmp/findings" 2>/dev/null | grep -q "^$1.*\.case$"; }
case "$engine" in
  libfuzzer)
    if [[ -n $expect ]]; then
      # stop at the expected finding
      ( "$bin" -seed=1 -max_total_time="$secs" -max_len=65536 -artifact_prefix="$tmp/findings/" "$tmp/corpus" >"$tmp/log" 2>&1 ) &
      pid=$!
      for ((i = 0; i < secs * 4; i++)); do found "$expect" && break; kill -0 $pid 2>/dev/null || break; sleep 0.25; done
      kill $pid 2>/dev/null; wait $pid 2>/dev/null
    else
      "$bin" -seed=1 -max_total_time="$secs" -max_len=65536 -artifact_prefix="$tmp/findings/" "$tmp/corpus" >"$tmp/log" 2>&1
      rc=$?
      if [[ $rc -ne 0 ]]; then tail -30 "$tmp/log"; echo "FAIL: exit $rc"; exit 1; fi
    fi ;;
  afl)
    AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_MAP_SIZE=131072 \
      AFL_FAST_CAL=1 timeout $((secs + 30)) afl-fuzz -i "$tmp/corpus" -o "$tmp/afl" -m none -V "$secs" -- "$bin" >"$tmp/log" 2>&1
    rc=$?
    if [[ $rc -ne 0 ]]; then tail -30 "$tmp/log"; echo "FAIL: afl-fuzz exit $rc"; exit 1; fi ;;
  none)
    "$bin" -max_total_time="$secs" "$tmp/corpus" >"$tmp/log" 2>&1
    rc=$?
    if [[ $rc -ne 0 ]]; then tail -30 "$tmp/log"; echo "FAIL: exit $rc"; exit 1; fi ;;
esac
tail -3 "$tmp/log"
ls "$tmp/findings" | grep '\.case$' | sed 's/^/finding: /'
if [[ $none == 1 ]] && ls "$tmp/findings" | grep -q '\.case$'; then
  for f in "$tmp"/findings/*.txt; do head -20 "$f"; done
  echo "FAIL: findings with unmodified models"; exit 1
fi
if [[ -n $expect ]] && ! found "$expect"; then echo "FAIL: no $expect finding in ${secs}s"; exit 1; fi
echo "1 passed, 0 failed"
