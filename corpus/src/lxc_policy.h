// Importer for LXC seccomp policies (`lxc.seccomp.profile`, versions 1 and 2),
// the format LXD also writes. It mirrors parse_config() / parse_config_v1() /
// parse_config_v2() of lxc/src/lxc/seccomp.c (LXC 4.x/5.x) on an x86_64 host:
//
//   * v1: line 2 must mention `allowlist` (or the old `whitelist`); every
//     further line is a syscall number (sscanf "%d"), added with
//     seccomp_rule_add(ALLOW) to a seccomp_init(SCMP_ACT_KILL) context that
//     only has the native arch. Numbers become their x86_64 names from the
//     kernel's syscall table (oracle/kernel_profile.h); numbers without a
//     name are kept as "nr:<N>" (unknown to the compiler, which skips them;
//     LXC would add them by number).
//   * v2: line 2 is `allowlist|denylist` (or `whitelist|blacklist`), matched
//     as a prefix, optionally followed by the default action (`kill`,
//     `errno N`, `allow`, `trap`, `notify`, `log`). An allowlist defaults to
//     KILL with ALLOW rules, a denylist to ALLOW with KILL rules. Rule lines
//     are `name [action] [arg-cmp]...`; `#` in column 1 starts a comment.
//   * LXC builds a native (x86_64) context plus compat contexts for x86 and
//     x32, adds every rule with seccomp_rule_add_exact_array() to each of
//     them and merges them (seccomp_merge). The RuleSet therefore has arches
//     {x86_64, x86, x32}, exact rules and per-arch compilation (the compiler's
//     default). Section headers only decide whether the lines below apply on
//     this host: [all], [x86], [x32], [x86_64] (also upper case) apply and, as
//     in LXC 3.0 and later, their rules go to every context; sections of
//     other arches ([arm64], [ppc64le], ...) are skipped with a note; an
//     unknown section is an error. [amd64] and [i386] are accepted as
//     aliases of [x86_64] and [x86] with a note (LXC itself rejects them).
//     `honor_arch_sections` restores the LXC 2.x meaning (rules of an arch
//     section only for that arch).
//   * Arg-cmps are parsed like get_seccomp_arg_value():
//     sscanf("[%i,%23[^,],%30[^0-9^,],%23[^,]") with values in base 0, at most
//     six per rule, each ended by `]`. The operator is SCMP_CMP_NE/LT/LE/EQ/
//     GE/GT/MASKED_EQ or != < <= == >= > &=. For SCMP_CMP_MASKED_EQ LXC calls
//     SCMP_CMP(idx, op, field4, field2): the FOURTH field is the mask and the
//     second the datum, i.e. `[1,8192,SCMP_CMP_MASKED_EQ,61440]` (LXD's mknod
//     rule) means (arg1 & 0xf000) == S_IFCHR. ArgCmp::value gets the mask and
//     ArgCmp::value_two the datum, as everywhere in the IR.
//   * LXC adds a rule to a context only where libseccomp resolves the name to
//     a number >= 0 (do_resolve_add_rule): e.g. x86 `socket` (a socketcall
//     pseudo syscall in libseccomp 2.5) or x86_64 `socketcall` are skipped.
//     Rule::only_arches says so when a rule does not reach every arch, with a
//     note.
//   * `reject_force_umount` (matched as a prefix of the syscall word) becomes
//     umount2 ERRNO(EACCES) when (arg1 & MNT_FORCE) == MNT_FORCE.
//   * Unknown syscall names (LXD's compat_sys_* / stub_x32_*) stay in the
//     RuleSet; LXC logs and skips them, and so does the compiler.
//
// Errors are ProfileError(file, 1-based line, message) for everything LXC
// refuses while parsing: the version line, the policy line, unknown actions,
// unknown sections and malformed arg-cmps.
#pragma once

#include <string>
#include <string_view>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

struct LxcImportOptions {
  // LXC 2.x: rules below [x86_64] / [x86] / [x32] apply to that arch only.
  // LXC 3.0 and later (the default, false) add every rule to every context.
  bool honor_arch_sections = false;
};

// Parses policy text; `origin` names the file in errors and RuleSet::origin.
RuleSet parse_lxc_policy(std::string_view text, const std::string& origin,
                         const LxcImportOptions& opts = {});
// Reads `path` and parses it. `origin` defaults to `path`.
RuleSet parse_lxc_policy_file(const std::string& path, const LxcImportOptions& opts = {},
                              std::string origin = {});

}  // namespace secdiff::corpus
