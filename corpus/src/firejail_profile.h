// Importer for firejail's seccomp profile directives (firejail 0.9.72) and the
// syscall groups of syscalls.txt (`@group=a,b,@other`).
//
// firejail does not use libseccomp: fseccomp writes linear cBPF itself
// (src/fseccomp/seccomp.c, seccomp_secondary.c) and firejail installs several
// filters (src/firejail/seccomp.c seccomp_filter_drop/keep, sandbox.c). Each
// filter becomes one RuleSet, named by FirejailFilter::kind after the file
// firejail would load (see profiles/firejail/bpf/):
//
//   "seccomp"                 x86_64 filter: `seccomp [list]` denies
//                             @default-nodebuggers (@default with
//                             allow-debuggers) plus the list; `seccomp.drop`
//                             only the list; `seccomp.keep` allows only
//                             @default-keep plus the list. `!name` exempts a
//                             name (firejail puts an allow rule first);
//                             `name:ERRNO` sets that name's errno; `$N` is a
//                             syscall number.
//   "seccomp.32"              the hard-coded i386 deny-list firejail loads next
//                             to the default x86_64 filter (seccomp_secondary_32)
//   "seccomp.32.list"         `seccomp.32[.drop|.keep] list`: the same
//                             construction for i386 names ("default32 drop")
//   "seccomp.block_secondary" `seccomp.block-secondary`: instead of
//                             "seccomp.32", every non-x86_64 arch and x32 is
//                             denied and personality() is allowed only for 0
//                             and 0xffffffff
//   "seccomp.mdwx", "seccomp.mdwx.32"  memory-deny-write-execute
//
// Deny action: ERRNO(EPERM), firejail's default seccomp-error-action
// (`seccomp-error-action` changes it); default action ALLOW for deny-lists.
//
// Arches. firejail's x86_64 filters return ALLOW for other arches and deny
// x32 syscalls (nr >= 0x40000000) with the error action; its i386 filters
// return ALLOW for everything that is not i386. libseccomp can express the
// x86_64 case only as a two-arch filter: RuleSet::arches {x86_64, x86} with
// every rule restricted to x86_64 (so i386 calls meet the default ALLOW) and
// bad_arch_action = the error action (x32 falls to it). Compile such a RuleSet
// for both arches to get firejail's behaviour; compiled for x86_64 alone,
// i386 calls get the error action instead. The i386 filters are {x86} with
// bad_arch_action ALLOW. seccomp.keep cannot be expressed that way (its
// default is the error action): it is {x86_64} with bad_arch ALLOW, so x32
// calls are allowed where firejail denies them (a note says so).
//
// Names are kept as written; the known 0.9.72 typo `set_mempolicyvmsplice`
// in @default of syscalls.txt stays an unknown name (firejail skips names it
// cannot resolve, and so does the compiler). Note that the filters Debian
// ships precompiled (profiles/firejail/bpf/seccomp, seccomp.debug) do deny
// set_mempolicy and vmsplice. Rules are exact, as fseccomp compares syscall
// numbers only; still, libseccomp 2.5.4 adds x86 socket-family names as
// socketcall(2) plus the direct number and refuses exact x86 IPC rules with
// arguments (shmat is ipc(2) only there), so mdwx.32's direct shmat (397)
// test cannot be reproduced. libseccomp also lets nr -1 pass its x32 check,
// which firejail's x86_64 filters deny.
//
// Not modelled (a note names them): `protocol`, `restrict-namespaces`,
// `include` of other files (each file of the TSV is read on its own).
//
// Errors are ProfileError(file, 1-based line, message): characters firejail
// refuses in a list, empty lists, unknown @groups, group cycles, unknown
// seccomp directives.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

// firejail's groups: "@name" -> entries (names and nested "@groups").
struct FirejailGroups {
  std::string origin;
  std::map<std::string, std::vector<std::string>, std::less<>> members;
  std::map<std::string, int, std::less<>> lines;  // "@name" -> 1-based line in origin
};

// Reads the `@name=a,b,@c` lines of syscalls.txt (other lines are ignored).
// A group defined twice is an error; so are unknown nested groups and cycles.
FirejailGroups parse_firejail_groups(std::string_view text, const std::string& origin);
FirejailGroups parse_firejail_groups_file(const std::string& path, std::string origin = {});

// The names of `group` ("@default-nodebuggers"), nested groups expanded, in
// order, without duplicates. Throws ProfileError for an unknown group.
std::vector<std::string> expand_firejail_group(const FirejailGroups& groups, std::string_view group);

struct FirejailFilter {
  std::string kind;  // "seccomp", "seccomp.32", "seccomp.32.list", "seccomp.block_secondary", ...
  RuleSet rules;
};

struct FirejailProfile {
  std::string name;                     // e.g. "firefox.profile"
  std::vector<FirejailFilter> filters;  // empty if the profile enables no seccomp filter
  std::vector<std::string> notes;
};

// Rows "profile<TAB>directive line" ('#' lines are comments), one profile per
// distinct first column, in order of first appearance.
std::vector<FirejailProfile> parse_firejail_profile_lines_tsv(std::string_view text,
                                                              const std::string& origin,
                                                              const FirejailGroups& groups);
std::vector<FirejailProfile> parse_firejail_profile_lines_tsv_file(const std::string& path,
                                                                   const FirejailGroups& groups,
                                                                   std::string origin = {});

// A whole .profile file: the seccomp-related lines are read, all others ignored.
FirejailProfile parse_firejail_profile(std::string_view text, const std::string& origin,
                                       const FirejailGroups& groups);

}  // namespace secdiff::corpus
