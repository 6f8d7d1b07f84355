// Importer for Firecracker's seccompiler JSON (resources/seccomp/*.json, the
// libseccomp-based seccompiler of Firecracker 1.10 and later, src/seccompiler).
//
//   * Each top-level member is a thread category ("vmm", "api", "vcpu") and
//     becomes one RuleSet: seccomp_init(default_action), one rule per `filter`
//     entry with filter_action. Comparisons of one entry AND; entries for the
//     same syscall OR. An entry without `args` allows the syscall outright
//     (libseccomp then drops the other entries' conditions, as it does for
//     seccompiler).
//   * Actions: "allow", "trap", "kill_thread", "kill_process", "log",
//     {"errno": N}, {"trace": N}.
//   * Arguments: {index, type: dword|qword, op, val}; op is eq, ne, lt, le,
//     gt, ge or {"masked_eq": mask}. `dword eq` compares the low 32 bits only:
//     like seccompiler it becomes SCMP_CMP_MASKED_EQ with mask 0xffffffff and
//     datum `val` (libseccomp then tests (hi & 0) == 0 and lo == val). The
//     other operators compare all 64 bits for dword too, as in seccompiler
//     (a note says so when a file uses them); masked_eq is (arg & mask) == val.
//   * Arches: seccompiler compiles for one target. The target comes from the
//     file name (x86_64-..., aarch64-..., riscv64-...) unless given. An x86_64
//     file gives {x86_64}; any other file (aarch64, riscv64, or none such as
//     unimplemented.json) is compiled for the chosen x86 arches with a note,
//     and the names that have no syscall number there are left to the
//     compiler, which skips them (seccompiler itself would refuse the file).
//   * Unknown syscall names stay in the RuleSet; the compiler reports and
//     skips them.
//
// Errors are ProfileError(file, line, message): invalid JSON, missing or
// mistyped fields, unknown actions, operators or types, argument index > 5.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

struct FirecrackerImportOptions {
  std::vector<std::string> arches = {"x86_64", "x86", "x32"};  // libseccomp names
  std::string target;  // "x86_64", "aarch64", "riscv64"; empty: from the file name
};

struct FirecrackerFilter {
  std::string thread;  // "vmm", "api", "vcpu", ...
  RuleSet rules;
};

// Target arch in a seccompiler file name ("x86_64-unknown-linux-musl.json"
// -> "x86_64"); empty if it names none.
std::string firecracker_target_from_name(std::string_view path);

// Parses `text`; `origin` names the file in errors and RuleSet::origin.
// Filters come in key order, as seccompiler's BTreeMap has them.
std::vector<FirecrackerFilter> parse_firecracker_json(std::string_view text, const std::string& origin,
                                                      const FirecrackerImportOptions& opts = {});

}  // namespace secdiff::corpus
