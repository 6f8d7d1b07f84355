// Importer for minijail seccomp policies (crosvm's jail/seccomp/<arch>/*.policy),
// following minijail's tools/parser.py, which crosvm's build runs
// (compile_seccomp_policy.py):
//
//   * `syscall: filter`, also `{a, b}: filter` and `name[arch=x86_64]: ...`.
//     A filter is an action, or `expr [; action]` (the action applies when
//     expr holds; default allow), or `{f1, f2, ...}`. Actions: `1`/`allow`,
//     `kill` (the kill action), `kill-process`, `kill-thread`, `trap`,
//     `trace`, `log`, `user-notify`, `return N`. `0` (which minijail rejects)
//     is read as "no rule": the syscall meets the default action.
//   * expr is a DNF: atoms `argN op value` joined by `&&`, clauses by `||`.
//     op: == != < <= > >= compare all `bits` bits (64 on x86_64); `&` holds
//     when any bit of value is set and becomes one SCMP_CMP_MASKED_EQ(bit, bit)
//     alternative per bit; `in` holds when no bit outside value is set and
//     becomes SCMP_CMP_MASKED_EQ(~value, 0). Values are numbers (C syntax),
//     constants from constants.json, `~`, `|` and parentheses.
//   * Filters of one syscall are tried in order and the first whose expr
//     holds decides; the default action follows. libseccomp has no order
//     between rules of different actions and lets a rule without arguments
//     override the others, so conditional filters followed by an explicit
//     unconditional action other than the default cannot be expressed: the
//     unconditional action is kept, with a note.
//   * Default action: minijail's `kill`, i.e. SECCOMP_RET_KILL_THREAD
//     (compile_seccomp_policy.py without --use-kill-process, libminijail
//     without TSYNC); `@default` changes it, `--default-action` (crosvm builds
//     with trap) overrides it; `@denylist` makes it allow. A wrong arch gets
//     the kill action too.
//   * `@include PATH` is read relative to the including file; an absolute path
//     is looked up by its file name next to the including file (crosvm's
//     build rewrites /usr/share/policy/crosvm to the policy directory the same
//     way). Nesting is limited to 10 levels. `@frequency` is ignored.
//   * constants.json (minijail's arch table: constants, syscalls, arch_name,
//     bits) is read from next to the policy unless given. Without it, numbers
//     and errno names still work, the arch is x86_64 and words are 64 bits.
//     arch_name picks RuleSet::arches: x86_64 or x86; another arch is compiled
//     for the chosen x86 arches with a note.
//   * Syscall names are kept as written; the compiler reports and skips those
//     libseccomp does not know (minijail would refuse the policy).
//
// Errors are ProfileError(file, line, message), naming the included file
// where the problem is: invalid tokens, unknown constants, bad syntax,
// missing includes, a second unconditional action for one syscall.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

// minijail's arch table (tools/generate_constants_json.py output).
struct MinijailConstants {
  std::string arch_name = "x86_64";
  unsigned bits = 64;
  std::map<std::string, uint64_t, std::less<>> constants;
  std::map<std::string, int, std::less<>> syscalls;
};

// Parses a constants.json. Throws ProfileError.
MinijailConstants parse_minijail_constants(std::string_view text, const std::string& origin);

struct MinijailImportOptions {
  std::vector<std::string> arches = {"x86_64", "x86", "x32"};  // chosen libseccomp arches
  std::string constants_path;  // constants.json; empty: next to the policy if it is there
  uint32_t kill_action = 0;    // SECCOMP_RET_KILL_THREAD; 0x80000000 for --use-kill-process
  std::optional<uint32_t> default_action;  // --default-action: overrides @default and kill
};

// True if `text` looks like a minijail policy (or the file name ends in .policy).
bool looks_like_minijail_policy(std::string_view path, std::string_view text);

// Parses policy `text` read from `path` (used for errors, RuleSet::origin
// and to find includes and constants.json).
RuleSet parse_minijail_policy(std::string_view text, const std::string& path,
                              const MinijailImportOptions& opts = {});
// Reads `path` and parses it.
RuleSet parse_minijail_policy_file(const std::string& path, const MinijailImportOptions& opts = {});

}  // namespace secdiff::corpus
