// Seed corpus from real profiles (imported with profile_import.h): the seed
// inputs a rule set suggests (named syscalls, argument boundaries, wrong arch, x32
// numbers, numbers past the syscall table), split into Cases of at most
// kMaxCaseInputs inputs for the fuzzers (oracle/case_codec.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/profile_import.h"
#include "corpus/src/ruleset.h"
#include "oracle/bpf.h"
#include "oracle/case.h"
#include "oracle/kernel_profile.h"

namespace secdiff::corpus {

// libseccomp arch name ("x86_64", "x86", "x32") -> the oracle's Arch.
std::optional<Arch> arch_from_libseccomp(std::string_view name);

// Seed inputs for `rs` compiled for `filter_arches`, in order of interest
// (past the table, argument boundaries, wrong arch / x32, named syscalls),
// without duplicates.
std::vector<CaseInput> seed_inputs(const RuleSet& rs, const std::vector<Arch>& filter_arches,
                                   const KernelProfile& kp);
// Seed inputs for a program without rules: the constants its jumps compare
// with, read as syscall numbers (each side), on every arch, plus past-the-table numbers.
std::vector<CaseInput> seed_inputs(const Program& p, const KernelProfile& kp);

// Names in `rs` that have no syscall number in kp's tables on any of
// `filter_arches` (libseccomp makes no code for them there), sorted.
std::vector<std::string> names_without_number(const RuleSet& rs, const std::vector<Arch>& filter_arches,
                                              const KernelProfile& kp);

// Cases "<name>-<k>" holding `prog` (flags 0) and at most `cap` inputs each.
std::vector<Case> split_cases(const std::string& name, const Program& prog,
                              const std::vector<CaseInput>& inputs, size_t cap);

}  // namespace secdiff::corpus
