#!/usr/bin/env bash
# Boot smoke test for the QEMU backend's kernels (TCG; KVM does not work on our machines).
#
# Usage: tests/vm/boot_smoke.sh [-v] [-n RUNS] [debian|debug|all]      (default: all, 1 run)
#        tests/vm/boot_smoke.sh [-v] [-n RUNS] --kernel PATH [--modules DIR]
#        -v prints the guest console and what arrived on the socket for every run.
#
# Builds tests/vm/smoke_init.c with `cc -static`, packs it with scripts/vm/initramfs.sh, and boots
# each kernel with a virtio-serial port named org.secdiff.0 on a unix socket. A passing boot:
#   * prints "SECDIFF-SMOKE-OK <release> cache_debug=<0|1>", with cache_debug matching the
#     kernel's CONFIG_SECCOMP_CACHE_DEBUG when its config is known (cache dir "config" file);
#   * shows the port "org.secdiff.0" in /sys/class/virtio-ports;
#   * delivers "SECDIFF-SMOKE-VIRTIO <release>" to the host over the socket;
#   * powers off (QEMU exits) within the timeout (SECDIFF_SMOKE_TIMEOUT, default 60 s).
# It prints qemu-start -> marker and qemu-start -> exit times for every run.
set -euo pipefail

die() { echo "boot_smoke: error: $*" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
timeout_s="${SECDIFF_SMOKE_TIMEOUT:-60}"

runs=1 which="" ukernel="" umods="" verbose=0
while [ $# -gt 0 ]; do
  case "$1" in
    -v) verbose=1; shift ;;
    -n) [ $# -ge 2 ] || die "-n needs a number"; runs="$2"; shift 2 ;;
    --kernel) [ $# -ge 2 ] || die "--kernel needs a path"; ukernel="$2"; shift 2 ;;
    --modules) [ $# -ge 2 ] || die "--modules needs a directory"; umods="$2"; shift 2 ;;
    debian|debug|all) which="$1"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive number"
[ -z "$ukernel" ] || [ -z "$which" ] || die "give either a kernel name or --kernel, not both"
[ -n "$umods" ] && [ -z "$ukernel" ] && die "--modules needs --kernel"

# --- tools ---------------------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cc >/dev/null || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; install as root: apt-get install ${need[*]}"
  echo "boot_smoke: installing ${need[*]}" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >&2; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >&2 \
      || die "could not install ${need[*]}"
  fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/secdiff-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cc -static -O2 -Wall -o "$work/smoke_init" "$here/smoke_init.c" || die "building smoke_init.c failed"
# Host end of the virtio port: connect to QEMU's socket (retrying until QEMU listens), copy what
# the guest sends to stdout until QEMU closes the socket.
cat >"$work/sockread.c" <<'EOF'
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  time_t end = time(NULL) + atoi(argv[2]);
  int fd = -1;
  while (time(NULL) < end) {
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) break;
    close(fd); fd = -1;
    usleep(5000);
  }
  if (fd < 0) return 1;
  char buf[4096];
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int left = (int)(end - time(NULL));
    if (left <= 0 || poll(&p, 1, left * 1000) <= 0) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    fwrite(buf, 1, (size_t)n, stdout);
    fflush(stdout);
  }
  return 0;
}
EOF
cc -O2 -o "$work/sockread" "$work/sockread.c" || die "building the socket reader failed"

# --- kernels ------------------------------------------------------------------------------------
kernels=()
if [ -n "$ukernel" ]; then
  [ -f "$ukernel" ] || die "kernel '$ukernel' not found"
  kernels+=("user $ukernel $umods")
else
  mapfile -t kernels < <("$root/scripts/vm/kernels.sh" "${which:-all}")
  [ ${#kernels[@]} -gt 0 ] || die "scripts/vm/kernels.sh returned no kernels"
fi

fails=0
summary=()
for line in "${kernels[@]}"; do
  read -r name kernel mods <<<"$line"
  initrd="$work/$name.cpio"
  "$root/scripts/vm/initramfs.sh" --agent "$work/smoke_init" ${mods:+--modules "$mods"} -o "$initrd"
  expect_cache=""
  cfg="$(dirname "$kernel")/config"
  if [ -f "$cfg" ]; then
    if grep -qx 'CONFIG_SECCOMP_CACHE_DEBUG=y' "$cfg"; then expect_cache=1; else expect_cache=0; fi
  fi

  for run in $(seq "$runs"); do
    sock="$work/ch.sock" fifo="$work/console" log="$work/$name.$run.log" hostlog="$work/$name.$run.host"
    rm -f "$sock" "$fifo"
    mkfifo "$fifo"
    "$work/sockread" "$sock" "$timeout_s" >"$hostlog" &
    rpid=$!
    t0=$EPOCHREALTIME
    timeout "$timeout_s" qemu-system-x86_64 -accel tcg -smp 1 -m 256M -display none -no-reboot -nic none \
      -serial stdio -device virtio-serial-pci,id=vs \
      -chardev socket,id=ch,path="$sock",server=on,wait=off \
      -device virtserialport,bus=vs.0,chardev=ch,name=org.secdiff.0 \
      -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1" \
      </dev/null >"$fifo" 2>"$work/qemu.err" &
    qpid=$!
    t_marker=""
    : >"$log"
    while IFS= read -r l; do
      l="${l%$'\r'}"
      printf '%s\n' "$l" >>"$log"
      if [ -z "$t_marker" ] && [[ "$l" == SECDIFF-SMOKE-OK* ]]; then t_marker=$EPOCHREALTIME; fi
    done <"$fifo"
    qrc=0; wait "$qpid" || qrc=$?
    t_end=$EPOCHREALTIME
    wait "$rpid" || true

    problems=()
    [ "$qrc" -eq 0 ] || problems+=("qemu exit status $qrc$([ "$qrc" -eq 124 ] && echo ' (timeout)')")
    okline="$(grep -m1 '^SECDIFF-SMOKE-OK ' "$log" || true)"
    [ -n "$okline" ] || problems+=("no SECDIFF-SMOKE-OK marker")
    grep -q '^SECDIFF-SMOKE-PORT [^ ]* org\.secdiff\.0$' "$log" || problems+=("virtio port org.secdiff.0 did not appear")
    grep -q '^SECDIFF-SMOKE-VIRTIO ' "$hostlog" || problems+=("nothing received on the virtio socket")
    ! grep -q 'FAILED' "$log" || problems+=("a module failed to load")
    cache="${okline##*cache_debug=}"
    if [ -n "$okline" ] && [ -n "$expect_cache" ] && [ "$cache" != "$expect_cache" ]; then
      problems+=("cache_debug=$cache but the config says $expect_cache")
    fi
    tm="-"; [ -n "$t_marker" ] && tm="$(awk -v a="$t0" -v b="$t_marker" 'BEGIN{printf "%.2f", b-a}')"
    te="$(awk -v a="$t0" -v b="$t_end" 'BEGIN{printf "%.2f", b-a}')"
    guest="$(sed -n 's/^SECDIFF-SMOKE-TIME uptime_at_init=\([0-9.]*\).*/\1/p' "$log")"
    rel="$(awk '{print $2}' <<<"$okline")"
    if [ ${#problems[@]} -eq 0 ]; then
      res="PASS"
      if [ "$verbose" -eq 1 ]; then
        sed "s/^/  [$name console] /" "$log"; sed "s/^/  [$name socket] /" "$hostlog"
      fi
    else
      res="FAIL: $(IFS=';'; echo "${problems[*]}")"
      fails=$((fails + 1))
      echo "---- console of $name run $run ----" >&2; cat "$log" >&2
      echo "---- qemu stderr ----" >&2; cat "$work/qemu.err" >&2
      echo "---- host side of the port ----" >&2; cat "$hostlog" >&2
    fi
    s="$name run $run: boot-to-marker ${tm}s, to-exit ${te}s, guest uptime at init ${guest:-?}s, release ${rel:-?}, cache_debug=${cache:-?}: $res"
    echo "boot_smoke: $s"
    summary+=("$s")
  done
done
[ "$fails" -eq 0 ] || die "$fails boot(s) failed"
echo "boot_smoke: all ${#summary[@]} boot(s) passed"
