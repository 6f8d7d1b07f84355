#!/usr/bin/env bash
# End-to-end checks of the secdiff CLI contracts (exit codes, text and --json output).
set -uo pipefail
S=${SECDIFF:?path to secdiff}
P=${SECDIFF_PROFILES_DIR:?path to shared/profiles}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0 passes=0
ok()   { passes=$((passes+1)); }
bad()  { echo "FAIL: $*"; fails=$((fails+1)); }
expect_rc() { # rc cmd...
  local want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "exit $rc (want $want): $* :: $(head -c 300 "$T/err")"; fi
}
expect_out() { # pattern (grep -E) on last stdout
  if grep -Eq -- "$1" "$T/out"; then ok; else bad "output lacks /$1/: $(head -c 400 "$T/out")"; fi
}
expect_err() {
  if grep -Eq -- "$1" "$T/err"; then ok; else bad "stderr lacks /$1/: $(head -c 400 "$T/err")"; fi
}

cat > "$T/f.asm" <<'ASM'
; deny getppid with EPERM on x86_64, allow the rest
        ld [4]
        jne #0xc000003e, bad
        ld [0]
        jeq #110, deny, allow
deny:   ret #0x50001
allow:  ret #0x7fff0000
bad:    ret #0
ASM

# asm / disasm, every format round-trips
expect_rc 0 "$S" asm "$T/f.asm"; expect_out '^7,32 0 0 4,'
for fmt in raw bpf_asm ops ddd c; do
  expect_rc 0 "$S" asm "$T/f.asm" --format "$fmt" -o "$T/f.$fmt"
  expect_rc 0 "$S" asm "$T/f.$fmt" --in-format "$fmt" --format ops
  expect_out '^7,32 0 0 4,'
  expect_rc 0 "$S" disasm "$T/f.$fmt"; expect_out 'ld \[4\]'
done
expect_rc 0 "$S" disasm "$T/f.raw"; expect_out 'getppid'; expect_out 'arch'
expect_rc 0 "$S" disasm "$P/firejail/bpf/seccomp"; expect_out 'AUDIT_ARCH_X86_64'
"$S" disasm "$P/bubblewrap/flatpak.bpf" > "$T/flatpak.asm" && "$S" asm "$T/flatpak.asm" --format raw -o "$T/flatpak.rt" \
  && cmp -s "$T/flatpak.rt" "$P/bubblewrap/flatpak.bpf" && ok || bad "disasm|asm round trip of flatpak.bpf"

# check
expect_rc 0 "$S" check "$T/f.raw"; expect_out '^ok'
expect_rc 0 "$S" check --json "$T/f.raw"; expect_out '"ok":true'; expect_out '"errno":null'
printf 'ld [2]\nret #0\n' > "$T/unaligned.asm"
expect_rc 1 "$S" check "$T/f.raw" "$T/unaligned.asm"; expect_out '^EINVAL: filter 1'; expect_out 'insn 0'
expect_rc 1 "$S" check --json "$T/unaligned.asm"
expect_out '"ok":false'; expect_out '"errno":"EINVAL"'; expect_out '"filter":0'; expect_out '"insn":0'; expect_out '"reason":"'
expect_rc 1 "$S" check --no-nnp "$T/f.raw"; expect_out 'EACCES'
for f in "$P"/firejail/bpf/* "$P/bubblewrap/flatpak.bpf"; do expect_rc 0 "$S" check "$f"; done

# emu
expect_rc 0 "$S" emu --nr getppid --json "$T/f.raw"
expect_out '"action":"ERRNO"'; expect_out '"data":1[,}]'; expect_out '"ret":327681'
expect_rc 0 "$S" emu --nr 39 --json "$T/f.raw"; expect_out '"action":"ALLOW"'
expect_rc 0 "$S" emu --arch i386 --nr 20 --json "$T/f.raw"; expect_out '"action":"KILL_THREAD"'
expect_rc 0 "$S" emu --nr 0x6e --args 1,0x2,3 --ip 0x401000 --trace "$T/f.raw"; expect_out 'ERRNO\(1\)'; expect_out 'j(eq|ne) #110'
expect_rc 0 "$S" emu --arch x32 --nr read --json "$T/f.raw"; expect_out '"nr":1073741824'
expect_rc 2 "$S" emu --nr no_such_syscall "$T/f.raw"; expect_err 'unknown syscall'
expect_rc 2 "$S" emu --nr 1 --args 1,2,3,4,5,6,7 "$T/f.raw"; expect_err 'at most six'
expect_rc 2 "$S" emu --nr 1 --args 0xzz "$T/f.raw"; expect_err 'invalid argument'

# cache
expect_rc 0 "$S" cache "$T/f.raw"; expect_out '^x86_64 110 FILTER$'; expect_out '^x86_64 39 ALLOW$'; expect_out '^ia32 5 FILTER$'
expect_rc 0 "$S" cache --kernel 6.1 "$T/f.raw"
[ "$(grep -c '^x86_64 ' "$T/out")" -eq 451 ] && ok || bad "6.1 native bitmap size"
expect_rc 0 "$S" cache --model exact --summary "$T/f.raw"; expect_out 'x86_64 ALLOW='
expect_rc 0 "$S" cache --compare linux,exact "$T/f.raw"; expect_out '0 only in linux, 0 only in exact'
printf 'ld #0x7fff0000\nret a\n' > "$T/imm.asm"
expect_rc 1 "$S" cache --compare linux,exact "$T/imm.asm"; expect_out 'linux=FILTER exact=ALLOW'
expect_rc 0 "$S" cache --json --model rfc-v1 "$T/f.raw"; expect_out '"model":"rfc-v1"'
expect_rc 2 "$S" cache --model nosuch "$T/f.raw"; expect_err 'unknown cache model'
expect_rc 2 "$S" cache --kernel 9.9 "$T/f.raw"; expect_err 'unknown kernel version'

# bad input: clear one-line errors naming file and line, never a crash
printf 'ld [0]\nfoo #1\nret #0\n' > "$T/badline.asm"
expect_rc 2 "$S" check "$T/badline.asm"; expect_err 'badline.asm:2:'
printf '\x01\x02\x03' > "$T/odd.bin"
expect_rc 2 "$S" check --format raw "$T/odd.bin"; expect_err 'odd.bin'
expect_rc 2 "$S" check "$T/does-not-exist"; expect_err 'does-not-exist'
printf '3\n6 0 0 0\n' > "$T/short.ddd"
expect_rc 2 "$S" check "$T/short.ddd"; expect_err 'short.ddd'
expect_rc 2 "$S" nosuchcommand
for sub in asm disasm check emu cache; do expect_rc 0 "$S" "$sub" --help; done

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
