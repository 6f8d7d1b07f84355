// minijail policies (corpus/src/minijail_policy.h): expressions to libseccomp
// rules, directives, includes, errors, and crosvm's x86_64 policies from
// SECDIFF_PROFILES_DIR.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "corpus/src/minijail_policy.h"
#include "corpus/src/seccomp_compile.h"
#include "oracle/chain.h"
#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"

namespace secdiff::corpus {
namespace {

namespace fs = std::filesystem;

const std::string kProfiles = SECDIFF_PROFILES_DIR;
const std::string kCrosvm = kProfiles + "/crosvm/x86_64";

// A temporary directory with policy files.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("secdiff-minijail-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

RuleSet parse(const std::string& text, const MinijailImportOptions& o = {}) {
  // No constants.json next to an in-memory policy: only numbers and errno names.
  return parse_minijail_policy(text, "/nonexistent/p.policy", o);
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ProfileError& e) {
    return e.what();
  }
  return "no error";
}

std::vector<std::vector<ArgCmp>> args_of(const RuleSet& rs, std::string_view name) {
  std::vector<std::vector<ArgCmp>> out;
  for (const auto& r : rs.rules)
    if (r.syscall == name) out.push_back(r.args);
  return out;
}

FilterChain install(const RuleSet& rs) {
  FilterChain chain;
  const LoadResult lr = chain.install(compile_ruleset(rs).prog, 0);
  EXPECT_TRUE(lr.ok()) << lr.reason;
  return chain;
}

uint32_t eval(const FilterChain& chain, std::string_view name, std::vector<uint64_t> args = {}) {
  SeccompData d;
  d.arch = AUDIT_ARCH_X86_64;
  d.nr = syscall_number(Arch::X86_64, name).value();
  for (size_t i = 0; i < args.size(); ++i) d.args[i] = args[i];
  return seccomp_run_filters(chain, d).ret;
}

using Alts = std::vector<std::vector<ArgCmp>>;

TEST(CorpusMinijail, ExpressionsBecomeRules) {
  struct Case {
    const char* line;
    Alts want;  // one entry per rule for `read`
  };
  const uint64_t all = ~uint64_t{0};
  const Case cases[] = {
      {"read: 1", {{}}},
      {"read: allow", {{}}},
      {"read: arg0 == 3", {{{0, ArgCmp::EQ, 3, 0}}}},
      {"read: arg0 != 3", {{{0, ArgCmp::NE, 3, 0}}}},
      {"read: arg1 < 3", {{{1, ArgCmp::LT, 3, 0}}}},
      {"read: arg1 <= 3", {{{1, ArgCmp::LE, 3, 0}}}},
      {"read: arg2 > 0x10", {{{2, ArgCmp::GT, 16, 0}}}},
      {"read: arg2 >= 010", {{{2, ArgCmp::GE, 8, 0}}}},
      {"read: arg0 in 0x3", {{{0, ArgCmp::MASKED_EQ, all & ~uint64_t{3}, 0}}}},
      {"read: arg0 in ~4", {{{0, ArgCmp::MASKED_EQ, 4, 0}}}},
      {"read: arg0 in ~0", {{}}},  // always holds
      {"read: arg1 & 0x6400",
       {{{1, ArgCmp::MASKED_EQ, 0x400, 0x400}}, {{1, ArgCmp::MASKED_EQ, 0x2000, 0x2000}},
        {{1, ArgCmp::MASKED_EQ, 0x4000, 0x4000}}}},
      {"read: arg0 == 1 || arg0 == 2", {{{0, ArgCmp::EQ, 1, 0}}, {{0, ArgCmp::EQ, 2, 0}}}},
      {"read: arg0 == 1 && arg1 == 2", {{{0, ArgCmp::EQ, 1, 0}, {1, ArgCmp::EQ, 2, 0}}}},
      {"read: arg0 == 1 && arg1 & 3 || arg2 == 4",
       {{{0, ArgCmp::EQ, 1, 0}, {1, ArgCmp::MASKED_EQ, 1, 1}},
        {{0, ArgCmp::EQ, 1, 0}, {1, ArgCmp::MASKED_EQ, 2, 2}},
        {{2, ArgCmp::EQ, 4, 0}}}},
      {"read: arg0 == 1|2|(4|8)", {{{0, ArgCmp::EQ, 15, 0}}}},
      {"read: arg0 == -1", {{{0, ArgCmp::EQ, all, 0}}}},
      {"read: arg0 == ~(1|2)", {{{0, ArgCmp::EQ, all & ~uint64_t{3}, 0}}}},
      {"read: arg0 == 1 \\\n  || arg0 == 2", {{{0, ArgCmp::EQ, 1, 0}}, {{0, ArgCmp::EQ, 2, 0}}}},
      {"{read, write}: arg0 == 1", {{{0, ArgCmp::EQ, 1, 0}}}},
      {"read[arch=x86_64,aarch64]: 1", {{}}},
      {"read[arch=aarch64]: 1", {}},
  };
  for (const auto& c : cases) {
    const RuleSet rs = parse(c.line);
    EXPECT_EQ(args_of(rs, "read"), c.want) << c.line;
    for (const auto& r : rs.rules) EXPECT_EQ(r.action, SECCOMP_RET_ALLOW) << c.line;
  }
  EXPECT_EQ(args_of(parse("{read, write}: arg0 == 1"), "write").size(), 1u);
}

TEST(CorpusMinijail, ActionsAndDefaults) {
  struct Case {
    const char* line;
    uint32_t want;
  };
  const Case cases[] = {
      {"read: return ENOENT", SECCOMP_RET_ERRNO | 2},
      {"read: return 13", SECCOMP_RET_ERRNO | 13},
      {"read: kill", SECCOMP_RET_KILL_THREAD},
      {"read: kill-process", SECCOMP_RET_KILL_PROCESS},
      {"read: trap", SECCOMP_RET_TRAP},
      {"read: log", SECCOMP_RET_LOG},
      {"read: trace", SECCOMP_RET_TRACE},
      {"read: user-notify", SECCOMP_RET_USER_NOTIF},
      {"read: arg0 == 1; return EPERM", SECCOMP_RET_ERRNO | 1},
      {"read: arg0 == 1; trap", SECCOMP_RET_TRAP},
  };
  for (const auto& c : cases) {
    const RuleSet rs = parse(c.line);
    ASSERT_EQ(rs.rules.size(), 1u) << c.line;
    EXPECT_EQ(rs.rules[0].action, c.want) << c.line;
  }
  // minijail's default: kill (thread), for a wrong arch too.
  const RuleSet rs = parse("read: 1\n");
  EXPECT_EQ(rs.default_action, SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(rs.bad_arch_action, SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(rs.arches, std::vector<std::string>{"x86_64"});
  EXPECT_EQ(parse("@default trap\nread: 1\n").default_action, SECCOMP_RET_TRAP);
  EXPECT_EQ(parse("@default kill-process\nread: 1\n").default_action, SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(parse("@denylist\nptrace: return EPERM\n").default_action, SECCOMP_RET_ALLOW);
  MinijailImportOptions o;
  o.default_action = SECCOMP_RET_TRAP;  // crosvm's --default-action trap
  EXPECT_EQ(parse("@default kill\nread: 1\n", o).default_action, SECCOMP_RET_TRAP);
  o = {};
  o.kill_action = SECCOMP_RET_KILL_PROCESS;  // --use-kill-process
  const RuleSet kp = parse("read: 1\nwrite: kill\n", o);
  EXPECT_EQ(kp.default_action, SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(kp.rules.at(1).action, SECCOMP_RET_KILL_PROCESS);
  // `0`: no rule, i.e. the default action, with a note.
  const RuleSet zero = parse("read: 0\n");
  ASSERT_EQ(zero.rules.size(), 1u);
  EXPECT_EQ(zero.rules[0].action, zero.default_action);
  ASSERT_EQ(zero.notes.size(), 2u);  // no constants.json; `0`
  EXPECT_NE(zero.notes[1].find("minijail rejects"), std::string::npos);
}

TEST(CorpusMinijail, FilterOrderAndUnconditionalActions) {
  // Conditional filters then an explicit unconditional action other than the
  // default: libseccomp cannot express the "else"; the unconditional one stays.
  const RuleSet rs = parse("ioctl: arg1 == 5\nioctl: return EPERM\n");
  ASSERT_EQ(rs.rules.size(), 1u);
  EXPECT_EQ(rs.rules[0].action, SECCOMP_RET_ERRNO | 1);
  EXPECT_TRUE(rs.rules[0].args.empty());
  EXPECT_NE(rs.notes.back().find("cannot be expressed"), std::string::npos) << rs.notes.back();
  // A conditional allow then `1`: the syscall is allowed outright.
  const RuleSet both = parse("tgkill: arg2 == 6\ntgkill: 1\n");
  ASSERT_EQ(both.rules.size(), 1u);
  EXPECT_TRUE(both.rules[0].args.empty());
  // Filters of one syscall from two lines OR.
  EXPECT_EQ(args_of(parse("prctl: arg0 == 1\nprctl: arg0 == 2\n"), "prctl").size(), 2u);
}

TEST(CorpusMinijail, IncludesConstantsAndFrequency) {
  TempDir d;
  d.write("sub/constants.json",  // next to the policy
          R"({"arch_name": "x86_64", "bits": 64, "arch_nr": 3221225534,
              "constants": {"PROT_EXEC": 4, "CLONE_THREAD": 65536, "AT_FDCWD": -100},
              "syscalls": {"read": 0}})");
  d.write("sub/common.policy", "read: 1\nclone: arg0 & CLONE_THREAD\n");
  d.write("sub/other.policy", "openat: arg0 == AT_FDCWD\n");
  const std::string top =
      d.write("sub/top.policy",
              "@frequency ./nonexistent.frequency\n"
              "@include /usr/share/policy/crosvm/common.policy\n"
              "@include ./other.policy\n"
              "mmap: arg2 in ~PROT_EXEC\n");
  const RuleSet rs = parse_minijail_policy_file(top);
  EXPECT_EQ(args_of(rs, "read"), Alts{{}});
  EXPECT_EQ(args_of(rs, "clone"), (Alts{{{0, ArgCmp::MASKED_EQ, 0x10000, 0x10000}}}));
  EXPECT_EQ(args_of(rs, "openat"), (Alts{{{0, ArgCmp::EQ, static_cast<uint64_t>(-100), 0}}}));
  EXPECT_EQ(args_of(rs, "mmap"), (Alts{{{2, ArgCmp::MASKED_EQ, 4, 0}}}));
  // Rules from an include point at the @include line of the policy.
  EXPECT_EQ(rs.rules.at(0).source_line, 2);
  EXPECT_EQ(rs.rules.back().source_line, 4);
  // A given constants.json wins; a 32-bit x86 table makes an x86 rule set.
  const std::string k32 = d.write("k32.json", R"({"arch_name": "x86", "bits": 32, "arch_nr": 1073741827,
                                                  "constants": {}, "syscalls": {}})");
  MinijailImportOptions o;
  o.constants_path = k32;
  const RuleSet x86 = parse_minijail_policy(std::string("read: arg0 in ~4\n"), top, o);
  EXPECT_EQ(x86.arches, std::vector<std::string>{"x86"});
  EXPECT_EQ(args_of(x86, "read"), (Alts{{{0, ArgCmp::MASKED_EQ, 4, 0}}}));
}

TEST(CorpusMinijail, BrokenInputNamesFileAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"read: 1\nwrite arg0 == 1\n", "p.policy:2: invalid colon"},
      {"read: 1\n\nwrite: arg0 === 1\n", "p.policy:3: invalid"},
      {"read: 1\nwrite: arg0 == PROT_FOO\n", "p.policy:2: invalid constant 'PROT_FOO'"},
      {"read: arg6 == 1\n", "p.policy:1: invalid argument 'arg6'"},
      {"read: arg0 == 1 ||\n", "p.policy:1: missing argument"},
      {"read: arg0 == (1|2\n", "p.policy:1: unclosed parenthesis"},
      {"read: 2\n", "p.policy:1: invalid action '2'"},
      {"read: return\n", "p.policy:1: missing return value"},
      {"\nread: 1\nread: 1\n", "p.policy:3: syscall read already had an unconditional action"},
      {"read: arg0 == 0x10000000000000000\n", "p.policy:1: unsigned overflow"},
      {"read: arg0 == 1 $\n", "p.policy:1: invalid token '$'"},
      {"@include ./missing.policy\n", "p.policy:1: could not @include ./missing.policy"},
      {"@default allow\n", "p.policy:1: invalid permissive default action 'allow'"},
      {"read: 1 extra\n", "p.policy:1: extra tokens"},
  };
  for (const auto& [text, want] : cases)
    EXPECT_NE(error_of(text).find(want), std::string::npos) << "got: " << error_of(text) << "\nwant: " << want;
  // An error in an included file names that file.
  TempDir d;
  d.write("bad.policy", "read: 1\nwrite: arg0 ==\n");
  const std::string top = d.write("top.policy", "@include ./bad.policy\n");
  try {
    parse_minijail_policy_file(top);
    FAIL() << "no error";
  } catch (const ProfileError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.policy:2: empty constant"), std::string::npos) << e.what();
  }
}

TEST(CorpusMinijail, EveryCrosvmPolicyImportsAndCompiles) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(kCrosvm)) {
    if (e.path().extension() != ".policy") continue;
    const RuleSet rs = parse_minijail_policy_file(e.path().string());
    EXPECT_EQ(rs.arches, std::vector<std::string>{"x86_64"}) << e.path();
    EXPECT_TRUE(rs.notes.empty()) << e.path() << ": " << rs.notes.at(0);
    const auto cr = compile_ruleset(rs);
    EXPECT_TRUE(cr.unknown_names.empty()) << e.path();
    EXPECT_TRUE(cr.warnings.empty()) << e.path() << ": " << cr.warnings.at(0);
    FilterChain chain;
    EXPECT_TRUE(chain.install(cr.prog).ok()) << e.path();
    ++n;
  }
  EXPECT_EQ(n, 46u);
}

TEST(CorpusMinijail, BlockDeviceFacts) {
  const RuleSet rs = parse_minijail_policy_file(kCrosvm + "/block_device.policy");
  EXPECT_EQ(rs.default_action, SECCOMP_RET_KILL_THREAD);
  // common_device.policy: mmap: arg2 in ~PROT_EXEC; clone: arg0 & CLONE_THREAD.
  EXPECT_EQ(args_of(rs, "mmap"), (Alts{{{2, ArgCmp::MASKED_EQ, 4, 0}}}));
  EXPECT_EQ(args_of(rs, "clone"), (Alts{{{0, ArgCmp::MASKED_EQ, 0x10000, 0x10000}}}));
  // ioctl from common_device.policy (2 values) and block.policy (1).
  EXPECT_EQ(args_of(rs, "ioctl"), (Alts{{{1, ArgCmp::EQ, 0xc018aa3f, 0}}, {{1, ArgCmp::EQ, 0xaa00, 0}},
                                        {{1, ArgCmp::EQ, 0x1277, 0}}}));
  const FilterChain chain = install(rs);
  EXPECT_EQ(eval(chain, "read"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "ptrace"), SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(eval(chain, "mmap", {0, 4096, 3}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "mmap", {0, 4096, 5}), SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(eval(chain, "clone", {0x10000 | 0x100}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "clone", {0x100}), SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(eval(chain, "ioctl", {3, 0x1277}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "ioctl", {3, 0x1278}), SECCOMP_RET_KILL_THREAD);
}

TEST(CorpusMinijail, BitTestBecomesOneRulePerBit) {
  // video_device.policy: `ioctl: arg1 & 0x6400` (any of the bits set).
  const RuleSet rs = parse_minijail_policy_file(kCrosvm + "/video_device.policy");
  EXPECT_EQ(args_of(rs, "ioctl"), (Alts{{{1, ArgCmp::MASKED_EQ, 0x400, 0x400}},
                                        {{1, ArgCmp::MASKED_EQ, 0x2000, 0x2000}},
                                        {{1, ArgCmp::MASKED_EQ, 0x4000, 0x4000}},
                                        {{1, ArgCmp::EQ, 0xc018aa3f, 0}},
                                        {{1, ArgCmp::EQ, 0xaa00, 0}}}));
  const FilterChain chain = install(rs);
  EXPECT_EQ(eval(chain, "ioctl", {3, 0x2000}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "ioctl", {3, 0xc0046400}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "ioctl", {3, 0x8000}), SECCOMP_RET_KILL_THREAD);
}

}  // namespace
}  // namespace secdiff::corpus
