#!/usr/bin/env bash
# Regenerates the built-in seed corpus (corpus/seeds/) from ../shared/profiles
# with `secdiff corpus import`. Deterministic: fixed profile list, unit and
# profile selection, arches, optimize levels and case cap; output names depend
# only on these. See corpus/README.md for the origins and licenses.
#
#   scripts/gen-corpus.sh [SECDIFF_BINARY]
# Env: PROFILES (default: <repo>/../shared/profiles), OUT (default: <repo>/corpus/seeds),
#      MAX_CASES (cases per compiled filter, default 3: keeps the corpus near 3.5 MB;
#      the argument boundaries, wrong-arch, x32 and past-the-table inputs come first).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secdiff=${1:-${SECDIFF:-$here/../build/secdiff}}
profiles=${PROFILES:-$here/../shared/profiles}
out=${OUT:-$here/corpus/seeds}
max_cases=${MAX_CASES:-3}
[ -x "$secdiff" ] || { echo "gen-corpus: no secdiff binary at $secdiff" >&2; exit 2; }
[ -d "$profiles" ] || { echo "gen-corpus: no profiles at $profiles" >&2; exit 2; }

# The same list and selection as `secdiff corpus report` uses by default.
json_profiles=(
  docker/default.json
  docker/debian-bookworm/default.json
  podman/seccomp.json
  podman/debian-bookworm/seccomp.json
  oci-runc/seccomp_syscall_test1.json
  oci-runc/seccomp_syscall_test2.json
  flatpak/flatpak-docker-seccomp.json
  lxc/common.seccomp
  lxc/seccomp-v1.conf
  lxc/seccomp-v2.conf
  lxc/seccomp-v2-denylist.conf
  lxd/lxd-5.0.2-all-intercepts.seccomp
)
raw_bpf=(
  firejail/bpf/seccomp
  firejail/bpf/seccomp.debug
  firejail/bpf/seccomp.32
  firejail/bpf/seccomp.mdwx
  firejail/bpf/seccomp.mdwx.32
  firejail/bpf/seccomp.block_secondary
  bubblewrap/flatpak.bpf
)
# Importers for Firecracker JSON, C-table transcriptions, bionic lists and minijail policies.
other_profiles=(
  flatpak/blocklist.json
  qemu/sandbox-denylist.json
  firecracker/x86_64-unknown-linux-musl.json
  firecracker/aarch64-unknown-linux-musl.json
  firecracker/unimplemented.json
  android-bionic/SYSCALLS.TXT
  crosvm/x86_64/block_device.policy
  crosvm/x86_64/fs_device.policy
  crosvm/x86_64/gpu_device.policy
  crosvm/x86_64/jail_warden.policy
  crosvm/x86_64/net_device.policy
  crosvm/x86_64/vhost_vsock_device_vhost_user.policy
  crosvm/x86_64/video_device.policy
  crosvm/x86_64/xhci_device.policy
)
systemd_units=systemd-journald.service,systemd-resolved.service,systemd-timesyncd.service,chrony.service,nm-priv-helper.service,redis-server.service
firejail_profiles=default.profile,firefox-common.profile,ssh.profile,0ad.profile,dnscrypt-proxy.profile,steam.profile,chafa.profile

rm -rf "$out"
mkdir -p "$out"
common=(--arch x86_64,x86,x32 --out "$out" --max-cases "$max_cases")
run() { (cd "$profiles" && "$secdiff" corpus import "${common[@]}" "$@"); }
run "${json_profiles[@]}" "${raw_bpf[@]}" "${other_profiles[@]}"
run --select "$systemd_units" systemd/unit-directives-bookworm.tsv
run --select "$firejail_profiles" firejail/profile-seccomp-lines.tsv
n=$(find "$out" -name '*.case' | wc -l)
size=$(du -sb "$out" | cut -f1)
echo "gen-corpus: $n cases, $size bytes in $out"
