// A small rule-set IR that every profile importer (Docker/OCI JSON, LXC,
// systemd, firejail, ...) produces and seccomp_compile.h turns into cBPF with
// libseccomp. It holds what the runtime hands to libseccomp after resolving
// its own conditions (capabilities, kernel version, host arch), nothing more.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace secdiff::corpus {

// One argument comparison, as struct scmp_arg_cmp.
struct ArgCmp {
  unsigned index = 0;  // syscall argument 0..5
  enum Op { NE, LT, LE, EQ, GE, GT, MASKED_EQ } op = EQ;
  uint64_t value = 0;      // MASKED_EQ: the mask (libseccomp datum_a)
  uint64_t value_two = 0;  // MASKED_EQ: the datum compared with arg & mask

  friend bool operator==(const ArgCmp&, const ArgCmp&) = default;
};

// libseccomp spelling without the SCMP_CMP_ prefix ("MASKED_EQ").
std::string_view op_name(ArgCmp::Op op);

// One libseccomp rule: `action` when every comparison in `args` holds (AND).
// Alternatives (OR) are separate rules for the same syscall.
struct Rule {
  std::string syscall;  // name as the profile spells it; may be unknown to libseccomp
  uint32_t action = 0;  // SECCOMP_RET_* with data, e.g. 0x50001 = ERRNO(EPERM)
  std::vector<ArgCmp> args;
  int source_line = 0;  // 1-based line in RuleSet::origin, 0 if unknown
  // Restricts the rule to some of RuleSet::arches (LXC [x86] sections,
  // firejail seccomp.32, ...). Empty: every arch.
  std::vector<std::string> only_arches;
  // seccomp_rule_add_exact_array(): no rewriting for the arch (LXC does this).
  bool exact = false;

  friend bool operator==(const Rule&, const Rule&) = default;
};

struct RuleSet {
  std::string origin;                       // file name used in messages
  uint32_t default_action = 0;              // SECCOMP_RET_* with data
  std::optional<uint32_t> bad_arch_action;  // SCMP_FLTATR_ACT_BADARCH; unset: libseccomp's (KILL)
  std::vector<std::string> arches;          // libseccomp names: x86_64, x86, x32; first = native
  std::vector<Rule> rules;                  // in profile order
  std::vector<std::string> notes;           // importer remarks that are not errors
};

// A profile the importer cannot read. what() is "file:line: message".
class ProfileError : public std::runtime_error {
 public:
  ProfileError(std::string file, int line, std::string message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }  // 1-based, 0 if unknown
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_;
  std::string message_;
};

// errno name -> number (x86 Linux): all of asm-generic/errno-base.h and
// errno.h, the kernel aliases EWOULDBLOCK and EDEADLOCK, and glibc's ENOTSUP.
std::optional<int> errno_from_name(std::string_view name);

// The libseccomp arch names this IR uses.
inline constexpr std::string_view kArchX86_64 = "x86_64";
inline constexpr std::string_view kArchX86 = "x86";
inline constexpr std::string_view kArchX32 = "x32";

}  // namespace secdiff::corpus
