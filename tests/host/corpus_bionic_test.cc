// Android bionic syscall lists (corpus/src/bionic_syscalls.h): line parsing,
// genseccomp's app and system policies from SECDIFF_PROFILES_DIR/android-bionic,
// lists imported alone, and broken input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "corpus/src/bionic_syscalls.h"
#include "corpus/src/seccomp_compile.h"
#include "oracle/chain.h"
#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"

namespace secdiff::corpus {
namespace {

const std::string kDir = std::string(SECDIFF_PROFILES_DIR) + "/android-bionic";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<BionicFilter> import(const std::string& name) {
  const std::string path = kDir + "/" + name;
  return import_bionic(read_text(path), path);
}

const Rule* rule_for(const RuleSet& rs, std::string_view name) {
  for (const auto& r : rs.rules)
    if (r.syscall == name) return &r;
  return nullptr;
}

FilterChain install(const RuleSet& rs) {
  FilterChain chain;
  const LoadResult lr = chain.install(compile_ruleset(rs).prog, 0);
  EXPECT_TRUE(lr.ok()) << lr.reason;
  return chain;
}

uint32_t eval(const FilterChain& chain, Arch arch, std::string_view name) {
  SeccompData d;
  d.arch = arch == Arch::I386 ? AUDIT_ARCH_I386 : arch == Arch::X86_64 ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_X86_64;
  d.nr = syscall_number(arch, name).value();
  if (arch == Arch::X32) d.nr = static_cast<int32_t>(d.nr | X32_SYSCALL_BIT);
  return seccomp_run_filters(chain, d).ret;
}

std::string error_of(const std::string& text) {
  try {
    parse_bionic_list(text, "SYSCALLS.TXT");
  } catch (const ProfileError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CorpusBionic, LineFormat) {
  struct Case {
    const char* line;
    const char* name;
    std::vector<std::string> arches;
  };
  const Case cases[] = {
      {"getuid:getuid32()   lp32", "getuid32", {"arm", "x86"}},
      {"getuid:getuid()     lp64", "getuid", {"arm64", "riscv64", "x86_64"}},
      {"__socket:socketcall:1(int, int, int) x86", "socketcall", {"x86"}},
      {"_exit|_Exit:exit_group(int)  all", "exit_group", {"arm", "arm64", "riscv64", "x86", "x86_64"}},
      {"vfork|fork2()\tarm,x86,x86_64", "vfork", {"arm", "x86", "x86_64"}},
      {"open(const char *path, int oflag, ... ) lp32,x86_64", "open", {"arm", "x86", "x86_64"}},
      {"int pipe(int pipefd[2])  x86", "pipe", {"x86"}},
      {"sync_file_range(int, off64_t, off64_t, unsigned int) x86,lp64", "sync_file_range",
       {"x86", "arm64", "riscv64", "x86_64"}},
  };
  for (const auto& c : cases) {
    const BionicList l = parse_bionic_list(std::string("# comment\n\n") + c.line + "\n", "t");
    ASSERT_EQ(l.entries.size(), 1u) << c.line;
    EXPECT_EQ(l.entries[0].name, c.name) << c.line;
    EXPECT_EQ(l.entries[0].arches, c.arches) << c.line;
    EXPECT_EQ(l.entries[0].line, 3);
  }
  const BionicList p = parse_bionic_list("# priority\nfutex\n  ioctl \n", "SECCOMP_PRIORITY.TXT", true);
  ASSERT_EQ(p.entries.size(), 2u);
  EXPECT_EQ(p.entries[1].name, "ioctl");
}

TEST(CorpusBionic, BrokenInputNamesFileAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"read(int) all\nwrite int) all\n", "SYSCALLS.TXT:2: missing left parenthesis"},
      {"# x\nread(int all\n", "SYSCALLS.TXT:2: missing or misplaced right parenthesis"},
      {"read(int) all\n\nwrite(int) x86,sparc\n", "SYSCALLS.TXT:3: invalid syscall architecture 'sparc'"},
      {"read(int)\n", "SYSCALLS.TXT:1: missing architecture list"},
      {"read:(int) all\n", "SYSCALLS.TXT:1: misplaced colon"},
      {"(int) all\n", "SYSCALLS.TXT:1: missing syscall name"},
  };
  for (const auto& [text, want] : cases)
    EXPECT_NE(error_of(text).find(want), std::string::npos) << "got: " << error_of(text) << "\nwant: " << want;
  // A blocklisted name that SYSCALLS.TXT lacks: genseccomp aborts.
  const BionicList base = parse_bionic_list("read(int) all\n", "SYSCALLS.TXT");
  const BionicList block = parse_bionic_list("# b\nwrite(int) x86\n", "SECCOMP_BLOCKLIST_APP.TXT");
  try {
    bionic_policy(base, {}, {&block}, {"x86_64", "x86"});
    FAIL() << "no error";
  } catch (const ProfileError& e) {
    EXPECT_NE(std::string(e.what()).find("SECCOMP_BLOCKLIST_APP.TXT:2: blocklist item write"), std::string::npos)
        << e.what();
  }
}

TEST(CorpusBionic, AppAndSystemPolicies) {
  const auto fs = import("SYSCALLS.TXT");
  ASSERT_EQ(fs.size(), 2u);
  ASSERT_EQ(fs[0].name, "app");
  ASSERT_EQ(fs[1].name, "system");
  const RuleSet& app = fs[0].rules;
  const RuleSet& sys = fs[1].rules;
  EXPECT_EQ(app.default_action, SECCOMP_RET_TRAP);
  EXPECT_EQ(app.bad_arch_action, SECCOMP_RET_TRAP);
  EXPECT_EQ(app.arches, (std::vector<std::string>{"x86_64", "x86"}));
  // Per-arch names: getuid32 only on x86, arch_prctl only on x86_64.
  ASSERT_NE(rule_for(app, "getuid32"), nullptr);
  EXPECT_EQ(rule_for(app, "getuid32")->only_arches, std::vector<std::string>{"x86"});
  EXPECT_EQ(rule_for(app, "arch_prctl")->only_arches, std::vector<std::string>{"x86_64"});
  EXPECT_TRUE(rule_for(app, "read")->only_arches.empty());
  EXPECT_GT(rule_for(app, "read")->source_line, 0);
  EXPECT_EQ(rule_for(app, "swapon"), nullptr);          // BLOCKLIST_COMMON
  EXPECT_EQ(rule_for(sys, "swapon"), nullptr);
  EXPECT_NE(rule_for(sys, "setuid"), nullptr);          // BLOCKLIST_APP only
  EXPECT_EQ(rule_for(sys, "getuid")->only_arches, std::vector<std::string>{"x86_64"});
  EXPECT_TRUE(rule_for(app, "getuid")->only_arches.empty());  // ALLOWLIST_APP adds it for lp32

  const FilterChain a = install(app), s = install(sys);
  EXPECT_EQ(eval(a, Arch::X86_64, "read"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(a, Arch::X86_64, "setuid"), SECCOMP_RET_TRAP);
  EXPECT_EQ(eval(s, Arch::X86_64, "setuid"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(a, Arch::X86_64, "swapon"), SECCOMP_RET_TRAP);
  EXPECT_EQ(eval(a, Arch::X86_64, "bpf"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(a, Arch::I386, "getuid32"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(a, Arch::I386, "getuid"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(s, Arch::I386, "getuid"), SECCOMP_RET_TRAP);
  EXPECT_EQ(eval(a, Arch::I386, "socketcall"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(a, Arch::X32, "read"), SECCOMP_RET_TRAP);  // no x32 in bionic
}

TEST(CorpusBionic, ListsImportedAlone) {
  const auto block = import("SECCOMP_BLOCKLIST_COMMON.TXT");
  ASSERT_EQ(block.size(), 1u);
  EXPECT_EQ(block[0].name, "blocklist");
  const RuleSet& b = block[0].rules;
  EXPECT_EQ(b.default_action, SECCOMP_RET_ALLOW);
  ASSERT_FALSE(b.rules.empty());
  for (const auto& r : b.rules) EXPECT_EQ(r.action, SECCOMP_RET_TRAP);
  const FilterChain bc = install(b);
  EXPECT_EQ(eval(bc, Arch::X86_64, "swapon"), SECCOMP_RET_TRAP);
  EXPECT_EQ(eval(bc, Arch::X86_64, "read"), SECCOMP_RET_ALLOW);

  const auto allow = import("SECCOMP_ALLOWLIST_SYSTEM.TXT");
  ASSERT_EQ(allow.size(), 1u);
  EXPECT_EQ(allow[0].name, "allowlist");
  const FilterChain ac = install(allow[0].rules);
  EXPECT_EQ(eval(ac, Arch::X86_64, "bpf"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(ac, Arch::X86_64, "read"), SECCOMP_RET_TRAP);

  const auto prio = import("SECCOMP_PRIORITY.TXT");
  ASSERT_EQ(prio.size(), 1u);
  EXPECT_EQ(prio[0].name, "priority");
  ASSERT_EQ(prio[0].rules.rules.size(), 2u);
  EXPECT_EQ(prio[0].rules.rules[0].syscall, "futex");

  for (const char* f : {"SECCOMP_ALLOWLIST_APP.TXT", "SECCOMP_ALLOWLIST_COMMON.TXT", "SECCOMP_BLOCKLIST_APP.TXT"}) {
    const auto got = import(f);
    ASSERT_EQ(got.size(), 1u) << f;
    install(got[0].rules);
  }
}

TEST(CorpusBionic, KindAndDetection) {
  EXPECT_EQ(bionic_list_kind("a/SYSCALLS.TXT"), BionicListKind::Syscalls);
  EXPECT_EQ(bionic_list_kind("SECCOMP_BLOCKLIST_APP.TXT"), BionicListKind::Blocklist);
  EXPECT_EQ(bionic_list_kind("SECCOMP_ALLOWLIST_COMMON.TXT"), BionicListKind::Allowlist);
  EXPECT_EQ(bionic_list_kind("SECCOMP_PRIORITY.TXT"), BionicListKind::Priority);
  EXPECT_TRUE(looks_like_bionic_list("list.txt", "# x\nread(int) all\n"));
  EXPECT_TRUE(looks_like_bionic_list("x/SYSCALLS.TXT", ""));
  EXPECT_FALSE(looks_like_bionic_list("syscalls.txt", "@default=a,b\n"));
  EXPECT_FALSE(looks_like_bionic_list("f.txt", "read(int) sometimes\n"));
}

}  // namespace
}  // namespace secdiff::corpus
