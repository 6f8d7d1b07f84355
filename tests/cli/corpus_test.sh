#!/usr/bin/env bash
# secdiff corpus import / report, end to end, on real profiles.
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

# Decodes compact cases (oracle/case_codec.h v1); prints "file filters inputs" per file,
# "undecodable: file (why)" for the others.
decode() {
  python3 - "$@" <<'PY'
import struct, sys
for path in sys.argv[1:]:
    b = open(path, 'rb').read(); i = 0
    def take(n):
        global i
        if i + n > len(b): raise ValueError("truncated")
        v = b[i:i+n]; i += n; return v
    try:
        if take(1)[0] != 1: raise ValueError("version")
        take(1)
        nf = take(1)[0]
        if not 1 <= nf <= 16: raise ValueError("filters")
        for _ in range(nf):
            take(4); (n,) = struct.unpack('<H', take(2))
            if not 0 < n <= 4096: raise ValueError("length")
            take(8 * n)
        ni = take(1)[0]
        if ni > 64: raise ValueError("inputs")
        for _ in range(ni):
            if take(1)[0] not in (0, 1, 2): raise ValueError("arch")
            take(1 + 8 + 48 + 8)
        if i != len(b): raise ValueError("trailing bytes")
        print(path, nf, ni)
    except ValueError as e:
        print("undecodable:", path, e)
PY
}

# 1. import: Docker default + LXC common + a raw firejail filter.
expect_rc 0 "$S" corpus import --out "$T/seeds" --json "$P/docker/default.json" "$P/lxc/common.seccomp" \
  "$P/firejail/bpf/seccomp"
expect_out '^.*docker/default.json: docker-json, [0-9]+ rules, [0-9]+ unknown names, 8 filters written, [0-9]+ cases written'
expect_out 'lxc/common.seccomp: lxc, 6 rules'
expect_out 'firejail/bpf/seccomp: raw-bpf'
expect_err 'unknown syscall names skipped: .*uretprobe'
n=$(find "$T/seeds" -name '*.case' | wc -l)
[ "$n" -ge 20 ] && ok || bad "only $n cases written"
[ -f "$T/seeds/docker-default/default.x86_64+x86+x32.O2-0.case" ] && ok || bad "multi-arch O2 case missing"
[ -f "$T/seeds/docker-default/default.x86_64+x86+x32.O2-0.json" ] && ok || bad "JSON case missing"
grep -q '"secdiff_case": 1' "$T/seeds/docker-default/default.x86_64+x86+x32.O2-0.json" && ok || bad "JSON case"
decode $(find "$T/seeds" -name '*.case') > "$T/decoded"
[ "$(grep -c . "$T/decoded")" -eq "$n" ] && ! grep -q undecodable "$T/decoded" && ok ||
  bad "cases do not decode: $(grep undecodable "$T/decoded" | head -3)"
# each docker case: 1 filter, at most 64 inputs, the first one full
grep -q "default.x86_64+x86+x32.O1-0.case 1 64$" "$T/decoded" && ok || bad "docker case 0 is not 1 filter x 64 inputs"

# 2. report on one filter agrees with `secdiff cache --compare linux,exact --json`.
F="$P/bubblewrap/flatpak.bpf"
expect_rc 0 "$S" corpus report --out "$T/report.md" "$F"
cp "$T/out" "$T/report.txt"
"$S" cache --compare linux,exact --json "$F" >"$T/cmp.json" 2>/dev/null
for arch in x86_64 ia32; do
  want_l=$(jq -r ".counts.$arch.linux" "$T/cmp.json")
  want_e=$(jq -r ".counts.$arch.exact" "$T/cmp.json")
  row=$(grep -E "^\| bubblewrap-flatpak \| $arch \|" "$T/report.txt")
  got_l=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$4); print $4}')
  got_e=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$5); print $5}')
  [ "$got_l" = "$want_l" ] && [ "$got_e" = "$want_e" ] && ok ||
    bad "$arch: report linux=$got_l exact=$got_e, cache --compare linux=$want_l exact=$want_e"
done
grep -q "kernel profile" "$T/report.md" && ok || bad "report.md lacks the kernel"
# A profile: Docker default (x86_64 caches the uprobe exceptions on 6.18, named as such).
expect_rc 0 "$S" corpus report --kernel 6.18 --out - "$P/docker/default.json"
expect_out '^\| docker-default \| x86_64 \| [0-9]+ \| [0-9]+ \| 0 \| .* uprobe exception: uretprobe, uprobe'

# A filter the emulator cannot follow: the lost syscall and the instruction are named.
printf 'ld [4]\njne #0xc000003e, ok\nld [0]\njne #1, ok\nld [16]\njeq #5, ok, ok\nok: ret #0x7fff0000\n' > "$T/lost.asm"
expect_rc 0 "$S" corpus report --kernel 6.18 --out "$T/lost.md" "$T/lost.asm"
expect_out '^\| [^|]*lost \| x86_64 \| 469 \| 470 \| 1 \| 1 at f0#4 .ld \[16\]'
grep -q 'write' "$T/lost.md" && ok || bad "lost.md does not name write"

# 3. a broken profile: exit 2, one line naming the file and line; earlier files stay written.
printf '2\ndenylist\nmount errno 1 [1,2,SCMP_CMP_BOGUS,3]\n' > "$T/broken.seccomp"
expect_rc 2 "$S" corpus import --out "$T/b" "$P/lxc/seccomp-v2.conf" "$T/broken.seccomp" "$P/lxc/common.seccomp"
expect_err "broken.seccomp:3: "
[ "$(wc -l < "$T/err")" -eq 1 ] && ok || bad "error is not one line: $(cat "$T/err")"
[ -n "$(ls "$T/b/lxc-seccomp-v2" 2>/dev/null)" ] && ok || bad "files imported before the broken one were removed"
printf '{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": [ {"names": ["read"], "action": 7} ]\n' > "$T/broken.json"
expect_rc 2 "$S" corpus import --out "$T/b2" "$T/broken.json"
expect_err "broken.json:[0-9]+: "
printf 'hello world\n' > "$T/unknown.txt"
expect_rc 2 "$S" corpus import --out "$T/b3" "$T/unknown.txt"
expect_err "unknown.txt:1: unrecognized profile format"

echo "corpus_test: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
