#!/usr/bin/env bash
# `secdiff fuzz` end to end. Needs the fuzz builds (scripts/fuzz-build.sh
# libfuzzer|afl ...; scripts/test.sh makes them) and, for vm_diff, the kernels
# (scripts/vm/kernels.sh). Parts whose builds are missing are skipped with a
# note, unless SECDIFF_FUZZ_TEST_REQUIRE=1 (test.sh sets it).
#   1. bad input: clear errors, exit 2
#   2. a model-only campaign interrupted with Ctrl-C and resumed loses nothing
#      (corpus, findings, totals)
#   3. vm_diff on the debug kernel with the right model: cases run, no mismatch
#   4. vm_diff with a wrong cache model (rfc-v1): cache-bitmap findings are
#      saved, survive an interruption, and a resumed run keeps them
#   5. AFL++: vm_diff and cache_soundness campaigns run (main + secondary)
#   6. the vm_diff target alone (its own VM, no broker) runs the seeds
set -uo pipefail
S=${SECDIFF:?set SECDIFF to the secdiff binary}
SRC=${SECDIFF_SOURCE_DIR:?set SECDIFF_SOURCE_DIR}
require=${SECDIFF_FUZZ_TEST_REQUIRE:-0}
LF=$SRC/build-fuzz-libfuzzer/fuzzers
AFL=$SRC/build-fuzz-afl/fuzzers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
skip() {
  if [[ $require == 1 ]]; then bad "$1 (missing: $2)"; else echo "skip $1 ($2)"; fi
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# --- 1. bad input
"$S" fuzz --target nope >"$tmp/o" 2>&1
rc=$?
[[ $rc == 2 ]] && grep -q "unknown target 'nope'" "$tmp/o" && ok "unknown target: exit 2, named" || { cat "$tmp/o"; bad "unknown target (rc $rc)"; }
"$S" fuzz --engine honggfuzz >"$tmp/o" 2>&1
rc=$?
[[ $rc == 2 ]] && grep -q "libfuzzer or afl" "$tmp/o" && ok "unknown engine: exit 2" || { cat "$tmp/o"; bad "unknown engine (rc $rc)"; }
"$S" fuzz --target cache_soundness --no-build --binary /bin/true --seeds "$tmp/none" --work "$tmp/w0" >"$tmp/o" 2>&1
rc=$?
[[ $rc == 2 ]] && grep -q "$tmp/none: seed directory not found" "$tmp/o" && ok "missing seed dir: exit 2, named" || { cat "$tmp/o"; bad "missing seed dir (rc $rc)"; }
mkdir -p "$tmp/w1" && echo '{"runs": ' >"$tmp/w1/stats.json"
"$S" fuzz --target cache_soundness --no-build --binary /bin/true --work "$tmp/w1" >"$tmp/o" 2>&1
rc=$?
[[ $rc == 2 ]] && grep -q "stats.json: corrupt" "$tmp/o" && ok "corrupt stats.json: exit 2, named" || { cat "$tmp/o"; bad "corrupt stats (rc $rc)"; }

# --- 2. interrupted and resumed (cache_soundness, libFuzzer, no VM)
if [[ -x $LF/fuzz_cache_soundness ]]; then
  W=$tmp/cs
  "$S" fuzz --target cache_soundness --no-build --jobs 1 --work "$W" --status-interval 2 >"$tmp/cs1" 2>&1 &
  pid=$!
  sleep 25
  kill -INT $pid
  wait $pid
  rc=$?
  (cd "$W/corpus" && ls | sort) >"$tmp/corpus1"
  n1=$(wc -l <"$tmp/corpus1")
  e1=$(json "$W/stats.json" 'd["execs"]')
  f1=$(ls "$W/findings" | grep -c '\.txt$' || true)
  if [[ $rc -le 1 && $(json "$W/stats.json" 'd["runs"]') == 1 && $n1 -gt 0 && $e1 -gt 0 ]] && grep -q "stopping (interrupted)" "$tmp/cs1"; then
    ok "Ctrl-C stops cleanly: $n1 corpus files, $e1 execs, $f1 findings kept"
  else
    tail -20 "$tmp/cs1"; bad "interrupt (rc $rc, corpus $n1, execs $e1)"
  fi
  "$S" fuzz --target cache_soundness --no-build --jobs 1 --work "$W" --time 10 --json >"$tmp/cs2" 2>"$tmp/cs2.err"
  rc=$?
  lost=$(cd "$W/corpus" && comm -23 "$tmp/corpus1" <(ls | sort) | wc -l)
  f2=$(ls "$W/findings" | grep -c '\.txt$' || true)
  runs=$(json "$W/stats.json" 'd["runs"]')
  e2=$(json "$W/stats.json" 'd["execs"]')
  if [[ $rc -le 1 && $lost == 0 && $f2 -ge $f1 && $runs == 2 && $e2 -gt $e1 ]] && grep -q "resuming run 2" "$tmp/cs2.err"; then
    ok "resumed: no corpus file lost, $f2 findings, totals $e1 -> $e2 execs over $runs runs"
  else
    cat "$tmp/cs2.err"; head -30 "$tmp/cs2"; bad "resume (rc $rc, lost $lost, findings $f1 -> $f2, runs $runs, execs $e1 -> $e2)"
  fi
  "$S" fuzz --target cache_soundness --no-build --jobs 1 --work "$W" --time 5 >"$tmp/cs3" 2>&1 &
  sleep 1
  "$S" fuzz --target cache_soundness --no-build --jobs 1 --work "$W" --time 5 >"$tmp/cs4" 2>&1
  rc=$?
  wait
  [[ $rc == 2 ]] && grep -q "another secdiff fuzz is running" "$tmp/cs4" && ok "one campaign per work directory" || { cat "$tmp/cs4"; bad "work dir lock (rc $rc)"; }
else
  skip "interrupt/resume" "$LF/fuzz_cache_soundness"
fi

# --- 3./4. vm_diff against the debug kernel
if [[ -x $LF/fuzz_vm_diff ]]; then
  W=$tmp/vm
  "$S" fuzz --no-build --jobs 2 --vms 2 --time 60 --work "$W" --json >"$tmp/vm1" 2>"$tmp/vm1.err"
  rc=$?
  cases=$(json "$tmp/vm1" 'd["run"]["vm_cases"]' 2>/dev/null || echo 0)
  mism=$(json "$tmp/vm1" 'd["run"]["vm_mismatches"]' 2>/dev/null || echo -1)
  if [[ $rc == 0 && $cases -gt 0 && $mism == 0 ]]; then
    ok "vm_diff, linux model, debug kernel: $cases kernel cases in 60 s, no mismatch"
  else
    tail -20 "$tmp/vm1.err"; cat "$tmp/vm1"; for f in "$W"/findings/*.txt; do [[ -f $f ]] && head -30 "$f"; done
    bad "vm_diff clean run (rc $rc, cases $cases, mismatches $mism)"
  fi
  W=$tmp/vmbad
  "$S" fuzz --no-build --jobs 1 --vms 1 --model rfc-v1 --work "$W" --status-interval 2 >"$tmp/vm2" 2>&1 &
  pid=$!
  for ((i = 0; i < 120; i++)); do ls "$W/findings" 2>/dev/null | grep -q '^cache-bitmap.*\.json$' && break; sleep 1; done
  kill -INT $pid
  wait $pid
  rc=$?
  ls "$W/findings" | grep '\.json$' | sort >"$tmp/vmf1"
  if [[ $rc == 1 ]] && grep -q '^cache-bitmap' "$tmp/vmf1"; then
    ok "vm_diff, wrong model rfc-v1: $(grep -c . "$tmp/vmf1") finding(s) saved, e.g. $(head -1 "$tmp/vmf1")"
  else
    tail -20 "$tmp/vm2"; bad "wrong model not detected (rc $rc)"
  fi
  "$S" fuzz --no-build --jobs 1 --vms 1 --model rfc-v1 --work "$W" --time 15 >"$tmp/vm3" 2>&1
  lost=$(ls "$W/findings" | sort | comm -23 "$tmp/vmf1" - | wc -l)
  [[ $lost == 0 ]] && grep -q "resuming run 2" "$tmp/vm3" && ok "vm_diff findings kept across runs" || { tail -20 "$tmp/vm3"; bad "vm_diff resume (lost $lost)"; }
  # --- 6. the target alone, with its own VM
  mkdir -p "$tmp/alone/findings"
  agent=$(realpath "${SECDIFF_AGENT:-$SRC/build/secdiff-agent}")
  (cd "$tmp/alone" && SECDIFF_FUZZ_KERNEL=debian SECDIFF_AGENT=$agent \
     SECDIFF_FINDINGS_DIR="$tmp/alone/findings" timeout 300 "$LF/fuzz_vm_diff" -runs=0 "$SRC/fuzzers/seeds" >"$tmp/alone/log" 2>&1)
  rc=$?
  if [[ $rc == 0 ]] && grep -q "vm_diff: kernel .* booted (debian)" "$tmp/alone/log" && [[ -z $(ls "$tmp/alone/findings") ]]; then
    ok "fuzz_vm_diff alone (own VM, Debian kernel): the seeds replay with no mismatch"
  else
    tail -20 "$tmp/alone/log"; ls "$tmp/alone/findings"; bad "fuzz_vm_diff alone (rc $rc)"
  fi
else
  skip "vm_diff campaigns" "$LF/fuzz_vm_diff"
fi

# --- 5. AFL++
if [[ -x $AFL/fuzz_vm_diff && -x $AFL/fuzz_cache_soundness ]]; then
  for t in cache_soundness vm_diff; do
    W=$tmp/afl-$t
    "$S" fuzz --engine afl --target $t --model linux --no-build --binary "$AFL/fuzz_$t" --jobs 2 --vms 1 --time 30 \
      --work "$W" --json >"$tmp/afl-$t.out" 2>"$tmp/afl-$t.err"
    rc=$?
    execs=$(json "$tmp/afl-$t.out" 'd["run"]["execs"]' 2>/dev/null || echo 0)
    if [[ $rc == 0 && $execs -gt 0 && -d $W/afl/main && -d $W/afl/secondary1 ]]; then
      ok "AFL++ $t: main + secondary, $execs execs in 30 s, no finding"
    else
      tail -20 "$tmp/afl-$t.err"; cat "$tmp/afl-$t.out"; tail -20 "$W"/logs/afl-0.log
      bad "AFL++ $t (rc $rc, execs $execs)"
    fi
  done
else
  skip "AFL++ campaigns" "$AFL/fuzz_vm_diff"
fi

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
