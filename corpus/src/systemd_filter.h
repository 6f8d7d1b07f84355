// Importer for systemd's SystemCallFilter= (with SystemCallErrorNumber= and
// SystemCallArchitectures=), as systemd 252 (bookworm) compiles it on an
// x86_64 host: config_parse_syscall_filter() / seccomp_parse_syscall_filter()
// build a set of syscalls, and apply_syscall_filter() /
// seccomp_load_syscall_filter_set_raw() turn it into one filter per arch
// (seccomp_init_for_arch(): SCMP_FLTATR_ACT_BADARCH=ALLOW, exact rules).
//
//   * The first non-empty SystemCallFilter= decides the mode: a leading `~`
//     makes a deny-list, otherwise an allow-list that starts with @default.
//     Later lines merge: in an allow-list, plain names add and `~` names
//     remove; in a deny-list the other way round. `name:errno` (`~` lines
//     only; `kill` too) gives that syscall its own action. An empty value
//     resets the filter. `@group`s expand recursively from a groups table
//     (groups-v252.json / groups-v257.json); a cycle is an error.
//   * The "negative" action is ERRNO(SystemCallErrorNumber=) or, if unset
//     (or `kill`), KILL_PROCESS. Allow-list: default negative, rules ALLOW.
//     Deny-list: default ALLOW, rules negative.
//   * SystemCallArchitectures=native (or a list of arches) makes systemd load
//     seccomp_restrict_archs(): a filter whose bad-arch action is KILL_THREAD
//     and that blocks every local arch not listed (x86, x32). Then no filter
//     is built for the blocked arches. The RuleSet models both filters as one:
//     bad_arch_action KILL_THREAD and the blocked arches left out. Without it
//     bad_arch_action is ALLOW, as in each of systemd's per-arch filters.
//   * One RuleSet per unit: by default the x86_64 filter only (arches
//     {x86_64}); SystemdImportOptions::arches can add x86 and x32, which
//     stands for systemd's per-arch filters merged into one program.
//   * Unknown syscall names stay in the RuleSet (systemd ignores them; the
//     compiler reports and skips them). Names that are not x86_64 syscalls
//     (e.g. mmap2) give exact rules libseccomp refuses for x86_64, as systemd
//     ignores them there.
//   * Sandboxing directives that systemd compiles into filters of their own
//     (exec_child(), before the arch restriction, for every local arch, bad
//     arch ALLOW, exact rules, default ALLOW), each its own entry when
//     SystemdImportOptions::protect_filters is set:
//       ProtectKernelModules=yes  @module          -> ERRNO(EPERM)
//       ProtectClock=yes          @clock           -> ERRNO(EPERM)
//       PrivateDevices=yes        @raw-io          -> ERRNO(EPERM)
//       ProtectKernelLogs=yes     syslog           -> ERRNO(EPERM)  (seccomp_protect_syslog)
//       ProtectHostname=yes       sethostname, setdomainname -> ERRNO(EPERM)
//     The others (RestrictAddressFamilies=, RestrictNamespaces=,
//     MemoryDenyWriteExecute=, LockPersonality=, RestrictRealtime=,
//     RestrictSUIDSGID=, SystemCallLog=) test arguments in ways that are not
//     modelled; a note names them.
//
// Errors are ProfileError(file, 1-based line, message): malformed rows,
// unknown @groups, bad errno names and unknown arches (systemd itself logs and
// ignores the last three; `strict = false` does the same with a note).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

// systemd's syscall groups: "@name" -> members (names and nested "@groups").
struct SystemdGroups {
  std::string origin;
  std::map<std::string, std::vector<std::string>, std::less<>> members;
  std::map<std::string, int, std::less<>> lines;  // "@name" -> 1-based line in origin
};

// Reads the normalized table {"@group": {"description", "members": [...]}, ...};
// keys without a leading '@' (e.g. "_ungrouped_known") are ignored. Unknown
// nested groups and cycles are ProfileErrors.
SystemdGroups parse_systemd_groups(std::string_view json_text, const std::string& origin);
SystemdGroups parse_systemd_groups_file(const std::string& path, std::string origin = {});

// The syscall names of `group` ("@system-service"), nested groups expanded,
// in table order without duplicates. Throws ProfileError for an unknown group.
std::vector<std::string> expand_systemd_group(const SystemdGroups& groups, std::string_view group);

struct SystemdImportOptions {
  // Arches to model, libseccomp names, x86_64 first ("x86", "x32" optional).
  std::vector<std::string> arches = {"x86_64"};
  // Unknown @group, bad errno, unknown arch, bad booleans: ProfileError
  // (true) or a note (false).
  bool strict = true;
  // Also return the filters of ProtectKernelModules=, ProtectClock=,
  // PrivateDevices=, ProtectKernelLogs= and ProtectHostname=.
  bool protect_filters = true;
};

struct SystemdUnitFilter {
  std::string package;
  std::string version;
  std::string unit;  // e.g. /lib/systemd/system/systemd-journald.service
  // The directive the filter comes from: "SystemCallFilter" (with
  // SystemCallErrorNumber= and SystemCallArchitectures=),
  // "SystemCallArchitectures" (the arch restriction alone), or one of the
  // protect_filters directives.
  std::string filter;
  RuleSet rules;  // origin: the TSV; source lines: TSV lines
};

// Rows "package<TAB>version<TAB>unit<TAB>directive<TAB>value" ('#' lines are
// comments). Returns the filters of each unit, units in order of first
// appearance: first the SystemCallFilter= / SystemCallArchitectures= one (if
// any), then the protect_filters ones.
std::vector<SystemdUnitFilter> parse_systemd_directives_tsv(std::string_view text,
                                                            const std::string& origin,
                                                            const SystemdGroups& groups,
                                                            const SystemdImportOptions& opts = {});
std::vector<SystemdUnitFilter> parse_systemd_directives_tsv_file(
    const std::string& path, const SystemdGroups& groups, const SystemdImportOptions& opts = {},
    std::string origin = {});

// A unit file (or a portable profile's service.conf): `Key=Value` lines of the
// [Service] (and other exec) sections, `#`/`;` comments, `\` continuations.
// The same entries as for one unit of the TSV (package and version empty,
// unit = origin).
std::vector<SystemdUnitFilter> parse_systemd_unit(std::string_view text, const std::string& origin,
                                                  const SystemdGroups& groups,
                                                  const SystemdImportOptions& opts = {});

}  // namespace secdiff::corpus
