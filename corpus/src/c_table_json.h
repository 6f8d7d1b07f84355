// Importer for seccomp rule tables transcribed by hand from C to JSON (format
// F2 of ../shared/profiles: flatpak's setup_seccomp(), QEMU's -sandbox
// denylist). Both programs call seccomp_init(SCMP_ACT_ALLOW) and add deny rules
// for the native arch (x86_64).
//
//   * `defaultAction` and each rule's `action` are SCMP_ACT_* names, also
//     written SCMP_ACT_ERRNO(EPERM) or with a remark after a space
//     ("SCMP_ACT_KILL (0)"); a bare SCMP_ACT_ERRNO takes the rule's `errno`
//     (a name or a number).
//   * `args` are {index, op, value[, mask]} with SCMP_CMP_* operators; for
//     SCMP_CMP_MASKED_EQ `mask` is the mask and `value` the datum. Numbers are
//     JSON integers or strings holding one ("0xFFFFFFFF", "TIOCSTI (0x5412)":
//     the number in parentheses).
//   * The runtime's default invocation is modelled: a rule's `when` holds for
//     "not multiarch" and "not --devel" (flatpak run without those options)
//     and not otherwise (the rule is left out, with a note).
//   * A `socket` argument without a number is built from
//     `socket_family_allowlist` (the families without a `when`), as flatpak
//     does: an EQ rule for each family below the last allowed one that is not
//     allowed, and GE last+1.
//   * With `sets` (QEMU), rules belong to -sandbox option sets: filter "on"
//     has the sets `-sandbox on` enables (described "always ..." or "on unless
//     ..."), filter "all" every set. Otherwise there is one filter "default".
//     If `action_note` says TRAP is replaced by KILL_PROCESS (QEMU on kernels
//     >= 4.14), it is.
//
// Errors are ProfileError(file, line, message).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

struct CTableImportOptions {
  std::vector<std::string> arches = {"x86_64", "x86", "x32"};  // chosen libseccomp arches
};

struct CTableFilter {
  std::string name;  // "default", or QEMU's "on" / "all"
  RuleSet rules;
};

// An object with `defaultAction` and `rules` but no `syscalls` (Docker's key).
bool looks_like_c_table_json(std::string_view text);

std::vector<CTableFilter> parse_c_table_json(std::string_view text, const std::string& origin,
                                             const CTableImportOptions& opts = {});

}  // namespace secdiff::corpus
