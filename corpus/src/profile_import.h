// Any supported profile file -> filters: format detection and the importer
// dispatch behind `secdiff corpus import` / `report`. Each filter is a RuleSet
// to compile with libseccomp, or a raw program.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"
#include "oracle/bpf.h"

namespace secdiff::corpus {

enum class ProfileFormat {
  DockerJson,       // Docker/Moby, Podman, OCI JSON
  Lxc,              // LXC policy v1/v2 (also LXD)
  SystemdTsv,       // package, version, unit, directive, value rows
  SystemdUnit,      // a unit file / service.conf
  FirejailTsv,      // profile, directive line rows
  FirejailProfile,  // a .profile file
  RawBpf,           // little-endian struct sock_filter array
  Firecracker,      // Firecracker seccompiler JSON
  Minijail,         // minijail .policy (crosvm)
  Bionic,           // Android bionic SYSCALLS.TXT / SECCOMP_*.TXT
  CTable,           // C tables transcribed to JSON (flatpak, QEMU)
};
const char* profile_format_name(ProfileFormat f);

// Guesses the format from the contents (and the file name for .profile,
// .policy and bionic's list names); nullopt if it is none of them, or a
// file that goes with profiles but is none (see not_a_profile).
std::optional<ProfileFormat> detect_profile_format(const std::string& path, std::string_view bytes);

// Why a file next to the profiles is not one (group tables, constants.json,
// @frequency files, READMEs), or nullopt.
std::optional<std::string> not_a_profile(const std::string& path, std::string_view bytes);

struct ProfileImportOptions {
  // libseccomp arches to keep, x86_64 first where possible.
  std::vector<std::string> arches = {"x86_64", "x86", "x32"};
  std::string docker_kernel = "6.1";  // host kernel release for Docker minKernel
  // Group tables; empty: groups-v252.json / syscalls.txt next to the profile.
  std::string systemd_groups, firejail_groups;
  // systemd TSV units / firejail TSV profiles to keep (exact unit path, its
  // file name, or the profile name); empty: all of them.
  std::vector<std::string> select;
  // minijail: constants.json (empty: next to the policy), the kill action and
  // compile_seccomp_policy's --default-action.
  std::string minijail_constants;
  uint32_t minijail_kill_action = 0;  // SECCOMP_RET_KILL_THREAD
  std::optional<uint32_t> minijail_default_action;
  // Firecracker target arch (empty: from the file name).
  std::string firecracker_target;
};

// One filter a profile yields: a rule set to compile, or a program as is.
struct ImportedFilter {
  std::string name;             // "default", "systemd-journald.service.SystemCallFilter", "vmm", ...
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

}  // namespace secdiff::corpus
