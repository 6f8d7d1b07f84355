#!/usr/bin/env bash
# Demonstration over the real profiles in ../shared/profiles: compile each
# container profile with libseccomp, validate every filter as the kernel would,
# and compare the kernel's action cache (linux model) with the exact
# constant-ALLOW set. Usage: scripts/demo.sh [PROFILES_DIR] (needs build/secdiff).
set -euo pipefail
cd "$(dirname "$0")/.."
P=${1:-${SECDIFF_PROFILES_DIR:-../shared/profiles}}
S=${SECDIFF:-build/secdiff}
K=${SECDIFF_KERNEL:-6.18}
W=build/demo
mkdir -p "$W"
[ -d "$P" ] || { echo "demo: no profiles at $P" >&2; exit 2; }

filters=()
for json in docker/default.json docker/debian-bookworm/default.json podman/seccomp.json \
            podman/debian-bookworm/seccomp.json flatpak/flatpak-docker-seccomp.json; do
  [ -f "$P/$json" ] || continue
  base=${json//\//_}; base=${base%.json}
  "$S" compile "$P/$json" --arch x86_64 -o "$W/$base.x86_64.bpf" 2>/dev/null
  "$S" compile "$P/$json" --arch x86_64,x86,x32 --optimize 2 -o "$W/$base.multi-opt2.bpf" 2>/dev/null
  filters+=("$W/$base.x86_64.bpf" "$W/$base.multi-opt2.bpf")
done
for f in "$P"/firejail/bpf/* "$P"/bubblewrap/*.bpf; do [ -f "$f" ] && filters+=("$f"); done

printf '\nsecdiff demo: kernel %s profile; cache = what the kernel caches (seccomp_is_const_allow),\n' "$K"
printf 'exact = syscalls that really return ALLOW for every argument (decided with Z3).\n\n'
printf '| filter | insns | loads | x86_64 cached / exact | ia32 cached / exact | lost by the emulator | cached, not constant |\n'
printf '|---|---:|---|---:|---:|---|---|\n'
for f in "${filters[@]}"; do
  name=${f#"$W/"}; name=${name#"$P/"}
  insns=$(( $(stat -c %s "$f") / 8 ))
  if "$S" check "$f" >/dev/null; then load=yes; else load="NO: $("$S" check "$f" | head -1)"; fi
  out=$("$S" cache --kernel "$K" --compare linux,exact "$f" || true)
  nat=$(awk '/^# x86_64:/{gsub(/ALLOW=|,/,""); print $4" / "$6}' <<<"$out")
  cmp=$(awk '/^# ia32:/{gsub(/ALLOW=|,/,""); print $4" / "$6}' <<<"$out")
  lost=$(awk '$4=="linux=FILTER"{printf "%s%s:%s", (n++?", ":""), $1, $3} END{if(!n) printf "-"}' <<<"$out")
  extra=$(awk '$4=="linux=ALLOW"{printf "%s%s:%s", (n++?", ":""), $1, $3} END{if(!n) printf "-"}' <<<"$out")
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$insns" "$load" "$nat" "$cmp" "$lost" "$extra"
done
printf '\n"cached, not constant" on %s is the kernel'"'"'s deliberate uretprobe/uprobe pass-through\n' "$K"
printf '(seccomp_uprobe_exception); anything else there would be a cache soundness bug.\n'
printf '\nExample: personality(0xffffffff) and personality(0x1234) under Docker'"'"'s default filter:\n'
"$S" emu --nr personality --args 0xffffffff "$W/docker_default.x86_64.bpf" | tail -1
"$S" emu --nr personality --args 0x1234 "$W/docker_default.x86_64.bpf" | tail -1
