// Importer for Android bionic's syscall lists (libc/SYSCALLS.TXT and the
// libc/SECCOMP_*.TXT files), which libc/tools/genseccomp.py turns into the
// app and system seccomp policies.
//
//   * Line format: `func[|aliases][:syscall[:socketcall_id]](params) arches`,
//     arches `all` or a comma list of arm, arm64, x86, x86_64, riscv64, lp32
//     (arm, x86), lp64 (arm64, x86_64, riscv64). The syscall name is the part
//     after the first colon, else func (x86 socket calls are "socketcall").
//     SECCOMP_PRIORITY.TXT holds bare names instead.
//   * Only x86 and x86_64 matter: RuleSet::arches is {x86_64, x86} (those of
//     them chosen), a name allowed on one of them only is restricted to it
//     (Rule::only_arches), e.g. getuid32 to x86.
//   * SYSCALLS.TXT gives filter "app" = SYSCALLS - BLOCKLIST_COMMON -
//     BLOCKLIST_APP + ALLOWLIST_COMMON + ALLOWLIST_APP, and "system" =
//     SYSCALLS - BLOCKLIST_COMMON + ALLOWLIST_COMMON + ALLOWLIST_SYSTEM when
//     SECCOMP_ALLOWLIST_SYSTEM.TXT is next to it, with the SECCOMP_*.TXT files
//     found next to SYSCALLS.TXT (a missing one counts as empty, with a note).
//     As in genseccomp, a blocklisted name that SYSCALLS.TXT lacks for an arch
//     is an error. Default action and wrong arch: SECCOMP_RET_TRAP, as in
//     bionic's seccomp policy (x32 numbers trap too).
//   * A SECCOMP_*.TXT file imported alone: an allow-list or priority list
//     gives filter "allowlist" / "priority" allowing its names (default TRAP);
//     a blocklist gives filter "blocklist" trapping its names (default ALLOW).
//     The kind comes from the file name, as genseccomp decides it.
//   * Unknown syscall names stay in the RuleSet; the compiler reports and
//     skips them.
//
// Errors are ProfileError(file, line, message): missing or misplaced
// parentheses and colons, unknown arches, an empty arch list.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

struct BionicEntry {
  std::string name;                // syscall name, e.g. "getuid32", "socketcall"
  std::vector<std::string> arches;  // bionic arch names, `all`/lp32/lp64 expanded
  int line = 0;
};

struct BionicList {
  std::string origin;
  std::vector<BionicEntry> entries;
};

enum class BionicListKind { Syscalls, Allowlist, Blocklist, Priority };

// From the file name, as genseccomp.py decides (case-insensitive):
// "blocklist" -> Blocklist, "priority.txt" -> Priority, SECCOMP_* -> Allowlist,
// anything else -> Syscalls.
BionicListKind bionic_list_kind(std::string_view path);

// True for the names SYSCALLS.TXT and SECCOMP_*.TXT (as bionic spells them)
// and for text whose first entry has the bionic line format.
bool looks_like_bionic_list(std::string_view path, std::string_view text);

// Parses one list; `priority` reads bare names (every arch).
BionicList parse_bionic_list(std::string_view text, const std::string& origin, bool priority = false);

// genseccomp's merge_names per arch: (base - blocked) | allowed, as a rule
// set allowing those names (default action and wrong arch TRAP) for the
// chosen x86 arches. Throws ProfileError if a blocked name is not in base for
// an arch.
RuleSet bionic_policy(const BionicList& base, const std::vector<const BionicList*>& allowed,
                      const std::vector<const BionicList*>& blocked, const std::vector<std::string>& arches);

struct BionicImportOptions {
  std::vector<std::string> arches = {"x86_64", "x86", "x32"};  // chosen libseccomp arches
};

struct BionicFilter {
  std::string name;  // "app", "system", "allowlist", "blocklist", "priority"
  RuleSet rules;
};

// Imports `text` read from `path` (companion files are read next to it).
std::vector<BionicFilter> import_bionic(std::string_view text, const std::string& path,
                                        const BionicImportOptions& opts = {});

}  // namespace secdiff::corpus
