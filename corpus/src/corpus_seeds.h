// Seed corpus from real profiles: format detection, import of any supported
// profile file into filters (RuleSets or raw programs), and the seed inputs a
// rule set suggests (named syscalls, argument boundaries, wrong arch, x32
// numbers, numbers past the syscall table), split into Cases of at most
// kMaxCaseInputs inputs for the fuzzers (oracle/case_codec.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"
#include "oracle/bpf.h"
#include "oracle/case.h"
#include "oracle/kernel_profile.h"

namespace secdiff::corpus {

enum class ProfileFormat {
  DockerJson,       // Docker/Moby, Podman, OCI JSON
  Lxc,              // LXC policy v1/v2 (also LXD)
  SystemdTsv,       // package, version, unit, directive, value rows
  SystemdUnit,      // a unit file / service.conf
  FirejailTsv,      // profile, directive line rows
  FirejailProfile,  // a .profile file
  RawBpf,           // little-endian struct sock_filter array
};
const char* profile_format_name(ProfileFormat f);

// Guesses the format from the contents (and the file name for .profile);
// nullopt if it is none of them.
std::optional<ProfileFormat> detect_profile_format(const std::string& path, std::string_view bytes);

struct ProfileImportOptions {
  // libseccomp arches to keep, x86_64 first where possible.
  std::vector<std::string> arches = {"x86_64", "x86", "x32"};
  std::string docker_kernel = "6.1";  // host kernel release for Docker minKernel
  // Group tables; empty: groups-v252.json / syscalls.txt next to the profile.
  std::string systemd_groups, firejail_groups;
  // systemd TSV units / firejail TSV profiles to keep (exact unit path, its
  // file name, or the profile name); empty: all of them.
  std::vector<std::string> select;
};

// One filter a profile yields: a rule set to compile, or a program as is.
struct ImportedFilter {
  std::string name;             // "default", "systemd-journald.service.SystemCallFilter", ...
  std::optional<RuleSet> rules;  // set unless the file is raw BPF
  Program program;              // raw BPF only
};

struct ImportedProfile {
  std::string path;
  ProfileFormat format = ProfileFormat::DockerJson;
  std::vector<ImportedFilter> filters;
};

// Reads and imports a profile. Throws ProfileError ("file:line: message").
ImportedProfile import_profile_file(const std::string& path, const ProfileImportOptions& opts = {});

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

// Cases "<name>-<k>" holding `prog` (flags 0) and at most `cap` inputs each.
std::vector<Case> split_cases(const std::string& name, const Program& prog,
                              const std::vector<CaseInput>& inputs, size_t cap);

}  // namespace secdiff::corpus
