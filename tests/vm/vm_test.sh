#!/usr/bin/env bash
# End-to-end tests of `secdiff diff`.
#
#   vm_test.sh fake             the CLI against tests/vm/fake_agent (no QEMU, no kernel): exit
#                               codes, JSON, findings, bad input, infrastructure failure
#   vm_test.sh battery-debian   the battery on Debian's cloud kernel: no mismatch
#   vm_test.sh battery-debug    the battery on the SECCOMP_CACHE_DEBUG kernel: no mismatch,
#                               cache bitmaps compared
#   vm_test.sh model-mismatch   debug kernel, --model rfc-v1: cache-bitmap mismatches only
#   vm_test.sh jit-both         debug kernel, --jit both: no mismatch, no JIT self-difference
#   vm_test.sh faults           QEMU killed mid-batch, guest panic, garbage on the channel, a
#                               hung guest, a syscall that blocks: the runner recovers, no
#                               result is lost, no mismatch
#
# Environment: SECDIFF (the secdiff binary), SECDIFF_AGENT (secdiff-agent) or FAKE_AGENT
# (fake_agent), SECDIFF_SOURCE_DIR. Prints "N passed, M failed" at the end.
set -uo pipefail

mode="${1:?usage: vm_test.sh fake|battery-debian|battery-debug|model-mismatch|jit-both|faults}"
root="${SECDIFF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
export SECDIFF_SOURCE_DIR="$root"
secdiff="${SECDIFF:?set SECDIFF to the secdiff binary}"
cases="$root/tests/vm/cases"
faults="$root/tests/vm/faults"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# json FILE EXPR: evaluates a Python expression over the JSON document `j`.
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# expect NAME PYEXPR MESSAGE: ok if the expression over $tmp/NAME.json is true.
expect() {
  if [ "$(json "$tmp/$1.json" "$2" 2>&1)" = True ]; then ok "$1: $3"; else bad "$1: $3 ($2 is not true)"; fi
}

# run NAME EXPECTED_RC ARGS...: runs secdiff diff --json, keeps stdout in $tmp/NAME.json.
run() {
  local name="$1" want="$2"
  shift 2
  local t0=$SECONDS
  "$secdiff" diff --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    bad "$name: exit status $rc, expected $want"
    sed -n '1,200p' "$tmp/$name.err" | grep -v '^initramfs:' | head -40
    python3 - "$tmp/$name.json" <<'EOF' 2>/dev/null | head -150
import json, sys
j = json.load(open(sys.argv[1]))
print({k: j[k] for k in ("cases", "executions", "mismatches", "by_property", "vm") if k in j})
for m in j.get("mismatch_list", [])[:5]:
    print(m["report"])
EOF
    return 1
  fi
  echo "   ($name: $((SECONDS - t0)) s)"
  return 0
}

# no_loss NAME: every case ran (executions == cases x runs per case), nothing crashed.
no_loss() {
  local name="$1" per="${2:-1}"
  local c e k
  c=$(json "$tmp/$name.json" 'j["cases"]')
  e=$(json "$tmp/$name.json" 'j["executions"]')
  k=$(json "$tmp/$name.json" 'j["crashed_cases"]')
  if [ "$e" -eq $((c * per)) ] && [ "$k" -eq 0 ]; then
    ok "$name: all $c cases ran ($e runs), none lost"
  else
    bad "$name: $e runs of $c cases ($per each expected), $k crashed"
  fi
}

case "$mode" in
fake)
  fake="${FAKE_AGENT:?set FAKE_AGENT}"
  : >"$tmp/kernel"
  : >"$tmp/initrd"
  vm=(--kernel "$tmp/kernel" --initrd "$tmp/initrd" --qemu "$fake")
  if run fake-vm 0 "$cases" "${vm[@]}" --jobs 2 --jit both; then
    no_loss fake-vm 2
    expect fake-vm 'j["mismatches"] == 0 and j["cache_compared"]' "no mismatch, bitmaps compared"
  fi
  if run fake-host 0 "$cases" --backend host --agent "$fake" --jobs 2; then
    no_loss fake-host
    expect fake-host 'j["backend"] == "host"' "host backend"
  fi
  if run fake-rfc 1 "$cases" "${vm[@]}" --model rfc-v1 --findings "$tmp/findings"; then
    expect fake-rfc 'j["by_property"]["cache-bitmap"] > 0 and j["mismatches"] == j["by_property"]["cache-bitmap"]' \
      "--model rfc-v1 gives cache-bitmap mismatches only"
    n_json=$(ls "$tmp/findings"/*.json 2>/dev/null | wc -l)
    n_txt=$(ls "$tmp/findings"/*.txt 2>/dev/null | wc -l)
    n_new=$(json "$tmp/fake-rfc.json" 'j["findings"]["new"]')
    if [ "$n_json" -ge 1 ] && [ "$n_json" = "$n_txt" ] && [ "$n_json" = "$n_new" ]; then
      ok "fake-rfc: $n_json findings saved (case + report each)"
    else
      bad "fake-rfc: findings: $n_json json, $n_txt txt, $n_new new"
    fi
    # A saved finding is a valid case file that reproduces the mismatch.
    first=$(ls "$tmp/findings"/*.json | head -1)
    run fake-rerun 1 "$first" "${vm[@]}" --model rfc-v1 --findings "$tmp/findings" &&
      expect fake-rerun 'j["mismatches"] > 0 and j["findings"]["new"] == 0' "a finding reproduces and is not saved twice"
  fi
  # Text output: summary table and reports.
  "$secdiff" diff "$cases/cache-stacked.json" "${vm[@]}" --model rfc-v1 >"$tmp/text.out" 2>&1
  if [ $? -eq 1 ] && grep -q '^cache-bitmap' "$tmp/text.out" && grep -q '^MISMATCH cache-bitmap' "$tmp/text.out" &&
     grep -q '^cases/s' "$tmp/text.out" && grep -q 'oracle profile 6.1' "$tmp/text.out"; then
    ok "text output: summary table and mismatch reports"
  else
    bad "text output"; head -40 "$tmp/text.out"
  fi
  # Bad input: exit 2 with file:line.
  "$secdiff" diff "$faults/bad-syntax.json" "${vm[@]}" >"$tmp/bad.out" 2>&1
  rc=$?
  if [ $rc -eq 2 ] && grep -q 'bad-syntax.json:7: ' "$tmp/bad.out"; then ok "bad case file: exit 2 with file:line"
  else bad "bad case file: rc $rc: $(cat "$tmp/bad.out")"; fi
  "$secdiff" diff "$tmp/nonexistent.json" "${vm[@]}" >/dev/null 2>&1
  [ $? -eq 2 ] && ok "missing case file: exit 2" || bad "missing case file"
  "$secdiff" diff "$cases" "${vm[@]}" --jit sometimes >/dev/null 2>&1
  [ $? -eq 2 ] && ok "bad --jit: exit 2" || bad "bad --jit"
  # Infrastructure failure: agents that never say Hello.
  FAKE_AGENT_NO_HELLO=1 "$secdiff" diff "$cases/log.json" "${vm[@]}" --jobs 1 --boot-timeout-ms 300 >"$tmp/infra.out" 2>&1
  rc=$?
  if [ $rc -eq 2 ] && grep -q 'infrastructure failure' "$tmp/infra.out"; then ok "agents that do not boot: exit 2"
  else bad "agents that do not boot: rc $rc: $(head -5 "$tmp/infra.out")"; fi
  ;;

battery-debian | battery-debug)
  k="${mode#battery-}"
  if run "$mode" 0 "$cases" --kernel "$k"; then
    no_loss "$mode"
    expect "$mode" 'j["mismatches"] == 0' \
      "$(json "$tmp/$mode.json" 'j["cases"]') cases, $(json "$tmp/$mode.json" 'j["inputs"]') inputs, no mismatch on $(json "$tmp/$mode.json" 'j["kernel"]["release"]') ($(json "$tmp/$mode.json" 'round(j["cases_per_second"],1)') cases/s)"
    [ "$k" = debug ] && expect "$mode" 'j["cache_compared"]' "cache bitmaps compared"
  fi
  ;;

model-mismatch)
  run model-mismatch 1 "$cases" --kernel debug --model rfc-v1 --findings "$tmp/findings" &&
    expect model-mismatch 'j["by_property"]["cache-bitmap"] > 0 and j["mismatches"] == j["by_property"]["cache-bitmap"]' \
      "rfc-v1 against the kernel's linux cache: cache-bitmap mismatches, nothing else"
  ;;

jit-both)
  if run jit-both 0 "$cases" --kernel debug --jit both; then
    no_loss jit-both 2
    expect jit-both 'j["mismatches"] == 0' "JIT on and off agree with the oracle and with each other"
  fi
  ;;

faults)
  k="${SECDIFF_FAULT_KERNEL:-debian}"
  for f in kill@1 panic@1 garbage@1 hang@1; do
    name="fault-${f%@*}"
    if run "$name" 0 "$cases" --kernel "$k" --jobs 1 --batch 8 --inject-fault "$f" --batch-timeout-ms 8000; then
      no_loss "$name"
      expect "$name" 'j["vm"]["restarts"] >= 1 and j["vm"]["retried_batches"] >= 1 and j["mismatches"] == 0' \
        "the VM was restarted, the batch retried, no mismatch"
    fi
  done
  [ -s "$tmp/fault-panic.json" ] && expect fault-panic 'j["vm"]["failures"]["panic"] >= 1' "seen as a kernel panic"
  [ -s "$tmp/fault-hang.json" ] && expect fault-hang 'j["vm"]["failures"]["hang"] >= 1' "seen as a hang"
  [ -s "$tmp/fault-garbage.json" ] && expect fault-garbage 'j["vm"]["failures"]["protocol"] >= 1' "seen as a protocol error"
  [ -s "$tmp/fault-kill.json" ] && expect fault-kill 'j["vm"]["failures"]["exited"] >= 1' "seen as QEMU exiting"
  if run hang-syscall 0 "$faults/hang-syscall.json" --kernel "$k" --jobs 1 --syscall-timeout-ms 500; then
    no_loss hang-syscall
    expect hang-syscall 'j["mismatches"] == 0' "a blocking syscall is reported blocked, the case goes on"
  fi
  ;;

*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
