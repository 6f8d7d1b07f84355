#!/usr/bin/env bash
# Throughput of the real-kernel backend (`secdiff diff` on QEMU/TCG), as a table: cases/s
# with one VM and with one single-vCPU VM per core, for single-input and 8-input cases,
# the time from QEMU start to Hello and to the first answered batch, and the same-run
# anchor: the bare in-guest loop of docs/vm-facts.md (a new thread sets no_new_privs,
# installs the 20-instruction filter on itself, calls getppid; the main thread joins it),
# run by the same agent binary as PID 1 (`secdiff-agent --anchor=N`) in as many VMs at
# once as the measurement it is compared with, right before it.
#
# Usage: bench/bench_vm.sh [BUILD_DIR] [N_CASES]      (default: build, 3000)
# Env:   KERNELS="debian debug" (names or kernel image paths), JIT=on|off (default on),
#        JOBS="1 $(nproc)", ANCHOR_N=3000, SHAPES="single eight", REPEAT=1 (runs per cell),
#        ANCHOR_AGENT=PATH (the agent that runs the anchor loop; default BUILD_DIR's: lets an
#        older build, whose agent has no --anchor, be measured against the same anchor)
# Needs: secdiff and secdiff-agent in BUILD_DIR, qemu-system-x86_64, the kernels
#        (scripts/vm/kernels.sh fetches/builds them on first use).
#
# Columns: load = 1-minute load average before the run (the box is shared); cases/s =
# all cases over the whole wall time, boot included; steady = cases after the first
# answered batch over the time after it (every VM boots at once, so this is the rate with
# all of them up); anchor = the bare loop's rate summed over the VMs; ratio = steady /
# anchor; hello = QEMU start -> agent Hello; 1st = Pool start -> first batch answered.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
n="${2:-3000}"
secdiff="$build/secdiff"
agent="$build/secdiff-agent"
[ -x "$secdiff" ] || { echo "bench_vm: $secdiff not found (build first)" >&2; exit 2; }
[ -x "$agent" ] || { echo "bench_vm: $agent not found (build the secdiff-agent target)" >&2; exit 2; }
anchor_agent="${ANCHOR_AGENT:-$agent}"
export SECDIFF_SOURCE_DIR="$root"
kernels="${KERNELS:-debian debug}"
jit="${JIT:-on}"
cores="$(nproc)"
jobs_list="${JOBS:-1 $cores}"
anchor_n="${ANCHOR_N:-3000}"
shapes="${SHAPES:-single eight}"
repeat="${REPEAT:-1}"
qemu="${QEMU:-qemu-system-x86_64}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Cases: a 20-instruction filter (arch check, 12 compares, getppid -> ERRNO(n)), like
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
load() { cut -d' ' -f1 /proc/loadavg; }

# The kernel command line of vm/qemu.cc (default_kernel_cmdline), for the anchor VMs.
cmdline="console=ttyS0 loglevel=4 panic=-1 oops=panic unknown_nmi_panic noapictimer no_timer_check"
cmdline+=" tsc=reliable pty.legacy_count=0 cryptomgr.notests"
jit_val=1
[ "$jit" = off ] && jit_val=0

# anchor KERNEL INITRD VMS -> prints the summed rate of VMS bare loops run at once
anchor() {
  local k="$1" ird="$2" vms="$3" i pids=()
  for i in $(seq "$vms"); do
    "$qemu" -accel tcg -smp 1 -m 256M -display none -no-reboot -nic none -nodefaults \
      -kernel "$k" -initrd "$ird" -append "$cmdline -- --anchor=$anchor_n --jit=$jit_val" \
      -device isa-debug-exit,iobase=0xf4,iosize=0x04 -global PIIX4_PM.acpi-root-pci-hotplug=off \
      -global PIIX4_PM.acpi-pci-hotplug-with-bridge-support=off -global PIIX4_PM.memory-hotplug-support=off \
      -serial "file:$tmp/anchor-$i.log" \
      </dev/null >/dev/null 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  local sum=0 r
  for i in $(seq "$vms"); do
    r="$(sed -n 's/.*anchor: \([0-9]*\)\/s.*/\1/p' "$tmp/anchor-$i.log" | head -n1)"
    [ -n "$r" ] || { echo "bench_vm: anchor VM $i printed no rate:" >&2; tail -5 "$tmp/anchor-$i.log" >&2; echo 0; return; }
    sum=$((sum + r))
  done
  echo "$sum"
}

printf '%-8s %-6s %-4s %5s %6s %8s %8s %8s %6s %6s %6s\n' kernel inputs VMs load cases "cases/s" steady anchor ratio hello 1st
for k in $kernels; do
  label="$k"
  case "$k" in */*) label="$(basename "$(dirname "$k")" | cut -c1-8)" ;; esac
  # The kernel image and modules, as secdiff diff finds them; one initramfs with this build's agent.
  if [ -f "$k" ]; then image="$k"; mods=""; else
    read -r _ image mods < <(bash "$root/scripts/vm/kernels.sh" "$k" | head -n1)
  fi
  ird="$tmp/$label.cpio"
  bash "$root/scripts/vm/initramfs.sh" --agent "$agent" ${mods:+--modules "$mods"} -o "$ird" 2>/dev/null
  aird="$ird"
  if [ "$anchor_agent" != "$agent" ]; then
    aird="$tmp/$label-anchor.cpio"
    bash "$root/scripts/vm/initramfs.sh" --agent "$anchor_agent" ${mods:+--modules "$mods"} -o "$aird" 2>/dev/null
  fi
  for jobs in $jobs_list; do
    for rep in $(seq "$repeat"); do
      l="$(load)"
      a="$(anchor "$image" "$aird" "$jobs")"
      for shape in $shapes; do
        out="$tmp/$label-$shape-$jobs.json"
        l="$(load)"
        if ! "$secdiff" diff "$tmp/$shape" --kernel "$k" --initrd "$ird" --jobs "$jobs" --jit "$jit" --json -q \
             >"$out" 2>"$tmp/err"; then
          if [ "$(field "$out" 'j.get("mismatches", -1)' 2>/dev/null)" = "-1" ]; then
            echo "bench_vm: secdiff diff failed for $k $shape $jobs:" >&2
            head -5 "$tmp/err" >&2
            continue
          fi
        fi
        ins=$([ "$shape" = single ] && echo 1 || echo 8)
        # Cases after the first answered batch (16 cases, secdiff diff's default), over the time after it.
        steady="$(field "$out" 'round(max(0, j["executions"] - 16) / max(1e-9, j["seconds"] - j["vm"]["first_case_seconds"]))')"
        printf '%-8s %-6s %-4s %5s %6s %8.0f %8s %8s %6s %6.2f %6.2f\n' "$label" "$ins" "$jobs" "$l" \
          "$(field "$out" 'j["executions"]')" "$(field "$out" 'j["cases_per_second"]')" "$steady" "$a" \
          "$(python3 -c "print('%.2f' % ($steady / $a) if $a else '-')")" \
          "$(field "$out" 'j["vm"]["first_boot_seconds"]')" "$(field "$out" 'j["vm"]["first_case_seconds"]')"
        [ "$(field "$out" 'j["mismatches"]')" = 0 ] || echo "bench_vm: $(field "$out" 'j["mismatches"]') mismatches in $k $shape $jobs" >&2
      done
    done
  done
done
echo "(jit=$jit; anchor: bare thread+filter+getppid loop, n=$anchor_n per VM, VMs booted at once;"
echo " load: 1-minute load average before the run; $(nproc) cores)"
