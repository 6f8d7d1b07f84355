#!/usr/bin/env bash
# Spot check of docs/corpus-report.md against the real kernel: every chain of the
# built-in corpus is installed on the debug kernel (CONFIG_SECCOMP_CACHE_DEBUG)
# and /proc/PID/seccomp_cache after each install must equal the linux model's
# bitmap bit for bit, on both arches. The report's "cached" column is that
# model's bitmap, so this checks it against the kernel.
set -uo pipefail
S=${SECDIFF:?}
SRC=${SECDIFF_SOURCE_DIR:?}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$S" diff "$SRC/corpus/seeds" --kernel debug --installs-only --json >"$out"
rc=$?
python3 - "$out" "$rc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); rc = int(sys.argv[2])
bp = d["by_property"]
print(f'{d["cases"]} corpus cases installed on {d["kernel"]["release"]} ({d["kernel"]["features"]}), '
      f'model {d["model"]}, cache bitmaps compared: {d["cache_compared"]}')
print(f'cache-bitmap mismatches {bp["cache-bitmap"]}, install-result mismatches {bp["install-result"]}, '
      f'{d["cases_per_second"]:.0f} cases/s')
ok = rc == 0 and d["cache_compared"] and d["cases"] >= 100 and d["mismatches"] == 0
for m in d["mismatch_list"][:5]:
    print(m["report"][:2000])
print("1 passed, 0 failed" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
