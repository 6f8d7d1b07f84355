// RuleSet -> cBPF with the host's libseccomp (2.5.4 on bookworm), the way
// runc drives it. Nothing is loaded into the kernel: the filter is exported
// with seccomp_export_bpf() to a memfd and read back.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "corpus/src/ruleset.h"
#include "oracle/bpf.h"

namespace secdiff::corpus {

struct CompileOptions {
  // Arches in filter order (libseccomp names), each one of RuleSet::arches.
  // Empty: RuleSet::arches.
  std::vector<std::string> arches;
  int optimize = 1;  // SCMP_FLTATR_CTL_OPTIMIZE: 1 = priority order, 2 = binary tree
  std::optional<uint32_t> bad_arch_action;  // overrides RuleSet::bad_arch_action
  // false: one context per arch, merged (seccomp_merge), so a rule libseccomp
  // refuses for one arch stays on the others. true: one multi-arch context as
  // runc uses, where such a rule is dropped for every arch. Both export the
  // same program when every rule is accepted.
  bool single_context = false;
};

struct CompileResult {
  Program prog;
  std::vector<std::string> unknown_names;  // not known to libseccomp; skipped, as runc does
  std::vector<std::string> warnings;       // rules libseccomp refused (per arch), arches left out
};

// libseccomp failures that leave no filter (bad default action, no arch, export).
class CompileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

CompileResult compile_ruleset(const RuleSet& rs, const CompileOptions& opts = {});

// Host libseccomp version, e.g. "2.5.4".
std::string libseccomp_version();

}  // namespace secdiff::corpus
