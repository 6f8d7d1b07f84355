#!/usr/bin/env bash
# Throughput of the real-kernel backend (`secdiff diff` on QEMU/TCG), as a table:
# cases/s with one VM and with one single-vCPU VM per core, for single-input and
# 8-input cases, and the time from QEMU start to Hello and to the first answered batch.
#
# Usage: bench/bench_vm.sh [BUILD_DIR] [N_CASES]      (default: build, 300)
# Env:   KERNELS="debian debug" (names or kernel image paths), JIT=on|off
# Needs: secdiff and secdiff-agent in BUILD_DIR, qemu-system-x86_64, the kernels
#        (scripts/vm/kernels.sh fetches/builds them on first use).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
n="${2:-300}"
secdiff="$build/secdiff"
[ -x "$secdiff" ] || { echo "bench_vm: $secdiff not found (build first)" >&2; exit 2; }
export SECDIFF_SOURCE_DIR="$root"
kernels="${KERNELS:-debian debug}"
jit="${JIT:-on}"
cores="$(nproc)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Cases: a 20-instruction filter (arch check, 12 compares, getppid -> ERRNO(42)), like
# docs/vm-facts' microbenchmark; 1 input (getppid) or 8 (getppid, getpid, getuid, ...).
python3 - "$tmp" "$n" <<'EOF'
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
asm = ["ld [4]", "jne #AUDIT_ARCH_X86_64, kill", "ld [0]"]
for k in range(12):
    asm.append("jeq #%d, allow" % (200 + k))
asm += ["jeq #__NR_getppid, deny", "ret #ALLOW", "allow: ret #ALLOW", "deny: ret #ERRNO(42)", "kill: ret #KILL_PROCESS"]
one = [{"nr": "getppid"}]
eight = [{"nr": x} for x in ["getppid", "getpid", "getuid", "geteuid", "getgid", "getegid", "gettid", "getppid"]]
for name, inputs in (("single", one), ("eight", eight)):
    d = os.path.join(out, name)
    os.makedirs(d)
    for i in range(n):
        # Vary the data so no two cases are identical.
        a = list(asm)
        a[-2] = "deny: ret #ERRNO(%d)" % (1 + i % 4000)
        json.dump({"secdiff_case": 1, "name": "%s-%d" % (name, i), "filters": [{"bpf_asm": a}], "inputs": inputs},
                  open(os.path.join(d, "c%05d.json" % i), "w"))
EOF

field() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

printf '%-8s %-7s %-6s %6s %8s %10s %10s %9s %9s\n' kernel inputs VMs cases "time(s)" "cases/s" "excl.boot" "boot(s)" "1st(s)"
for k in $kernels; do
  for shape in single eight; do
    label="$k"
    case "$k" in */*) label="$(basename "$(dirname "$k")" | cut -c1-8)" ;; esac
    for jobs in 1 "$cores"; do
      out="$tmp/$label-$shape-$jobs.json"
      if ! "$secdiff" diff "$tmp/$shape" --kernel "$k" --jobs "$jobs" --jit "$jit" --json -q >"$out" 2>"$tmp/err"; then
        if [ "$(field "$out" 'j.get("mismatches", -1)' 2>/dev/null)" = "-1" ]; then
          echo "bench_vm: secdiff diff failed for $k $shape $jobs:" >&2
          grep -v '^initramfs' "$tmp/err" | head -5 >&2
          continue
        fi
      fi
      ins=$([ "$shape" = single ] && echo 1 || echo 8)
      printf '%-8s %-7s %-6s %6s %8.2f %10.1f %10.1f %9.2f %9.2f\n' "$label" "$ins" "$jobs" \
        "$(field "$out" 'j["executions"]')" "$(field "$out" 'j["seconds"]')" \
        "$(field "$out" 'j["cases_per_second"]')" \
        "$(field "$out" 'j["executions"] / max(1e-9, j["seconds"] - j["vm"]["first_boot_seconds"])')" \
        "$(field "$out" 'j["vm"]["first_boot_seconds"]')" "$(field "$out" 'j["vm"]["first_case_seconds"]')"
    done
  done
done
echo "(cases/s: all case runs over the whole wall time, boot included; excl.boot: over the time after the"
echo " first VM said Hello; boot: QEMU start -> agent Hello; 1st: start -> first batch answered. jit=$jit)"
