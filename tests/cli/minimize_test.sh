#!/usr/bin/env bash
# secdiff minimize / repro end to end:
#  - a planted model-only mismatch (rfc-v1 with its prev==NULL flaw caches an
#    args-dependent ALLOW: the older filter reads args[0] for getppid, the newer
#    one does not read args) in a 37-instruction chain minimizes to <= 6
#    instructions per filter within 60 s, keeping its signature;
#  - the emitted C reproducer compiles (cc -static when possible) and runs;
#  - a fuzzer's finding (the compact .case the cache_soundness fuzzer saved,
#    tests/data/seeded-bugs/rfc-v1.case) minimizes directly, its property and
#    model taken from the finding's file name; a seeded linux bug's finding
#    shows no mismatch under the unmodified linux model (exit 1);
#  - when the VM kernels exist (scripts/vm/kernels.sh all), `secdiff repro
#    --model rfc-v1 --kernel debug` reports the cache-bitmap mismatch (exit 0),
#    and --bisect inverts that (exit 1).
set -uo pipefail
S=${SECDIFF:?path to secdiff}
SRC=${SECDIFF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0 passes=0
ok()  { passes=$((passes+1)); }
bad() { echo "FAIL: $*"; fails=$((fails+1)); }

cat > "$T/planted.json" <<'JSON'
{
  "secdiff_case": 1,
  "name": "planted-rfc",
  "task": {"no_new_privs": true, "tracer": false, "other_threads": false},
  "filters": [
    {"bpf_asm": [
      "ld [4]", "jne #0xc000003e, kill",
      "ld [0]",
      "jeq #0, allow", "jeq #317, allow", "jeq #1, allow", "jeq #3, allow", "jeq #9, allow",
      "jeq #12, allow", "jeq #39, allow", "jeq #60, allow", "jeq #231, allow",
      "jeq #110, ppid",
      "jeq #102, uid",
      "ret #ERRNO(38)",
      "ppid: ld [16]", "and #0xff", "jeq #0, allow, deny",
      "uid: ld [24]", "jgt #0x1000, deny, allow",
      "deny: ret #ERRNO(1)",
      "allow: ret #ALLOW",
      "kill: ret #KILL_PROCESS"
    ]},
    {"bpf_asm": [
      "ld [4]", "jne #0xc000003e, kill",
      "ld [0]",
      "jge #400, enosys",
      "jeq #2, eacces", "jeq #59, eacces", "jeq #57, eacces", "jeq #101, eacces",
      "jeq #165, eacces", "jeq #169, eacces",
      "ret #ALLOW",
      "eacces: ret #ERRNO(13)",
      "enosys: ret #ERRNO(38)",
      "kill: ret #KILL_PROCESS"
    ]}
  ],
  "inputs": [
    {"arch": "x86_64", "nr": "getpid"},
    {"arch": "x86_64", "nr": "getppid", "args": [0, 5, 7]},
    {"arch": "x86_64", "nr": "getuid"},
    {"arch": "x86_64", "nr": "getppid", "args": ["0x1201", 9], "ip": "0x7f0000001000"},
    {"arch": "x86_64", "nr": "getpid", "args": [3]}
  ]
}
JSON

# 1. model-only minimization
t0=$(date +%s.%N)
"$S" minimize "$T/planted.json" -o "$T/min" >"$T/out" 2>"$T/err"; rc=$?
t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc)
echo "minimize (model-only, rfc-v1): ${secs} s wall"; cat "$T/out"
[ "$rc" -eq 0 ] && ok || bad "minimize exit $rc: $(head -c 400 "$T/err")"
grep -q '^signature: cache-sequence: cached ALLOW, chain ERRNO (model-only, model rfc-v1)' "$T/out" && ok \
  || bad "signature line"
[ "$(echo "$secs < 60" | bc)" = 1 ] && ok || bad "minimize took $secs s"
grep -q '^before: 2 filters, 37 insns, 5 inputs' "$T/out" && ok || bad "before size"
n=$(grep -cE '^  filter [0-9]+: ' "$T/out")
[ "$n" -ge 1 ] && ok || bad "no per-filter sizes"
while read -r _ f k _; do
  [ "$k" -le 6 ] && ok || bad "filter $f has $k insns (> 6)"
done < <(grep -E '^  filter [0-9]+: ' "$T/out")
grep -q 'minimize: step' "$T/err" && ok || bad "no progress on stderr"
for f in "$T/min.case.json" "$T/min.bpf_asm" "$T/min.c"; do [ -s "$f" ] && ok || bad "$f missing"; done
grep -q 'ld \[16\]' "$T/min.bpf_asm" && ok || bad "minimized chain lost the args[0] read"

# The minimized case keeps exactly that signature, and is a fixpoint (small).
"$S" minimize "$T/min.case.json" --model rfc-v1 --property cache-sequence --kind 'cached ALLOW, chain ERRNO' \
  -o "$T/min2" >"$T/out2" 2>/dev/null && ok || bad "minimized case lost its signature"
grep -q '^before: 2 filters' "$T/out2" && ok || bad "re-minimize output"
# No mismatch -> 1; bad input -> 2.
"$S" minimize "$T/planted.json" --model rfc-v1-fixed -o "$T/fixed" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 1 ] && ok || bad "rfc-v1-fixed: exit $rc (want 1, no mismatch)"
echo '{' > "$T/broken.json"
"$S" minimize "$T/broken.json" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] && ok || bad "broken case: exit $rc (want 2)"
"$S" minimize "$T/planted.json" --property action >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] && ok || bad "runner property without --backend: exit $rc (want 2)"

# 2. the C reproducer compiles (and runs: getppid under ALLOW/ERRNO(0) filters)
CC=${CC:-cc}
if command -v "$CC" >/dev/null; then
  if "$CC" -static -O1 -o "$T/repro" "$T/min.c" 2>"$T/ccerr" || "$CC" -O1 -o "$T/repro" "$T/min.c" 2>>"$T/ccerr"; then
    ok
    "$T/repro" >"$T/rout" 2>&1 && ok || bad "reproducer exit status"
    grep -q '^install 1 (filter 1, flags 0x0): seccomp() = 0' "$T/rout" && ok || bad "reproducer install line: $(cat "$T/rout")"
    grep -q '^input 1: x86_64 nr 110 (getppid)' "$T/rout" && ok || bad "reproducer input line"
  else
    bad "reproducer does not compile: $(head -c 600 "$T/ccerr")"
  fi
else
  echo "SKIP: no C compiler"
fi

# 3. fuzzer findings, as saved (<property>.<model>.<kind>.case, compact encoding)
SEEDED=$SRC/tests/data/seeded-bugs
if [ -f "$SEEDED/rfc-v1.case" ]; then
  cp "$SEEDED/rfc-v1.case" "$T/cache-sequence.rfc-v1.cached-action-differs.case"
  "$S" minimize "$T/cache-sequence.rfc-v1.cached-action-differs.case" -q -o "$T/fmin" >"$T/fout" 2>"$T/ferr"; rc=$?
  cat "$T/fout"
  [ "$rc" -eq 0 ] && ok || bad "fuzzer finding: minimize exit $rc: $(head -c 400 "$T/ferr")"
  grep -q '^fuzzer finding: property cache-sequence, model rfc-v1' "$T/fout" && ok || bad "finding's name not used"
  grep -q '^signature: cache-sequence: cached ALLOW, chain ERRNO (model-only, model rfc-v1)' "$T/fout" && ok \
    || bad "fuzzer finding: signature line"
  while read -r _ f k _; do
    [ "$k" -le 6 ] && ok || bad "fuzzer finding: filter $f has $k insns (> 6)"
  done < <(grep -E '^  filter [0-9]+: ' "$T/fout")
  cp "$SEEDED/bug1.case" "$T/cache-soundness.linux.bit-not-const-allow.case"
  "$S" minimize "$T/cache-soundness.linux.bit-not-const-allow.case" -q -o "$T/fmin1" >/dev/null 2>&1; rc=$?
  [ "$rc" -eq 1 ] && ok || bad "seeded bug 1's finding under the unmodified linux model: exit $rc (want 1)"
else
  bad "$SEEDED/rfc-v1.case missing"
fi

# 4. repro on the debug kernel (skipped without kernels / agent / qemu)
agent="$(dirname "$S")/secdiff-agent"
if [ -x "$agent" ] && command -v qemu-system-x86_64 >/dev/null \
   && timeout 60 bash "$SRC/scripts/vm/kernels.sh" all >"$T/kernels" 2>/dev/null && grep -q '^debug ' "$T/kernels"; then
  t0=$(date +%s.%N)
  timeout 600 "$S" repro "$T/min.case.json" --model rfc-v1 --kernel debug >"$T/vout" 2>"$T/verr"; rc=$?
  t1=$(date +%s.%N)
  echo "repro on the debug kernel: $(echo "$t1 - $t0" | bc) s wall (exit $rc)"
  [ "$rc" -eq 0 ] && ok || bad "repro exit $rc (want 0): $(tail -c 600 "$T/verr") $(tail -c 600 "$T/vout")"
  grep -q '^mismatch cache-bitmap: x86_64 kernel FILTER, model ALLOW' "$T/vout" && ok || bad "no cache-bitmap mismatch"
  grep -q 'oracle trace:' "$T/vout" && grep -q 'kernel: ' "$T/vout" && ok || bad "no per-input listing"
  grep -q '^REPRODUCES' "$T/vout" && ok || bad "no REPRODUCES line"
  timeout 600 "$S" repro "$T/min.case.json" --model rfc-v1 --kernel debug --bisect -q >/dev/null 2>&1; rc=$?
  [ "$rc" -eq 1 ] && ok || bad "repro --bisect exit $rc (want 1: bad)"
  timeout 600 "$S" repro "$T/min.case.json" --model linux --kernel debug -q >/dev/null 2>&1; rc=$?
  [ "$rc" -eq 1 ] && ok || bad "repro with the linux model exit $rc (want 1: does not reproduce)"
  # VM-backed minimization of the same mismatch (runner predicate, batched)
  t0=$(date +%s.%N)
  timeout 900 "$S" minimize "$T/planted.json" --backend vm --kernel debug --model rfc-v1 \
    --property cache-bitmap --kind 'x86_64 kernel FILTER, model ALLOW' -o "$T/vmin" >"$T/vmout" 2>"$T/vmerr"; rc=$?
  t1=$(date +%s.%N)
  echo "minimize (VM, debug kernel): $(echo "$t1 - $t0" | bc) s wall (exit $rc)"; cat "$T/vmout"
  [ "$rc" -eq 0 ] && ok || bad "VM minimize exit $rc: $(tail -c 600 "$T/vmerr")"
else
  echo "SKIP: VM part (no secdiff-agent next to secdiff, no qemu, or no kernels from scripts/vm/kernels.sh)"
fi

echo "minimize_test: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
