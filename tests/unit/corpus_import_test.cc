// LXC / LXD policies, systemd SystemCallFilter=, firejail profiles and raw
// cBPF files from SECDIFF_PROFILES_DIR (see its README.md, formats F3-F5, F7):
// import, compile with libseccomp, install in the oracle and run spot checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "corpus/src/firejail_profile.h"
#include "corpus/src/lxc_policy.h"
#include "corpus/src/raw_bpf_import.h"
#include "corpus/src/ruleset.h"
#include "corpus/src/seccomp_compile.h"
#include "corpus/src/systemd_filter.h"
#include "oracle/bpf.h"
#include "oracle/chain.h"
#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"
#include "oracle/seccomp_data.h"
#include "oracle/validator.h"

namespace secdiff::corpus {
namespace {

namespace fs = std::filesystem;

const std::string kProfiles = SECDIFF_PROFILES_DIR;

std::string read_text(const std::string& rel) {
  std::ifstream in(kProfiles + "/" + rel, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr uint32_t ERRNO(uint32_t e) { return SECCOMP_RET_ERRNO | e; }
constexpr uint32_t ALLOW = SECCOMP_RET_ALLOW;
constexpr uint32_t KILL_THREAD = SECCOMP_RET_KILL_THREAD;
constexpr uint32_t KILL_PROCESS = SECCOMP_RET_KILL_PROCESS;
constexpr uint32_t X86_64 = AUDIT_ARCH_X86_64;
constexpr uint32_t I386 = AUDIT_ARCH_I386;
constexpr uint64_t MNT_FORCE = 1, MNT_DETACH = 2;

int32_t nr64(std::string_view name) { return syscall_number(Arch::X86_64, name).value(); }
int32_t nr32(std::string_view name) { return syscall_number(Arch::I386, name).value(); }
int32_t x32(std::string_view name) {
  return static_cast<int32_t>(X32_SYSCALL_BIT | static_cast<uint32_t>(nr64(name)));
}

// The arches of `want` that the rule set has (in `want` order), else its own.
std::vector<std::string> usable_arches(const RuleSet& rs, const std::vector<std::string>& want) {
  std::vector<std::string> out;
  for (const auto& a : want)
    if (std::find(rs.arches.begin(), rs.arches.end(), a) != rs.arches.end()) out.push_back(a);
  return out.empty() ? rs.arches : out;
}

CompileResult compile(const RuleSet& rs, const std::vector<std::string>& arches, int optimize = 1) {
  CompileOptions o;
  o.arches = usable_arches(rs, arches);
  o.optimize = optimize;
  return compile_ruleset(rs, o);
}

const std::vector<std::string> kNative = {"x86_64"};
const std::vector<std::string> kAll = {"x86_64", "x86", "x32"};

// A chain holding `p` (the install must succeed).
FilterChain install(const Program& p) {
  FilterChain chain;
  LoadResult lr = chain.install(p, 0);
  EXPECT_TRUE(lr.ok()) << lr.reason;
  return chain;
}
FilterChain install(const RuleSet& rs, const std::vector<std::string>& arches) {
  return install(compile(rs, arches).prog);
}

uint32_t eval(const FilterChain& chain, uint32_t arch, int32_t nr, std::vector<uint64_t> args = {}) {
  SeccompData d;
  d.arch = arch;
  d.nr = nr;
  for (size_t i = 0; i < args.size() && i < 6; ++i) d.args[i] = args[i];
  return seccomp_run_filters(chain, d).ret;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ProfileError& e) {
    return e.what();
  }
  return "no error";
}

std::vector<std::string> files_under(const std::string& dir, const std::vector<std::string>& exts) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kProfiles + "/" + dir))
    if (std::find(exts.begin(), exts.end(), e.path().extension().string()) != exts.end())
      out.push_back(fs::relative(e.path(), kProfiles).string());
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<Rule> rules_for(const RuleSet& rs, std::string_view name) {
  std::vector<Rule> out;
  for (const auto& r : rs.rules)
    if (r.syscall == name) out.push_back(r);
  return out;
}

// ---------------------------------------------------------------------------
// LXC / LXD

RuleSet load_lxc(const std::string& rel, const LxcImportOptions& o = {}) {
  return parse_lxc_policy_file(kProfiles + "/" + rel, o, rel);
}

std::vector<std::string> lxc_files() {
  auto files = files_under("lxc", {".seccomp", ".conf"});
  auto lxd = files_under("lxd", {".seccomp"});
  files.insert(files.end(), lxd.begin(), lxd.end());
  return files;
}

TEST(CorpusImportLxc, EveryPolicyImportsAndCompiles) {
  auto files = lxc_files();
  ASSERT_EQ(files.size(), 5u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    RuleSet rs = load_lxc(f);
    EXPECT_FALSE(rs.rules.empty());
    for (const auto* arches : {&kNative, &kAll}) {
      CompileResult cr = compile(rs, *arches);
      EXPECT_GT(cr.prog.size(), 0u);
      install(cr.prog);
    }
  }
}

TEST(CorpusImportLxc, CommonSeccompDeniesModulesAndForceUmount) {
  RuleSet rs = load_lxc("lxc/common.seccomp");
  EXPECT_EQ(rs.default_action, ALLOW);
  EXPECT_EQ(rs.arches, kAll);
  ASSERT_EQ(rs.rules.size(), 6u);
  EXPECT_EQ(rs.rules[0], (Rule{"umount2", ERRNO(13), {{1, ArgCmp::MASKED_EQ, 1, 1}}, 3, {}, true}));
  EXPECT_EQ(rs.rules[1], (Rule{"kexec_load", ERRNO(1), {}, 5, {}, true}));
  for (const auto* arches : {&kNative, &kAll}) {
    for (int optimize : {1, 2}) {
      FilterChain c = install(compile(rs, *arches, optimize).prog);
      for (auto name : {"kexec_load", "open_by_handle_at", "init_module", "finit_module", "delete_module"})
        EXPECT_EQ(eval(c, X86_64, nr64(name)), ERRNO(1)) << name;
      EXPECT_EQ(eval(c, X86_64, nr64("read")), ALLOW);
      EXPECT_EQ(eval(c, X86_64, nr64("mount")), ALLOW);
      EXPECT_EQ(eval(c, X86_64, nr64("umount2"), {0, MNT_FORCE}), ERRNO(13));  // EACCES
      EXPECT_EQ(eval(c, X86_64, nr64("umount2"), {0, MNT_FORCE | MNT_DETACH}), ERRNO(13));
      EXPECT_EQ(eval(c, X86_64, nr64("umount2"), {0, MNT_DETACH}), ALLOW);
      EXPECT_EQ(eval(c, X86_64, nr64("umount2"), {0, 0}), ALLOW);
    }
  }
  // Every rule reaches the compat arches too.
  FilterChain c = install(rs, kAll);
  EXPECT_EQ(eval(c, I386, nr32("kexec_load")), ERRNO(1));
  EXPECT_EQ(eval(c, I386, nr32("init_module")), ERRNO(1));
  EXPECT_EQ(eval(c, I386, nr32("umount2"), {0, MNT_FORCE}), ERRNO(13));
  EXPECT_EQ(eval(c, I386, nr32("umount2"), {0, 0}), ALLOW);
  EXPECT_EQ(eval(c, I386, nr32("read")), ALLOW);
  EXPECT_EQ(eval(c, X86_64, x32("delete_module")), ERRNO(1));
  EXPECT_EQ(eval(c, X86_64, x32("umount2"), {0, MNT_FORCE}), ERRNO(13));
  EXPECT_EQ(eval(c, X86_64, x32("read")), ALLOW);
  // libseccomp's bad-arch action (KILL) for anything else.
  EXPECT_EQ(eval(c, 0xc00000b7, 0), KILL_THREAD);
  FilterChain native = install(rs, kNative);
  EXPECT_EQ(eval(native, I386, nr32("read")), KILL_THREAD);
}

TEST(CorpusImportLxc, LxdInterceptPolicy) {
  RuleSet rs = load_lxc("lxd/lxd-5.0.2-all-intercepts.seccomp");
  EXPECT_EQ(rs.default_action, ALLOW);
  // [idx,value,SCMP_CMP_MASKED_EQ,field4]: field 4 is the mask (S_IFMT), field 2 the datum.
  auto mknod = rules_for(rs, "mknod");
  ASSERT_EQ(mknod.size(), 2u);
  EXPECT_EQ(mknod[0].action, SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(mknod[0].args, (std::vector<ArgCmp>{{1, ArgCmp::MASKED_EQ, 0xf000, 0x2000}}));
  auto mount = rules_for(rs, "mount");
  ASSERT_EQ(mount.size(), 1u);
  EXPECT_EQ(mount[0].args, (std::vector<ArgCmp>{{3, ArgCmp::MASKED_EQ, 18446744070422410016u, 0}}));
  EXPECT_EQ(rules_for(rs, "setxattr")[0].args, (std::vector<ArgCmp>{{3, ArgCmp::EQ, 1, 0}}));
  EXPECT_EQ(rules_for(rs, "umount2").size(), 1u);  // reject_force_umount
  for (const auto& r : rs.rules) EXPECT_TRUE(r.exact);

  CompileResult cr = compile(rs, kAll);
  // LXD's kernel-internal names are unknown to libseccomp and skipped.
  size_t compat = std::count_if(cr.unknown_names.begin(), cr.unknown_names.end(), [](const std::string& n) {
    return n.rfind("compat_sys_", 0) == 0 || n.rfind("stub_x32_", 0) == 0;
  });
  EXPECT_EQ(compat, 34u);
  FilterChain c = install(cr.prog);
  constexpr uint64_t kIfChr = 0020000, kIfBlk = 0060000, kIfReg = 0100000;
  EXPECT_EQ(eval(c, X86_64, nr64("mknod"), {0, kIfChr | 0666}), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(eval(c, X86_64, nr64("mknod"), {0, kIfBlk | 0600}), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(eval(c, X86_64, nr64("mknod"), {0, kIfReg | 0600}), ALLOW);
  EXPECT_EQ(eval(c, X86_64, nr64("mknodat"), {0, 0, kIfChr}), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(eval(c, X86_64, nr64("mount"), {0, 0, 0, 0}), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(eval(c, X86_64, nr64("mount"), {0, 0, 0, 0x1000 /* MS_BIND */}), ALLOW);
  EXPECT_EQ(eval(c, X86_64, nr64("bpf"), {5}), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(eval(c, X86_64, nr64("bpf"), {0}), ALLOW);
  EXPECT_EQ(eval(c, X86_64, nr64("open_tree")), ERRNO(38));
  EXPECT_EQ(eval(c, X86_64, nr64("seccomp"), {0, 8}), ERRNO(22));
  EXPECT_EQ(eval(c, X86_64, nr64("seccomp"), {0, 1}), ALLOW);
  EXPECT_EQ(eval(c, X86_64, nr64("kexec_load")), ERRNO(38));
  EXPECT_EQ(eval(c, X86_64, nr64("umount2"), {0, MNT_FORCE}), ERRNO(13));
  EXPECT_EQ(eval(c, I386, nr32("open_tree")), ERRNO(38));
}

TEST(CorpusImportLxc, Version1NumbersAndV2Examples) {
  RuleSet v1 = load_lxc("lxc/seccomp-v1.conf");
  EXPECT_EQ(v1.default_action, KILL_THREAD);
  EXPECT_EQ(v1.arches, kNative);
  ASSERT_EQ(v1.rules.size(), 357u);
  EXPECT_EQ(v1.rules[0], (Rule{"read", ALLOW, {}, 3, {}, false}));
  EXPECT_EQ(v1.rules[356], (Rule{"nr:1079", ALLOW, {}, 359, {}, false}));
  ASSERT_FALSE(v1.notes.empty());
  FilterChain c1 = install(v1, kNative);
  EXPECT_EQ(eval(c1, X86_64, nr64("read")), ALLOW);
  EXPECT_EQ(eval(c1, X86_64, nr64("kexec_load")), ALLOW);
  EXPECT_EQ(eval(c1, X86_64, 2000), KILL_THREAD);

  RuleSet v2 = load_lxc("lxc/seccomp-v2.conf");
  EXPECT_EQ(v2.default_action, SECCOMP_RET_TRAP);
  ASSERT_EQ(v2.rules.size(), 12u);
  FilterChain c2 = install(v2, kAll);
  EXPECT_EQ(eval(c2, X86_64, nr64("read")), ALLOW);
  EXPECT_EQ(eval(c2, X86_64, nr64("umount2")), ALLOW);
  EXPECT_EQ(eval(c2, X86_64, nr64("getpid")), SECCOMP_RET_TRAP);
  EXPECT_EQ(eval(c2, I386, nr32("open")), ALLOW);
  EXPECT_EQ(eval(c2, I386, nr32("getpid")), SECCOMP_RET_TRAP);

  // LXC 2.x reading: the [x86] section only for x86.
  LxcImportOptions old;
  old.honor_arch_sections = true;
  RuleSet v2old = load_lxc("lxc/seccomp-v2.conf", old);
  EXPECT_EQ(v2old.rules[0].only_arches, std::vector<std::string>{"x86_64"});
  EXPECT_EQ(v2old.rules[6].only_arches, std::vector<std::string>{"x86"});
  FilterChain c2old = install(v2old, kAll);
  EXPECT_EQ(eval(c2old, X86_64, x32("read")), SECCOMP_RET_TRAP);
  EXPECT_EQ(eval(c2old, I386, nr32("read")), ALLOW);

  RuleSet deny = load_lxc("lxc/seccomp-v2-denylist.conf");
  EXPECT_EQ(deny.default_action, ALLOW);
  ASSERT_EQ(deny.rules.size(), 1u);
  EXPECT_EQ(deny.rules[0].action, ERRNO(0));
  FilterChain c3 = install(deny, kAll);
  EXPECT_EQ(eval(c3, X86_64, nr64("mknod")), ERRNO(0));
  EXPECT_EQ(eval(c3, I386, nr32("mknod")), ERRNO(0));
}

TEST(CorpusImportLxc, RuleSyntax) {
  RuleSet rs = parse_lxc_policy(
      "2\n"
      "blacklist errno 5\n"
      "[all]\n"
      "read\n"                                       // 4: default rule action KILL
      "write kill\n"                                 // 5
      "getpid trap # comment\n"                      // 6
      "setns errno 1 [1,0x40000000,SCMP_CMP_MASKED_EQ,0x40000000]\n"  // 7
      "personality allow [0,0xffffffff,==] [1,5,<=]\n"                // 8
      "ioctl log [1,0x5401,!=]\n"                    // 9
      "[arm64]\n"
      "cacheflush\n"                                 // 11: skipped
      "[X86]\n"
      "socketcall notify\n"                          // 13
      "  # indented comment\n"                      // 14: no name before the space
      "\n",                                         // 15
      "t.seccomp");
  EXPECT_EQ(rs.default_action, ERRNO(5));
  ASSERT_EQ(rs.rules.size(), 7u);
  EXPECT_EQ(rs.rules[0], (Rule{"read", KILL_THREAD, {}, 4, {}, true}));
  EXPECT_EQ(rs.rules[1].action, KILL_THREAD);
  EXPECT_EQ(rs.rules[2].action, SECCOMP_RET_TRAP);
  EXPECT_EQ(rs.rules[3].args, (std::vector<ArgCmp>{{1, ArgCmp::MASKED_EQ, 0x40000000, 0x40000000}}));
  EXPECT_EQ(rs.rules[4].action, ALLOW);
  EXPECT_EQ(rs.rules[4].args,
            (std::vector<ArgCmp>{{0, ArgCmp::EQ, 0xffffffff, 0}, {1, ArgCmp::LE, 5, 0}}));
  EXPECT_EQ(rs.rules[5].action, SECCOMP_RET_LOG);
  EXPECT_EQ(rs.rules[5].args, (std::vector<ArgCmp>{{1, ArgCmp::NE, 0x5401, 0}}));
  // socketcall is a pseudo syscall for libseccomp on x86_64 and x32: LXC adds it for x86 only.
  EXPECT_EQ(rs.rules[6], (Rule{"socketcall", SECCOMP_RET_USER_NOTIF, {}, 13, {"x86"}, true}));
  EXPECT_TRUE(std::any_of(rs.notes.begin(), rs.notes.end(), [](const std::string& n) {
    return n == "t.seccomp:13: socketcall: not added for x86_64, x32, where libseccomp has no syscall "
                "number >= 0 for it (LXC skips such contexts)";
  }));
  FilterChain c = install(rs, kAll);
  EXPECT_EQ(eval(c, X86_64, nr64("getppid")), ERRNO(5));
  EXPECT_EQ(eval(c, X86_64, nr64("ioctl"), {0, 0x5401}), ERRNO(5));
  EXPECT_EQ(eval(c, X86_64, nr64("ioctl"), {0, 0x5402}), SECCOMP_RET_LOG);
  EXPECT_EQ(eval(c, X86_64, nr64("setns"), {0, 0x40000000}), ERRNO(1));
  EXPECT_EQ(eval(c, X86_64, nr64("setns"), {0, 0x20000000}), ERRNO(5));
  EXPECT_EQ(eval(c, I386, nr32("socketcall")), SECCOMP_RET_USER_NOTIF);
}

TEST(CorpusImportLxc, BrokenPoliciesNameFileAndLine) {
  auto err = [](const std::string& text) {
    return error_of([&] { parse_lxc_policy(text, "bad.seccomp"); });
  };
  EXPECT_EQ(err("3\ndenylist\n"), "bad.seccomp:1: invalid version line \"3\": expected 1 or 2");
  EXPECT_EQ(err("version 2\ndenylist\n"),
            "bad.seccomp:1: invalid version line \"version 2\": expected 1 or 2");
  EXPECT_EQ(err("2\ngraylist\n"),
            "bad.seccomp:2: bad seccomp policy style \"graylist\": expected allowlist or denylist");
  EXPECT_EQ(err("2\ndenylist frobnicate\n"), "bad.seccomp:2: unrecognized seccomp action \"frobnicate\"");
  EXPECT_EQ(err("2\ndenylist \nread\n"),
            "bad.seccomp:2: unrecognized seccomp action \"\\n\" (LXC refuses trailing blanks after denylist)");
  EXPECT_EQ(err("2\ndenylist debug\n"),
            "bad.seccomp:2: \"debug\" is not implemented (LXC refuses the policy)");
  EXPECT_EQ(err("1\ndenylist\n"),
            "bad.seccomp:2: version 1 policies must be an allowlist, not \"denylist\"");
  EXPECT_EQ(err("1\nallowlist\n0\nread\n"), "bad.seccomp:4: expected a syscall number, not \"read\"");
  EXPECT_EQ(err("2\ndenylist\n[all]\nkexec_load errno\n"),
            "bad.seccomp:4: bad errno value in \"errno\"");
  EXPECT_EQ(err("2\ndenylist\n[sparc]\n"), "bad.seccomp:3: unsupported architecture section [sparc]");
  // Arg-cmps.
  EXPECT_EQ(err("2\ndenylist\nmount errno 1 [3,1,SCMP_CMP_BOGUS]\n"),
            "bad.seccomp:3: bad argument comparison \"mount errno 1 [3,1,SCMP_CMP_BOGUS]\": unknown "
            "operator \"SCMP_CMP_BOGUS\" (expected [index,value,op] or "
            "[index,value,SCMP_CMP_MASKED_EQ,mask])");
  EXPECT_NE(err("2\ndenylist\n\n# c\nmount errno 1 [7,1,SCMP_CMP_EQ]\n").find(
                "bad.seccomp:5: bad argument comparison"),
            std::string::npos);
  EXPECT_NE(err("2\ndenylist\nmount errno 1 [3,-1,SCMP_CMP_EQ]\n").find("invalid value \"-1\""),
            std::string::npos);
  EXPECT_NE(err("2\ndenylist\nmount errno 1 [3,1]\n").find("no operator"), std::string::npos);
  EXPECT_NE(err("2\ndenylist\nmount errno 1 [3,1,SCMP_CMP_MASKED_EQ,x]\n").find("invalid mask"),
            std::string::npos);
  // Text after the last ']' is one more (broken) arg-cmp for LXC.
  EXPECT_NE(err("2\ndenylist\nmount errno 1 [3,1,==] junk\n").find("no '['"), std::string::npos);
  // The word after the first space is the action, even for an indented name.
  EXPECT_EQ(err("2\ndenylist\n  read\n"), "bad.seccomp:3: unrecognized seccomp action \"read\"");
  // An action is required before the arg-cmps.
  EXPECT_EQ(err("2\ndenylist\nsetxattr [3,1,SCMP_CMP_EQ]\n"),
            "bad.seccomp:3: unrecognized seccomp action \"[3,1,SCMP_CMP_EQ]\"");
  // Unknown names are not errors.
  RuleSet rs = parse_lxc_policy("2\ndenylist\nno_such_syscall errno 1\n", "ok.seccomp");
  ASSERT_EQ(rs.rules.size(), 1u);
  EXPECT_EQ(compile(rs, kAll).unknown_names, std::vector<std::string>{"no_such_syscall"});
  // ProfileError carries the parts.
  try {
    parse_lxc_policy("2\ndenylist\n[foo]\n", "x.seccomp");
    FAIL();
  } catch (const ProfileError& e) {
    EXPECT_EQ(e.file(), "x.seccomp");
    EXPECT_EQ(e.line(), 3);
  }
}

// ---------------------------------------------------------------------------
// systemd

const SystemdGroups& groups252() {
  static const SystemdGroups g =
      parse_systemd_groups_file(kProfiles + "/systemd/groups-v252.json", "systemd/groups-v252.json");
  return g;
}
const SystemdGroups& groups257() {
  static const SystemdGroups g =
      parse_systemd_groups_file(kProfiles + "/systemd/groups-v257.json", "systemd/groups-v257.json");
  return g;
}
const std::string kUnitsTsv = "systemd/unit-directives-bookworm.tsv";

std::vector<SystemdUnitFilter> load_units(const SystemdGroups& g, const SystemdImportOptions& o = {}) {
  return parse_systemd_directives_tsv_file(kProfiles + "/" + kUnitsTsv, g, o, kUnitsTsv);
}
// The unit's SystemCallFilter= (or SystemCallArchitectures=) filter, or the one of `filter`.
const SystemdUnitFilter& unit(const std::vector<SystemdUnitFilter>& units, std::string_view path,
                              std::string_view filter = {}) {
  for (const auto& u : units)
    if (u.unit == path && (filter.empty() ? u.filter.rfind("SystemCall", 0) == 0 : u.filter == filter))
      return u;
  ADD_FAILURE() << "no unit " << path << " " << filter;
  static SystemdUnitFilter none;
  return none;
}

TEST(CorpusImportSystemd, Groups) {
  const SystemdGroups& g = groups252();
  EXPECT_EQ(g.members.size(), 29u);
  std::vector<std::string> svc = expand_systemd_group(g, "@system-service");
  std::set<std::string> s(svc.begin(), svc.end());
  EXPECT_EQ(s.size(), svc.size());
  for (auto n : {"read", "openat", "brk", "clone", "setuid", "capget", "sethostname"})
    EXPECT_EQ(s.count(n), n == std::string("sethostname") ? 0u : 1u) << n;
  std::vector<std::string> priv = expand_systemd_group(g, "@privileged");
  EXPECT_NE(std::find(priv.begin(), priv.end(), "chown"), priv.end());  // via @chown
  auto v257 = expand_systemd_group(groups257(), "@default");
  EXPECT_NE(std::find(v257.begin(), v257.end(), "mseal"), v257.end());
  EXPECT_THROW(expand_systemd_group(g, "@nope"), ProfileError);
}

TEST(CorpusImportSystemd, EveryUnitImportsAndCompiles) {
  for (const SystemdGroups* g : {&groups252(), &groups257()}) {
    SCOPED_TRACE(g->origin);
    auto units = load_units(*g);
    std::map<std::string, size_t> by_filter;
    std::set<std::string> unit_names;
    for (const auto& u : units) {
      SCOPED_TRACE(u.unit + " " + u.filter);
      ++by_filter[u.filter];
      unit_names.insert(u.unit);
      EXPECT_EQ(u.filter == "SystemCallArchitectures", u.rules.rules.empty());
      for (const auto* arches : {&kNative, &kAll}) {
        CompileResult cr = compile(u.rules, *arches);
        install(cr.prog);
      }
    }
    // 35 units have SystemCallFilter= or SystemCallArchitectures=; 29 of them a filter.
    EXPECT_EQ(by_filter["SystemCallFilter"], 29u);
    EXPECT_EQ(by_filter["SystemCallArchitectures"], 6u);
    EXPECT_EQ(by_filter["ProtectKernelModules"], 26u);
    EXPECT_EQ(by_filter["ProtectKernelLogs"], 21u);
    EXPECT_EQ(by_filter["ProtectClock"], 11u);
    EXPECT_EQ(by_filter["PrivateDevices"], 18u);
    EXPECT_EQ(by_filter["ProtectHostname"], 20u);
    EXPECT_EQ(unit_names.size(), 35u);
    // The same with x86 and x32 modelled as well.
    SystemdImportOptions o;
    o.arches = kAll;
    for (const auto& u : load_units(*g, o)) install(compile(u.rules, kAll).prog);
  }
}

TEST(CorpusImportSystemd, SystemServiceAllowList) {
  auto units = load_units(groups252());
  const RuleSet& j = unit(units, "/lib/systemd/system/systemd-journald.service").rules;
  EXPECT_EQ(j.default_action, ERRNO(1));  // SystemCallErrorNumber=EPERM
  EXPECT_EQ(j.bad_arch_action, KILL_THREAD);  // SystemCallArchitectures=native
  EXPECT_EQ(j.arches, kNative);
  for (const auto& r : j.rules) {
    EXPECT_EQ(r.action, ALLOW);
    EXPECT_TRUE(r.exact);
  }
  for (int optimize : {1, 2}) {
    FilterChain c = install(compile(j, kNative, optimize).prog);
    EXPECT_EQ(eval(c, X86_64, nr64("read")), ALLOW);
    EXPECT_EQ(eval(c, X86_64, nr64("openat")), ALLOW);
    EXPECT_EQ(eval(c, X86_64, nr64("execve")), ALLOW);  // @default
    EXPECT_EQ(eval(c, X86_64, nr64("setuid")), ALLOW);  // @setuid
    EXPECT_EQ(eval(c, X86_64, nr64("mount")), ERRNO(1));
    EXPECT_EQ(eval(c, X86_64, nr64("reboot")), ERRNO(1));
    EXPECT_EQ(eval(c, X86_64, nr64("sethostname")), ERRNO(1));
    EXPECT_EQ(eval(c, X86_64, nr64("kexec_load")), ERRNO(1));
    EXPECT_EQ(eval(c, I386, nr32("read")), KILL_THREAD);
    EXPECT_EQ(eval(c, X86_64, x32("read")), KILL_THREAD);
  }
  // hostnamed adds sethostname; timedated adds @clock.
  FilterChain h = install(unit(units, "/lib/systemd/system/systemd-hostnamed.service").rules, kNative);
  EXPECT_EQ(eval(h, X86_64, nr64("sethostname")), ALLOW);
  EXPECT_EQ(eval(h, X86_64, nr64("settimeofday")), ERRNO(1));
  FilterChain t = install(unit(units, "/lib/systemd/system/systemd-timedated.service").rules, kNative);
  EXPECT_EQ(eval(t, X86_64, nr64("settimeofday")), ALLOW);
  EXPECT_EQ(eval(t, X86_64, nr64("clock_adjtime")), ALLOW);
  // upower: no SystemCallErrorNumber= -> KILL_PROCESS; a second line adds ioprio_get.
  const RuleSet& up = unit(units, "/lib/systemd/system/upower.service").rules;
  EXPECT_EQ(up.default_action, KILL_PROCESS);
  FilterChain u = install(up, kNative);
  EXPECT_EQ(eval(u, X86_64, nr64("ioprio_get")), ALLOW);
  EXPECT_EQ(eval(u, X86_64, nr64("mount")), KILL_PROCESS);
}

TEST(CorpusImportSystemd, MergedAndInvertedLines) {
  auto units = load_units(groups252());
  // chrony-wait: @system-service, then ~@privileged @resources removes them.
  const RuleSet& cw = unit(units, "/lib/systemd/system/chrony-wait.service").rules;
  FilterChain c = install(cw, kNative);
  EXPECT_EQ(eval(c, X86_64, nr64("read")), ALLOW);
  EXPECT_EQ(eval(c, X86_64, nr64("setuid")), KILL_PROCESS);        // @privileged
  EXPECT_EQ(eval(c, X86_64, nr64("chown")), KILL_PROCESS);         // @privileged -> @chown
  EXPECT_EQ(eval(c, X86_64, nr64("sched_setattr")), KILL_PROCESS); // @resources
  EXPECT_EQ(eval(c, X86_64, nr64("getuid")), ALLOW);
  // redis: "~ @privileged @resources" (a space after ~) does the same.
  FilterChain r = install(unit(units, "/lib/systemd/system/redis-server.service").rules, kNative);
  EXPECT_EQ(eval(r, X86_64, nr64("setuid")), KILL_PROCESS);
  EXPECT_EQ(eval(r, X86_64, nr64("read")), ALLOW);
  // chrony: a deny-list, default ALLOW, bad arch KILL (native).
  const RuleSet& ch = unit(units, "/lib/systemd/system/chrony.service").rules;
  EXPECT_EQ(ch.default_action, ALLOW);
  FilterChain d = install(ch, kNative);
  EXPECT_EQ(eval(d, X86_64, nr64("mount")), KILL_PROCESS);
  EXPECT_EQ(eval(d, X86_64, nr64("ptrace")), KILL_PROCESS);  // @debug
  EXPECT_EQ(eval(d, X86_64, nr64("settimeofday")), ALLOW);
  EXPECT_EQ(eval(d, I386, nr32("read")), KILL_THREAD);
  // nm-priv-helper: allow-list @default + @resources, ~ lines remove nothing of it.
  FilterChain nm = install(unit(units, "/lib/systemd/system/nm-priv-helper.service").rules, kNative);
  EXPECT_EQ(eval(nm, X86_64, nr64("setpriority")), ALLOW);  // @resources
  EXPECT_EQ(eval(nm, X86_64, nr64("brk")), ALLOW);          // @default
  EXPECT_EQ(eval(nm, X86_64, nr64("read")), KILL_PROCESS);
  // accounts-daemon: ~@mount without SystemCallErrorNumber=; no arch restriction -> bad arch ALLOW.
  const RuleSet& acc = unit(units, "/lib/systemd/system/accounts-daemon.service").rules;
  EXPECT_EQ(acc.bad_arch_action, KILL_THREAD);
  const RuleSet& bolt = unit(units, "/lib/systemd/system/bolt.service").rules;
  EXPECT_EQ(bolt.bad_arch_action, ALLOW);
  FilterChain b = install(bolt, kNative);
  EXPECT_EQ(eval(b, X86_64, nr64("umount2")), KILL_PROCESS);
  EXPECT_EQ(eval(b, I386, nr32("mount")), ALLOW);  // only the x86_64 filter is modelled
  SystemdImportOptions o;
  o.arches = kAll;
  auto units_all = load_units(groups252(), o);
  const RuleSet& bolt_all = unit(units_all, "/lib/systemd/system/bolt.service").rules;
  FilterChain ba = install(bolt_all, kAll);
  EXPECT_EQ(eval(ba, I386, nr32("mount")), KILL_PROCESS);
  EXPECT_EQ(eval(ba, X86_64, x32("mount")), KILL_PROCESS);
  EXPECT_EQ(eval(ba, I386, nr32("read")), ALLOW);
  // Arch-only units get an allow-all filter that kills foreign arches.
  const RuleSet& ask = unit(units, "/lib/systemd/system/systemd-ask-password-console.service").rules;
  EXPECT_TRUE(ask.rules.empty());
  FilterChain a = install(ask, kNative);
  EXPECT_EQ(eval(a, X86_64, nr64("mount")), ALLOW);
  EXPECT_EQ(eval(a, I386, nr32("read")), KILL_THREAD);
}

TEST(CorpusImportSystemd, UnitFileSyntax) {
  const char* text =
      "[Unit]\n"
      "Description=x\n"
      "SystemCallFilter=@mount\n"  // not an exec section: ignored
      "[Service]\n"
      "# comment\n"
      "SystemCallFilter=~@mount \\\n"
      "   @reboot\n"
      "SystemCallFilter=mount\n"  // deny-list: removes mount again
      "SystemCallFilter=~ptrace:EIO kexec_load:kill\n"
      "SystemCallErrorNumber=EACCES\n"
      "RestrictRealtime=yes\n";
  std::vector<SystemdUnitFilter> fs = parse_systemd_unit(text, "x.service", groups252());
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].filter, "SystemCallFilter");
  const RuleSet* rs = &fs[0].rules;
  EXPECT_EQ(rs->default_action, ALLOW);
  EXPECT_TRUE(rules_for(*rs, "mount").empty());
  EXPECT_EQ(rules_for(*rs, "umount2").at(0).source_line, 6);
  EXPECT_EQ(rules_for(*rs, "reboot").at(0).action, ERRNO(13));
  EXPECT_EQ(rules_for(*rs, "ptrace").at(0).action, ERRNO(5));
  EXPECT_EQ(rules_for(*rs, "kexec_load").at(0).action, KILL_PROCESS);
  EXPECT_TRUE(std::any_of(rs->notes.begin(), rs->notes.end(), [](const std::string& n) {
    return n.find("RestrictRealtime=yes") != std::string::npos;
  }));
  // An empty assignment resets; nothing left is no filter.
  EXPECT_TRUE(parse_systemd_unit("[Service]\nSystemCallFilter=~@mount\nSystemCallFilter=\n", "y.service",
                                 groups252())
                  .empty());
  // The protect directives give filters of their own.
  fs = parse_systemd_unit("[Service]\nProtectKernelModules=yes\nProtectClock=no\nProtectHostname=true\n",
                          "p.service", groups252());
  ASSERT_EQ(fs.size(), 2u);
  EXPECT_EQ(fs[0].filter, "ProtectKernelModules");
  EXPECT_EQ(fs[1].filter, "ProtectHostname");
  FilterChain km = install(fs[0].rules, kNative);
  EXPECT_EQ(eval(km, X86_64, nr64("init_module")), ERRNO(1));
  EXPECT_EQ(eval(km, X86_64, nr64("finit_module")), ERRNO(1));
  EXPECT_EQ(eval(km, X86_64, nr64("read")), ALLOW);
  EXPECT_EQ(eval(km, I386, nr32("init_module")), ALLOW);  // only x86_64 modelled
  FilterChain hn = install(fs[1].rules, kNative);
  EXPECT_EQ(eval(hn, X86_64, nr64("sethostname")), ERRNO(1));
  EXPECT_EQ(eval(hn, X86_64, nr64("setdomainname")), ERRNO(1));
}

TEST(CorpusImportSystemd, BrokenInputsNameFileAndLine) {
  const std::string head = "# package\tversion\tunit\tdirective\tvalue\n";
  auto err = [&](const std::string& rows) {
    return error_of([&] { parse_systemd_directives_tsv(head + rows, "u.tsv", groups252()); });
  };
  EXPECT_EQ(err("p\t1\t/u.service\tSystemCallFilter\t@system-service\n"
                "p\t1\t/u.service\tSystemCallFilter\t~@no-such-group\n"),
            "u.tsv:3: unknown system call group @no-such-group (not in systemd/groups-v252.json)");
  EXPECT_EQ(err("p\t1\t/u.service\tSystemCallFilter\n"),
            "u.tsv:2: expected 5 tab-separated columns (package, version, unit, directive, value), found 4");
  EXPECT_EQ(err("p\t1\t/u.service\tSystemCallErrorNumber\tEFOO\n"),
            "u.tsv:2: bad SystemCallErrorNumber= \"EFOO\"");
  EXPECT_EQ(err("p\t1\t/u.service\tSystemCallArchitectures\tnative vax\n"),
            "u.tsv:2: unknown architecture \"vax\" in SystemCallArchitectures=");
  EXPECT_EQ(error_of([&] { parse_systemd_unit("[Service]\nSystemCallFilter=@nope\n", "z.service", groups252()); }),
            "z.service:2: unknown system call group @nope (not in systemd/groups-v252.json)");
  EXPECT_EQ(error_of([&] { parse_systemd_unit("[Service]\nPrivateDevices=maybe\n", "z.service", groups252()); }),
            "z.service:2: bad boolean \"maybe\" for PrivateDevices=");
  // Non-strict: systemd's own behaviour (log and ignore).
  SystemdImportOptions lax;
  lax.strict = false;
  auto units = parse_systemd_directives_tsv(head + "p\t1\t/u.service\tSystemCallFilter\t~@nope mount\n",
                                            "u.tsv", groups252(), lax);
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].rules.rules.size(), 1u);
  EXPECT_EQ(units[0].rules.notes.size(), 2u);  // the unit and the ignored group
  // Group tables: cycles and unknown nested groups.
  EXPECT_EQ(error_of([] {
              parse_systemd_groups("{\n \"@a\": {\"members\": [\"read\", \"@b\"]},\n"
                                   " \"@b\": {\"members\": [\"@a\"]}\n}\n",
                                   "g.json");
            }),
            "g.json:2: group cycle @a -> @b -> @a");
  EXPECT_EQ(error_of([] { parse_systemd_groups("{\"@a\": {\"members\": [\"@zz\"]}}", "g.json"); }),
            "g.json:1: group @a names unknown group @zz");
  EXPECT_NE(error_of([] { parse_systemd_groups("{\"@a\": ", "g.json"); }).find("g.json: invalid JSON"),
            std::string::npos);
}

// ---------------------------------------------------------------------------
// firejail

const FirejailGroups& fj_groups() {
  static const FirejailGroups g =
      parse_firejail_groups_file(kProfiles + "/firejail/syscalls.txt", "firejail/syscalls.txt");
  return g;
}
const std::string kFjTsv = "firejail/profile-seccomp-lines.tsv";

const std::vector<FirejailProfile>& fj_profiles() {
  static const std::vector<FirejailProfile> p =
      parse_firejail_profile_lines_tsv_file(kProfiles + "/" + kFjTsv, fj_groups(), kFjTsv);
  return p;
}
const FirejailProfile& fj_profile(std::string_view name) {
  for (const auto& p : fj_profiles())
    if (p.name == name) return p;
  ADD_FAILURE() << "no profile " << name;
  static FirejailProfile none;
  return none;
}
const RuleSet& fj_filter(const FirejailProfile& p, std::string_view kind) {
  for (const auto& f : p.filters)
    if (f.kind == kind) return f.rules;
  ADD_FAILURE() << p.name << " has no filter " << kind;
  static RuleSet none;
  return none;
}
std::vector<std::string> kinds(const FirejailProfile& p) {
  std::vector<std::string> out;
  for (const auto& f : p.filters) out.push_back(f.kind);
  return out;
}

// A one-profile TSV.
FirejailProfile fj_parse(const std::string& lines) {
  std::string tsv;
  std::istringstream in(lines);
  for (std::string l; std::getline(in, l);) tsv += "t.profile\t" + l + "\n";
  auto v = parse_firejail_profile_lines_tsv(tsv, "t.tsv", fj_groups());
  EXPECT_EQ(v.size(), 1u);
  return v.empty() ? FirejailProfile{} : v[0];
}

Program load_bpf(const std::string& rel) { return import_raw_bpf_file(kProfiles + "/" + rel, {}, rel); }

// (arch, nr) where a RuleSet compiled by libseccomp 2.5.4 cannot match firejail.
using Known = std::set<std::pair<uint32_t, int32_t>>;
// nr -1 (0xffffffff) has the x32 bit set: firejail denies it, libseccomp's
// x86_64 code exempts -1 (the tracer "skip" value) from its x32 check.
const Known kMinusOne = {{X86_64, -1}};

// Runs the shipped program and the rule set's program over every syscall
// number (and a few argument values) of the arches a firejail filter sees,
// expecting the same result except for the `known` differences.
void expect_same_as_bpf(const RuleSet& rs, const std::string& bpf_file, const Known& known,
                        const std::vector<uint64_t>& a0s = {0}, const std::vector<uint64_t>& a2s = {0}) {
  SCOPED_TRACE(bpf_file);
  FilterChain mine = install(compile_ruleset(rs).prog);
  FilterChain theirs = install(load_bpf(bpf_file));
  int mismatches = 0;
  for (uint32_t arch : {X86_64, I386})
    for (int32_t nr = -1; nr < 600; ++nr)
      for (bool x : {false, true}) {
        if (x && arch != X86_64) continue;
        int32_t n = x ? static_cast<int32_t>(X32_SYSCALL_BIT | static_cast<uint32_t>(nr)) : nr;
        for (uint64_t a0 : a0s)
          for (uint64_t a2 : a2s) {
            uint32_t got = eval(mine, arch, n, {a0, 0, a2}), want = eval(theirs, arch, n, {a0, 0, a2});
            if (known.count({arch, n})) continue;
            if (got != want && ++mismatches < 10)
              ADD_FAILURE() << "arch " << std::hex << arch << std::dec << " nr " << nr << (x ? " (x32)" : "")
                            << " a0 " << a0 << " a2 " << a2 << ": RuleSet " << format_ret(got)
                            << ", firejail " << format_ret(want);
          }
      }
  EXPECT_EQ(mismatches, 0);
  // Each known difference is real.
  for (const auto& [arch, n] : known) {
    bool differs = false;
    for (uint64_t a0 : a0s)
      for (uint64_t a2 : a2s) differs |= eval(mine, arch, n, {a0, 0, a2}) != eval(theirs, arch, n, {a0, 0, a2});
    EXPECT_TRUE(differs) << "arch " << std::hex << arch << std::dec << " nr " << n;
  }
}

TEST(CorpusImportFirejail, Groups) {
  const FirejailGroups& g = fj_groups();
  EXPECT_EQ(g.members.size(), 29u);
  auto def = expand_firejail_group(g, "@default-nodebuggers");
  EXPECT_NE(std::find(def.begin(), def.end(), "mount"), def.end());           // via @mount
  EXPECT_NE(std::find(def.begin(), def.end(), "ptrace"), def.end());
  EXPECT_NE(std::find(def.begin(), def.end(), "set_mempolicyvmsplice"), def.end());  // upstream typo
  auto dbg = expand_firejail_group(g, "@default");
  EXPECT_EQ(std::find(dbg.begin(), dbg.end(), "ptrace"), dbg.end());
  EXPECT_EQ(error_of([] { parse_firejail_groups("@a=read,@b\n@b=@a\n", "s.txt"); }),
            "s.txt:1: group cycle @a -> @b -> @a");
  EXPECT_EQ(error_of([] { parse_firejail_groups("@a=read\n\n@a=write\n", "s.txt"); }),
            "s.txt:3: group @a defined again (first on line 1)");
}

TEST(CorpusImportFirejail, EveryProfileImportsAndCompiles) {
  const auto& profiles = fj_profiles();
  EXPECT_EQ(profiles.size(), 631u);
  std::map<std::string, size_t> by_kind;
  for (const auto& p : profiles) {
    for (const auto& f : p.filters) {
      SCOPED_TRACE(p.name + " " + f.kind);
      ++by_kind[f.kind];
      for (const auto* arches : {&kNative, &kAll}) install(compile(f.rules, *arches).prog);
    }
  }
  EXPECT_EQ(by_kind["seccomp"], 613u);
  EXPECT_EQ(by_kind["seccomp.32"], 493u);
  EXPECT_EQ(by_kind["seccomp.block_secondary"], 118u);
  EXPECT_EQ(by_kind["seccomp.32.list"], 2u);
  EXPECT_EQ(by_kind["seccomp.mdwx"], 111u);
}

TEST(CorpusImportFirejail, DefaultGroupDeniesMount) {
  const FirejailProfile& p = fj_profile("2048-qt.profile");  // protocol, restrict-namespaces, seccomp
  EXPECT_EQ(kinds(p), (std::vector<std::string>{"seccomp.32", "seccomp"}));
  const RuleSet& rs = fj_filter(p, "seccomp");
  EXPECT_EQ(rs.default_action, ALLOW);
  EXPECT_EQ(rs.arches, (std::vector<std::string>{"x86_64", "x86"}));
  EXPECT_EQ(rs.bad_arch_action, ERRNO(1));
  EXPECT_EQ(rules_for(rs, "set_mempolicyvmsplice").size(), 1u);
  CompileResult cr = compile_ruleset(rs);
  EXPECT_NE(std::find(cr.unknown_names.begin(), cr.unknown_names.end(), "set_mempolicyvmsplice"),
            cr.unknown_names.end());
  FilterChain c = install(cr.prog);
  for (auto n : {"mount", "umount2", "ptrace", "kexec_load", "init_module", "chroot", "pivot_root",
                 "reboot", "swapon", "bpf", "userfaultfd"})
    EXPECT_EQ(eval(c, X86_64, nr64(n)), ERRNO(1)) << n;
  for (auto n : {"read", "write", "openat", "clone", "execve", "vmsplice", "set_mempolicy"})
    EXPECT_EQ(eval(c, X86_64, nr64(n)), ALLOW) << n;
  EXPECT_EQ(eval(c, X86_64, x32("read")), ERRNO(1));  // x32 denied outright
  EXPECT_EQ(eval(c, I386, nr32("mount")), ALLOW);     // left to the i386 filter
  FilterChain c32 = install(compile_ruleset(fj_filter(p, "seccomp.32")).prog);
  EXPECT_EQ(eval(c32, I386, nr32("mount")), ERRNO(1));
  EXPECT_EQ(eval(c32, I386, nr32("read")), ALLOW);
  EXPECT_EQ(eval(c32, X86_64, nr64("mount")), ALLOW);
}

// The rule sets behave like the filters firejail 0.9.72 ships precompiled.
TEST(CorpusImportFirejail, MatchesPrecompiledFilters) {
  // syscalls.txt has the 0.9.72 typo "set_mempolicyvmsplice" in @default (kept
  // as an unknown name); the shipped binary filters deny set_mempolicy and vmsplice.
  Known typo = kMinusOne;
  typo.insert({X86_64, nr64("set_mempolicy")});
  typo.insert({X86_64, nr64("vmsplice")});
  FirejailProfile def = fj_parse("seccomp\n");
  expect_same_as_bpf(fj_filter(def, "seccomp"), "firejail/bpf/seccomp", typo);
  expect_same_as_bpf(fj_filter(def, "seccomp.32"), "firejail/bpf/seccomp.32", {});
  FirejailProfile dbg = fj_parse("allow-debuggers\nseccomp\n");
  expect_same_as_bpf(fj_filter(dbg, "seccomp"), "firejail/bpf/seccomp.debug", typo);
  FirejailProfile bs = fj_parse("seccomp\nseccomp.block-secondary\nmemory-deny-write-execute\n");
  EXPECT_EQ(kinds(bs), (std::vector<std::string>{"seccomp.block_secondary", "seccomp", "seccomp.mdwx",
                                                  "seccomp.mdwx.32"}));
  expect_same_as_bpf(fj_filter(bs, "seccomp.block_secondary"), "firejail/bpf/seccomp.block_secondary",
                     kMinusOne,
                     {0, 1, 8, 0x80000000, 0xfffffffe, 0xffffffff, 0x100000000, 0x1ffffffff,
                      0xffffffffffffffff});
  const std::vector<uint64_t> prot = {0, 1, 2, 3, 4, 5, 6, 7, 0x8000, 0x8004, 0x100000006};
  expect_same_as_bpf(fj_filter(bs, "seccomp.mdwx"), "firejail/bpf/seccomp.mdwx", kMinusOne, {0}, prot);
  // libseccomp 2.5.4 names i386 shmat only as the ipc(2) multiplexer, so the
  // exact rule for the direct shmat (397) is refused.
  expect_same_as_bpf(fj_filter(bs, "seccomp.mdwx.32"), "firejail/bpf/seccomp.mdwx.32",
                     {{I386, nr32("shmat")}}, {0}, prot);
}

TEST(CorpusImportFirejail, ExemptionsDropAndKeep) {
  // Viber: seccomp !chroot -> chroot allowed on x86_64; the i386 list still denies it.
  const FirejailProfile& v = fj_profile("Viber.profile");
  FilterChain c = install(compile_ruleset(fj_filter(v, "seccomp")).prog);
  EXPECT_EQ(eval(c, X86_64, nr64("chroot")), ALLOW);
  EXPECT_EQ(eval(c, X86_64, nr64("mount")), ERRNO(1));
  FilterChain c32 = install(compile_ruleset(fj_filter(v, "seccomp.32")).prog);
  EXPECT_EQ(eval(c32, I386, nr32("chroot")), ERRNO(1));
  // steam: seccomp !chroot,!mount,... and seccomp.32 !process_vm_readv.
  const FirejailProfile& s = fj_profile("steam.profile");
  EXPECT_EQ(kinds(s), (std::vector<std::string>{"seccomp.32", "seccomp", "seccomp.32.list"}));
  FilterChain st = install(compile_ruleset(fj_filter(s, "seccomp")).prog);
  EXPECT_EQ(eval(st, X86_64, nr64("mount")), ALLOW);
  EXPECT_EQ(eval(st, X86_64, nr64("ptrace")), ALLOW);
  EXPECT_EQ(eval(st, X86_64, nr64("kexec_load")), ERRNO(1));
  FilterChain sl = install(compile_ruleset(fj_filter(s, "seccomp.32.list")).prog);
  EXPECT_EQ(eval(sl, I386, nr32("process_vm_readv")), ALLOW);
  EXPECT_EQ(eval(sl, I386, nr32("mount")), ERRNO(1));
  EXPECT_EQ(eval(sl, I386, nr32("vm86")), ERRNO(1));  // @cpu-emulation, an i386-only name
  // seccomp socket: the listed name is denied too.
  auto sock = fj_parse("seccomp socket\n");
  EXPECT_EQ(eval(install(compile_ruleset(fj_filter(sock, "seccomp")).prog), X86_64, nr64("socket")), ERRNO(1));
  // seccomp.drop: only the list; no i386 filter.
  const FirejailProfile& sp = fj_profile("spectre-meltdown-checker.profile");
  EXPECT_EQ(kinds(sp), (std::vector<std::string>{"seccomp", "seccomp.mdwx", "seccomp.mdwx.32"}));
  FilterChain d = install(compile_ruleset(fj_filter(sp, "seccomp")).prog);
  EXPECT_EQ(eval(d, X86_64, nr64("reboot")), ERRNO(1));
  EXPECT_EQ(eval(d, X86_64, nr64("mount")), ALLOW);
  EXPECT_EQ(eval(d, X86_64, nr64("ptrace")), ALLOW);
  // seccomp.keep, errno overrides, numbers and the error action.
  auto keep = fj_parse("seccomp.keep read,write,exit_group,$60\n");
  const RuleSet& k = fj_filter(keep, "seccomp");
  EXPECT_EQ(k.default_action, ERRNO(1));
  FilterChain kc = install(compile_ruleset(k).prog);
  EXPECT_EQ(eval(kc, X86_64, nr64("read")), ALLOW);
  EXPECT_EQ(eval(kc, X86_64, nr64("exit")), ALLOW);  // $60
  EXPECT_EQ(eval(kc, X86_64, nr64("execve")), ALLOW);  // @default-keep
  EXPECT_EQ(eval(kc, X86_64, nr64("openat")), ERRNO(1));
  auto err = fj_parse("seccomp-error-action kill\nseccomp.drop ptrace,mount:ENOSYS\n");
  const RuleSet& e = fj_filter(err, "seccomp");
  EXPECT_EQ(rules_for(e, "ptrace").at(0).action, KILL_THREAD);
  EXPECT_EQ(rules_for(e, "mount").at(0).action, ERRNO(38));
  EXPECT_EQ(e.bad_arch_action, KILL_THREAD);
}

TEST(CorpusImportFirejail, BrokenInputsNameFileAndLine) {
  auto err = [](const std::string& rows) {
    return error_of([&] { parse_firejail_profile_lines_tsv(rows, "p.tsv", fj_groups()); });
  };
  EXPECT_EQ(err("# c\na.profile\tseccomp @nope\n"),
            "p.tsv:2: unknown syscall group @nope (not in firejail/syscalls.txt)");
  EXPECT_EQ(err("a.profile\tseccomp.drop mount;reboot\n"),
            "p.tsv:1: invalid syscall list entry \"mount;reboot\" (character ';')");
  EXPECT_EQ(err("a.profile\tseccomp.drop\n"), "p.tsv:1: empty syscall lists are not allowed (seccomp.drop)");
  EXPECT_EQ(err("a.profile\tseccomp.frob x\n"), "p.tsv:1: unknown seccomp directive \"seccomp.frob x\"");
  EXPECT_EQ(err("a.profile\n"), "p.tsv:1: expected 2 tab-separated columns (profile, line)");
  EXPECT_EQ(err("a.profile\tseccomp-error-action maybe\n"),
            "p.tsv:1: invalid seccomp-error-action \"maybe\"");
  // A whole profile file: other lines are ignored.
  FirejailProfile p = parse_firejail_profile("include globals.local\nnoroot\nseccomp !chroot\n", "x.profile",
                                             fj_groups());
  EXPECT_EQ(kinds(p), (std::vector<std::string>{"seccomp.32", "seccomp"}));
  EXPECT_EQ(error_of([] { parse_firejail_profile("seccomp @x\n", "y.profile", fj_groups()); }),
            "y.profile:1: unknown syscall group @x (not in firejail/syscalls.txt)");
}

// ---------------------------------------------------------------------------
// Raw cBPF

TEST(CorpusImportRawBpf, ShippedProgramsLoad) {
  const std::map<std::string, size_t> expected = {
      {"firejail/bpf/seccomp", 80},       {"firejail/bpf/seccomp.debug", 77},
      {"firejail/bpf/seccomp.32", 54},    {"firejail/bpf/seccomp.mdwx", 35},
      {"firejail/bpf/seccomp.mdwx.32", 34}, {"firejail/bpf/seccomp.block_secondary", 15},
      {"bubblewrap/flatpak.bpf", 93}};
  for (const auto& [file, insns] : expected) {
    SCOPED_TRACE(file);
    EXPECT_EQ(load_bpf(file).size(), insns);
  }
  // libseccomp output for x86_64 (with x32 numbers) and x86; KILL for other arches.
  Program flatpak = load_bpf("bubblewrap/flatpak.bpf");
  FilterChain c = install(flatpak);
  EXPECT_EQ(eval(c, X86_64, nr64("read")), ALLOW);
  EXPECT_EQ(eval(c, I386, nr32("read")), ALLOW);
  EXPECT_EQ(eval(c, X86_64, nr64("ptrace")), ERRNO(1));
  EXPECT_EQ(eval(c, 0xc00000b7, 0), KILL_THREAD);
}

TEST(CorpusImportRawBpf, BrokenProgramsAreRejected) {
  std::string bytes = read_text("firejail/bpf/seccomp");
  EXPECT_EQ(error_of([&] { import_raw_bpf(bytes.substr(0, 83), "s.bpf"); }),
            "s.bpf: size 83 bytes is not a multiple of 8 (struct sock_filter)");
  // Without its last instruction the program ends in a jump.
  std::string msg = error_of([&] { import_raw_bpf(bytes.substr(0, bytes.size() - 8), "s.bpf"); });
  EXPECT_EQ(msg.rfind("s.bpf: the kernel would reject the filter (", 0), 0u) << msg;
  EXPECT_NE(msg.find("errno 22"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { import_raw_bpf("", "e.bpf"); }).find("the kernel would reject"), std::string::npos);
  // ld [64]: out of struct seccomp_data.
  std::string bad("\x20\x00\x00\x00\x40\x00\x00\x00\x06\x00\x00\x00\x00\x00\xff\x7f", 16);
  msg = error_of([&] { import_raw_bpf(bad, "o.bpf"); });
  EXPECT_NE(msg.find("abs-offset"), std::string::npos) << msg;
  EXPECT_NE(msg.find("instruction 0"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------
// Per-profile summary (printed; the numbers are checked loosely above).

TEST(CorpusImportSummary, Print) {
  auto line = [](const std::string& what, const RuleSet& rs) {
    CompileResult n = compile(rs, kNative), a = compile(rs, kAll);
    std::cout << what << ": " << rs.rules.size() << " rules, " << n.unknown_names.size()
              << " unknown names, " << a.warnings.size() << " compile warnings, " << n.prog.size()
              << " insns (" << (usable_arches(rs, kNative)[0])
              << "), " << a.prog.size() << " insns (";
    auto arches = usable_arches(rs, kAll);
    for (size_t i = 0; i < arches.size(); ++i) std::cout << (i ? "+" : "") << arches[i];
    std::cout << ")\n";
  };
  for (const auto& f : lxc_files()) line(f, load_lxc(f));
  for (const auto& u : load_units(groups252())) line("systemd " + u.unit + " " + u.filter, u.rules);
  for (const char* name : {"2048-qt.profile", "Viber.profile", "steam.profile", "0ad.profile",
                           "dnscrypt-proxy.profile", "spectre-meltdown-checker.profile", "wine.profile"})
    for (const auto& f : fj_profile(name).filters) line(std::string("firejail ") + name + " " + f.kind, f.rules);
}

}  // namespace
}  // namespace secdiff::corpus
