#!/usr/bin/env bash
# secdiff corpus import on every file of the shared profiles: each profile
# imports (Firecracker, minijail, bionic and the C-table transcriptions too),
# the other files are refused by name, broken input names file and line.
set -uo pipefail
S=${SECDIFF:?path to secdiff}
P=${SECDIFF_PROFILES_DIR:?path to shared/profiles}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0 passes=0
ok()  { passes=$((passes+1)); }
bad() { echo "FAIL: $*"; fails=$((fails+1)); }
expect_rc() { # rc cmd...
  local want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "exit $rc (want $want): $* :: $(head -c 300 "$T/err")"; fi
}
expect_out() { if grep -Eq -- "$1" "$T/out"; then ok; else bad "output lacks /$1/: $(head -c 400 "$T/out")"; fi; }
expect_err() { if grep -Eq -- "$1" "$T/err"; then ok; else bad "stderr lacks /$1/: $(head -c 400 "$T/err")"; fi; }

# Files that go with the profiles but are none.
not_profiles="README.md crosvm/README-upstream.md crosvm/x86_64/common_device.frequency crosvm/x86_64/constants.json
firejail/syscalls.txt systemd/groups-v252.json systemd/groups-v257.json systemd/syscall-filter-v252.txt
systemd/syscall-filter-v257.txt"
profiles=()
while IFS= read -r f; do
  case " $(echo $not_profiles) " in *" $f "*) continue ;; esac
  profiles+=("$f")
done < <(cd "$P" && find . -type f | sed 's|^\./||' | sort)

# 1. every profile imports, in one run.
(cd "$P" && "$S" corpus import --out "$T/all" --max-cases 1 --optimize 1 -- "${profiles[@]}") >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "import of every profile: exit $rc :: $(head -c 400 "$T/err")"
n=$(grep -c '^[^ ]*: [a-z0-9-]*, [0-9]* rules, ' "$T/out")
[ "$n" -eq "${#profiles[@]}" ] && ok || bad "$n summary lines for ${#profiles[@]} profiles"
[ "${#profiles[@]}" -eq 82 ] && ok || bad "${#profiles[@]} profiles (82 expected: a new file needs a test)"
expect_out '^firecracker/x86_64-unknown-linux-musl.json: firecracker-json, 161 rules, 0 unknown names'
expect_out '^firecracker/aarch64-unknown-linux-musl.json: firecracker-json, 150 rules, 0 unknown names'
expect_out '^firecracker/unimplemented.json: firecracker-json, 0 rules'
expect_out '^crosvm/x86_64/block_device.policy: minijail-policy, 93 rules, 0 unknown names'
expect_out '^android-bionic/SYSCALLS.TXT: bionic-list, [0-9]+ rules, 1 unknown names'
expect_out '^android-bionic/SECCOMP_BLOCKLIST_APP.TXT: bionic-list, 32 rules'
expect_out '^flatpak/blocklist.json: c-table-json, 47 rules'
expect_out '^qemu/sandbox-denylist.json: c-table-json, 110 rules'
expect_out '^docker/default.json: docker-json, '
expect_err 'android-bionic/SYSCALLS.TXT: unknown syscall names skipped: mseal'
for f in vmm.x86_64.O1-0 api.x86_64.O1-0 vcpu.x86_64.O1-0; do
  [ -f "$T/all/firecracker-x86_64-unknown-linux-musl/$f.case" ] && ok || bad "firecracker case $f missing"
done
[ -f "$T/all/crosvm-block_device/policy.x86_64.O1-0.case" ] && ok || bad "crosvm case missing"
[ -f "$T/all/android-bionic-SYSCALLS/app.x86_64+x86.O1-0.case" ] && ok || bad "bionic app case missing"
[ -f "$T/all/android-bionic-SYSCALLS/system.x86.O1-0.case" ] && ok || bad "bionic system case missing"

# 2. the other files: exit 2, named as what they are.
for f in $not_profiles; do
  expect_rc 2 "$S" corpus import --out "$T/np" "$P/$f"
  expect_err "$f: .*not a profile"
done

# 3. notes and names without a syscall number.
expect_rc 0 "$S" corpus import --notes --out "$T/n" --optimize 1 -- "$P/firecracker/aarch64-unknown-linux-musl.json"
expect_err 'note: vmm: .*aarch64-unknown-linux-musl.json:[0-9]+: the file targets aarch64'
printf '{"vmm": {"default_action": "trap", "filter_action": "allow",\n "filter": [{"syscall": "read"}, {"syscall": "cacheflush"}]}}\n' \
  > "$T/aarch64-x.json"
expect_rc 0 "$S" corpus import --out "$T/n" --optimize 1 -- "$T/aarch64-x.json"
expect_err 'aarch64-x.json: syscall names without a number on a filter.s arches, skipped there: cacheflush'

# 4. broken input of each new format: exit 2, one line naming file and line.
broken() { # name content want
  printf '%b' "$2" > "$T/$1"
  expect_rc 2 "$S" corpus import --out "$T/b" "$T/$1"
  expect_err "$1:$3"
  [ "$(wc -l < "$T/err")" -eq 1 ] && ok || bad "$1: error is not one line: $(cat "$T/err")"
}
broken x86_64-fc.json '{"vmm": {\n"default_action": "trap",\n"filter_action": "allow",\n"filter": [{"syscall": "read", "args": [\n{"index": 0, "type": "dword", "op": "eq"}]}]}}\n' \
  '5: missing field `val`'
broken bad.policy 'read: 1\n# c\nwrite: arg0 == = 1\n' '3: '
broken SYSCALLS.TXT 'read(int) all\nwrite(int) x86,vax\n' '2: invalid syscall architecture'
broken ctable.json '{"defaultAction": "SCMP_ACT_ALLOW",\n "rules": [\n {"names": ["read"], "action": "SCMP_ACT_BOGUS"}]}\n' \
  '3: unknown action'

echo "corpus_profiles_test: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
