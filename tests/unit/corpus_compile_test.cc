// Docker/Podman/OCI JSON import and libseccomp compilation of the real
// profiles in SECDIFF_PROFILES_DIR (see its README.md, sections 2 and 4).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "corpus/src/docker_json.h"
#include "corpus/src/ruleset.h"
#include "corpus/src/seccomp_compile.h"
#include "oracle/bpf.h"
#include "oracle/interpreter.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"

namespace secdiff::corpus {
namespace {

namespace fs = std::filesystem;

const std::string kProfiles = SECDIFF_PROFILES_DIR;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RuleSet load(const std::string& rel, const DockerImportOptions& opts = {}) {
  return parse_docker_json_file(kProfiles + "/" + rel, opts, rel);
}

CompileResult compile(const RuleSet& rs, std::vector<std::string> arches, int optimize) {
  CompileOptions o;
  o.arches = std::move(arches);
  o.optimize = optimize;
  return compile_ruleset(rs, o);
}

// A minimal classic-BPF evaluator for what libseccomp emits (the test's own,
// independent of the oracle): returns the filter's return value.
uint32_t run(const Program& p, const SeccompData& d) {
  using namespace bpf;
  uint32_t a = 0, x = 0, mem[MEMWORDS] = {};
  for (size_t pc = 0; pc < p.size(); ++pc) {
    const Insn& i = p[pc];
    uint32_t src = src_of(i.code) == X ? x : i.k;
    switch (class_of(i.code)) {
      case LD:
        if (mode_of(i.code) == ABS && size_of(i.code) == W) a = d.word(i.k);
        else if (mode_of(i.code) == IMM) a = i.k;
        else if (mode_of(i.code) == MEM) a = mem[i.k % MEMWORDS];
        else ADD_FAILURE() << "unexpected load " << i.code;
        break;
      case LDX:
        if (mode_of(i.code) == IMM) x = i.k;
        else if (mode_of(i.code) == MEM) x = mem[i.k % MEMWORDS];
        else ADD_FAILURE() << "unexpected ldx " << i.code;
        break;
      case ST: mem[i.k % MEMWORDS] = a; break;
      case STX: mem[i.k % MEMWORDS] = x; break;
      case ALU:
        switch (op_of(i.code)) {
          case ADD: a += src; break;
          case SUB: a -= src; break;
          case AND: a &= src; break;
          case OR: a |= src; break;
          case XOR: a ^= src; break;
          case LSH: a <<= (src & 31); break;
          case RSH: a >>= (src & 31); break;
          case NEG: a = 0u - a; break;
          default: ADD_FAILURE() << "unexpected alu " << i.code; return ~0u;
        }
        break;
      case JMP: {
        if (op_of(i.code) == JA) {
          pc += i.k;
          break;
        }
        bool taken = false;
        switch (op_of(i.code)) {
          case JEQ: taken = a == src; break;
          case JGT: taken = a > src; break;
          case JGE: taken = a >= src; break;
          case JSET: taken = (a & src) != 0; break;
          default: ADD_FAILURE() << "unexpected jmp " << i.code; return ~0u;
        }
        pc += taken ? i.jt : i.jf;
        break;
      }
      case RET: return rval_of(i.code) == A ? a : i.k;
      case MISC:
        if (miscop_of(i.code) == TAX) x = a;
        else a = x;
        break;
    }
  }
  ADD_FAILURE() << "fell off the end of the program";
  return ~0u;
}

SeccompData call(uint32_t arch, int32_t nr, std::vector<uint64_t> args = {}) {
  SeccompData d;
  d.arch = arch;
  d.nr = nr;
  for (size_t i = 0; i < args.size() && i < 6; ++i) d.args[i] = args[i];
  return d;
}

constexpr uint32_t ERRNO(uint32_t e) { return SECCOMP_RET_ERRNO | e; }
constexpr uint64_t kCloneNewUser = 0x10000000;
constexpr uint32_t X32 = X32_SYSCALL_BIT;
// x86_64 numbers.
constexpr int32_t NR_read = 0, NR_socket = 41, NR_clone = 56, NR_personality = 135,
                  NR_reboot = 169, NR_clone3 = 435;
// i386 numbers.
constexpr int32_t NR32_read = 3, NR32_reboot = 88, NR32_socketcall = 102, NR32_socket = 359;

bool has_rule(const RuleSet& rs, std::string_view name) {
  return std::any_of(rs.rules.begin(), rs.rules.end(),
                     [&](const Rule& r) { return r.syscall == name; });
}
std::vector<Rule> rules_for(const RuleSet& rs, std::string_view name) {
  std::vector<Rule> out;
  for (const auto& r : rs.rules)
    if (r.syscall == name) out.push_back(r);
  return out;
}

TEST(CorpusCompile, HostLibseccompIs254) {
  // The instruction counts below are for libseccomp 2.5.4.
  EXPECT_EQ(libseccomp_version(), "2.5.4");
}

TEST(CorpusCompile, ParsesAndCompilesEveryJsonProfile) {
  std::vector<std::string> files;
  for (const char* dir : {"docker", "podman", "oci-runc"})
    for (const auto& e : fs::recursive_directory_iterator(kProfiles + "/" + dir))
      if (e.path().extension() == ".json")
        files.push_back(fs::relative(e.path(), kProfiles).string());
  files.push_back("flatpak/flatpak-docker-seccomp.json");
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    RuleSet rs;
    ASSERT_NO_THROW(rs = load(f));
    EXPECT_EQ(rs.origin, f);
    EXPECT_FALSE(rs.rules.empty());
    ASSERT_FALSE(rs.arches.empty());
    EXPECT_EQ(rs.arches.front(), "x86_64");  // runc keeps the native arch first
    CompileResult cr;
    ASSERT_NO_THROW(cr = compile_ruleset(rs));
    EXPECT_GT(cr.prog.size(), 4u);
    EXPECT_LE(cr.prog.size(), bpf::MAXINSNS);
    if (f == "docker/fixtures/example.json") {
      // moby's fixture passes errnoRet 12345 through; libseccomp refuses ERRNO >= 4095.
      ASSERT_EQ(cr.warnings.size(), 1u);
      EXPECT_EQ(cr.warnings[0],
                "docker/fixtures/example.json:28: syscall syslog on x86_64: libseccomp refused "
                "the rule: Invalid argument (ERRNO data 12345 >= 4095)");
    } else {
      EXPECT_TRUE(cr.warnings.empty()) << cr.warnings.front();
    }
    EXPECT_EQ(bpf::class_of(cr.prog.back().code), bpf::RET);
  }
}

TEST(CorpusCompile, ArchSelection) {
  // archMap: the amd64 entry gives X86_64 + X86 + X32.
  EXPECT_EQ(load("docker/default.json").arches, (std::vector<std::string>{"x86_64", "x86", "x32"}));
  // Old format with a flat list.
  EXPECT_EQ(load("docker/fixtures/default-old-format.json").arches,
            (std::vector<std::string>{"x86_64", "x86", "x32"}));
  // OCI: X86, X32, X86_64, AARCH64, ARM -> native first, foreign arches left out with a note.
  RuleSet oci = load("oci-runc/seccomp_syscall_test1.json");
  EXPECT_EQ(oci.arches, (std::vector<std::string>{"x86_64", "x86", "x32"}));
  EXPECT_EQ(oci.notes.size(), 2u);
  // No arch list: libseccomp's native arch only.
  EXPECT_EQ(load("docker/fixtures/example.json").arches, (std::vector<std::string>{"x86_64"}));
  // The options restrict the list.
  DockerImportOptions o;
  o.arches = {"x86_64"};
  EXPECT_EQ(load("docker/default.json", o).arches, (std::vector<std::string>{"x86_64"}));
}

TEST(CorpusCompile, IncludesExcludesAsMoby) {
  RuleSet rs = load("docker/default.json");
  EXPECT_EQ(rs.default_action, ERRNO(1));
  EXPECT_TRUE(has_rule(rs, "arch_prctl"));   // includes.arches amd64
  EXPECT_TRUE(has_rule(rs, "modify_ldt"));
  EXPECT_FALSE(has_rule(rs, "s390_runtime_instr"));
  EXPECT_FALSE(has_rule(rs, "cacheflush"));
  EXPECT_TRUE(has_rule(rs, "ptrace"));       // includes.minKernel 4.8 <= 6.1
  EXPECT_TRUE(has_rule(rs, "chroot"));       // CAP_SYS_CHROOT is a default cap
  EXPECT_FALSE(has_rule(rs, "reboot"));      // CAP_SYS_BOOT is not
  EXPECT_FALSE(has_rule(rs, "mount"));
  // Without CAP_SYS_ADMIN: the masked clone rule (not the s390 one) and clone3 -> ENOSYS.
  auto clone = rules_for(rs, "clone");
  ASSERT_EQ(clone.size(), 1u);
  ASSERT_EQ(clone[0].args.size(), 1u);
  EXPECT_EQ(clone[0].args[0], (ArgCmp{0, ArgCmp::MASKED_EQ, 2114060288, 0}));
  auto clone3 = rules_for(rs, "clone3");
  ASSERT_EQ(clone3.size(), 1u);
  EXPECT_EQ(clone3[0].action, ERRNO(38));
  EXPECT_GT(clone3[0].source_line, 1);

  DockerImportOptions o;
  o.caps = docker_default_caps();
  o.caps.push_back("CAP_SYS_ADMIN");
  o.caps.push_back("CAP_SYS_BOOT");
  o.kernel = "4.4.0-210-generic";
  RuleSet priv = load("docker/default.json", o);
  EXPECT_TRUE(has_rule(priv, "reboot"));
  EXPECT_TRUE(has_rule(priv, "mount"));
  EXPECT_TRUE(rules_for(priv, "clone").at(0).args.empty());
  EXPECT_EQ(rules_for(priv, "clone3").at(0).action, SECCOMP_RET_ALLOW);
  EXPECT_TRUE(rules_for(priv, "process_vm_readv").empty());  // minKernel 4.8 > 4.4

  o = {};
  o.host_arch = "x86";
  RuleSet i386 = load("docker/default.json", o);
  EXPECT_FALSE(has_rule(i386, "arch_prctl"));
  EXPECT_TRUE(has_rule(i386, "modify_ldt"));
  EXPECT_EQ(i386.arches, (std::vector<std::string>{"x86"}));  // archMap has no X86 entry
}

TEST(CorpusCompile, RuncArgumentSplitting) {
  RuleSet rs = load("oci-runc/seccomp_syscall_test1.json");
  // Distinct indexes: one rule, AND.
  auto kcmp = rules_for(rs, "kcmp");
  ASSERT_EQ(kcmp.size(), 1u);
  EXPECT_EQ(kcmp[0].args.size(), 2u);
  // Index 0 twice: one rule per comparison, OR.
  auto pvr = rules_for(rs, "process_vm_readv");
  ASSERT_EQ(pvr.size(), 2u);
  EXPECT_EQ(pvr[0].args, (std::vector<ArgCmp>{{0, ArgCmp::EQ, 100, 0}}));
  EXPECT_EQ(pvr[1].args, (std::vector<ArgCmp>{{0, ArgCmp::EQ, 9001, 0}}));
  auto pvw = rules_for(rs, "process_vm_writev");
  ASSERT_EQ(pvw.size(), 2u);
  EXPECT_EQ(pvw[0].action, ERRNO(55));
  // Rule ERRNO without errnoRet is EPERM even with another defaultErrnoRet (runc).
  RuleSet t2 = load("oci-runc/seccomp_syscall_test2.json");
  EXPECT_EQ(t2.default_action, ERRNO(6));
}

TEST(CorpusCompile, PodmanExtras) {
  RuleSet rs = load("podman/seccomp.json");
  EXPECT_EQ(rs.default_action, ERRNO(38));  // defaultErrnoRet 38 / defaultErrno ENOSYS
  auto sock = rules_for(rs, "socket");
  // CAP_AUDIT_WRITE is a default cap: EQ 40 -> EPERM, NE 40 -> allow.
  ASSERT_EQ(sock.size(), 2u);
  EXPECT_EQ(sock[0].action, ERRNO(1));
  EXPECT_EQ(sock[1].action, SECCOMP_RET_ALLOW);
  DockerImportOptions o;
  o.caps = {};
  auto bare = rules_for(load("podman/seccomp.json", o), "socket");
  ASSERT_EQ(bare.size(), 4u);
  EXPECT_EQ(bare[1].action, ERRNO(22));  // errnoRet 22 / errno EINVAL, AND of two args
  EXPECT_EQ(bare[1].args.size(), 2u);
}

// README section 4, libseccomp 2.5.4, "full" rows. OPTIMIZE=1 is libseccomp's
// default, the README's "opt 0" column.
struct CountCase {
  const char* file;
  unsigned x86_64_o1, x86_64_o2, multi_o1, multi_o2;
};

TEST(CorpusCompile, InstructionCountsMatchReadme) {
  const CountCase cases[] = {
      {"docker/default.json", 337, 415, 1001, 1246},
      {"podman/seccomp.json", 376, 468, 1150, 1438},
      {"docker/debian-bookworm/default.json", 318, 394, 960, 1200},
  };
  const std::vector<std::string> all = {"x86_64", "x86", "x32"};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    RuleSet rs = load(c.file);
    EXPECT_EQ(compile(rs, {"x86_64"}, 1).prog.size(), c.x86_64_o1);
    EXPECT_EQ(compile(rs, {"x86_64"}, 2).prog.size(), c.x86_64_o2);
    EXPECT_EQ(compile(rs, all, 1).prog.size(), c.multi_o1);
    EXPECT_EQ(compile(rs, all, 2).prog.size(), c.multi_o2);
  }
}

// compile_ruleset() builds one context per arch and merges them; when every
// rule is accepted that is byte for byte what one multi-arch context (runc) exports.
TEST(CorpusCompile, MergedContextsEqualOneMultiArchContext) {
  for (const char* f : {"docker/default.json", "podman/seccomp.json"}) {
    RuleSet rs = load(f);
    for (int optimize : {1, 2}) {
      SCOPED_TRACE(std::string(f) + " optimize " + std::to_string(optimize));
      CompileOptions o;
      o.optimize = optimize;
      CompileResult merged = compile_ruleset(rs, o);
      o.single_context = true;
      CompileResult single = compile_ruleset(rs, o);
      EXPECT_EQ(merged.prog, single.prog);
      EXPECT_EQ(merged.unknown_names, single.unknown_names);
    }
  }
}

TEST(CorpusCompile, DockerDefaultUnknownNames) {
  CompileResult cr = compile(load("docker/default.json"), {"x86_64", "x86", "x32"}, 1);
  std::vector<std::string> names = cr.unknown_names;
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"getxattrat", "listmount", "listxattrat", "mseal",
                                             "removexattrat", "riscv_hwprobe", "setxattrat",
                                             "statmount", "uretprobe"}));
  EXPECT_TRUE(cr.warnings.empty());
}

TEST(CorpusCompile, DockerDefaultSemantics) {
  RuleSet rs = load("docker/default.json");
  for (int optimize : {1, 2}) {
    SCOPED_TRACE(optimize);
    Program native = compile(rs, {"x86_64"}, optimize).prog;
    Program multi = compile(rs, {"x86_64", "x86", "x32"}, optimize).prog;
    for (const Program* p : {&native, &multi}) {
      const uint32_t X86_64 = AUDIT_ARCH_X86_64;
      EXPECT_EQ(run(*p, call(X86_64, NR_read)), SECCOMP_RET_ALLOW);
      EXPECT_EQ(run(*p, call(X86_64, NR_reboot)), ERRNO(1));
      EXPECT_EQ(run(*p, call(X86_64, NR_clone, {kCloneNewUser})), ERRNO(1));
      EXPECT_EQ(run(*p, call(X86_64, NR_clone, {0x3d0f00})), SECCOMP_RET_ALLOW);  // pthread flags
      EXPECT_EQ(run(*p, call(X86_64, NR_clone3)), ERRNO(38));
      EXPECT_EQ(run(*p, call(X86_64, NR_personality, {0xffffffff})), SECCOMP_RET_ALLOW);
      EXPECT_EQ(run(*p, call(X86_64, NR_personality, {0x0400000})), ERRNO(1));
      EXPECT_EQ(run(*p, call(X86_64, NR_socket, {40})), ERRNO(1));  // AF_VSOCK
      EXPECT_EQ(run(*p, call(X86_64, NR_socket, {38})), ERRNO(1));  // AF_ALG
      EXPECT_EQ(run(*p, call(X86_64, NR_socket, {2})), SECCOMP_RET_ALLOW);
      EXPECT_EQ(run(*p, call(X86_64, NR_socket, {41})), SECCOMP_RET_ALLOW);
      EXPECT_EQ(run(*p, call(0xc00000b7, NR_read)), SECCOMP_RET_KILL_THREAD);  // aarch64: bad arch
    }
    // i386 and x32 are a bad arch for the x86_64-only filter.
    EXPECT_EQ(run(native, call(AUDIT_ARCH_I386, NR32_read)), SECCOMP_RET_KILL_THREAD);
    EXPECT_EQ(run(native, call(AUDIT_ARCH_X86_64, X32 | NR_read)), SECCOMP_RET_KILL_THREAD);
    // ... and filtered by the multi-arch one; i386 socketcall bypasses the family rules.
    EXPECT_EQ(run(multi, call(AUDIT_ARCH_I386, NR32_read)), SECCOMP_RET_ALLOW);
    EXPECT_EQ(run(multi, call(AUDIT_ARCH_I386, NR32_reboot)), ERRNO(1));
    EXPECT_EQ(run(multi, call(AUDIT_ARCH_I386, NR32_socket, {40})), ERRNO(1));
    EXPECT_EQ(run(multi, call(AUDIT_ARCH_I386, NR32_socketcall, {1})), SECCOMP_RET_ALLOW);
    EXPECT_EQ(run(multi, call(AUDIT_ARCH_X86_64, X32 | NR_read)), SECCOMP_RET_ALLOW);
    EXPECT_EQ(run(multi, call(AUDIT_ARCH_X86_64, X32 | NR_socket, {40})), ERRNO(1));
    EXPECT_EQ(run(multi, call(AUDIT_ARCH_X86_64, X32 | NR_reboot)), ERRNO(1));
  }
}

TEST(CorpusCompile, ArchOrderFollowsOptions) {
  RuleSet rs = load("docker/default.json");
  // libseccomp checks the arches in the order they were added: ld arch; jeq ARCH.
  auto first_arch = [](const Program& p) { return p.at(1).k; };
  EXPECT_EQ(first_arch(compile(rs, {"x86_64", "x86"}, 1).prog), AUDIT_ARCH_X86_64);
  Program p = compile(rs, {"x86", "x86_64"}, 1).prog;
  EXPECT_EQ(first_arch(p), AUDIT_ARCH_I386);
  EXPECT_EQ(run(p, call(AUDIT_ARCH_I386, NR32_read)), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(p, call(AUDIT_ARCH_X86_64, NR_reboot)), ERRNO(1));
  EXPECT_EQ(run(p, call(AUDIT_ARCH_X86_64, X32 | NR_read)), SECCOMP_RET_KILL_THREAD);
  // Only x86: the native arch is gone.
  p = compile(rs, {"x86"}, 2).prog;
  EXPECT_EQ(run(p, call(AUDIT_ARCH_X86_64, NR_read)), SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(run(p, call(AUDIT_ARCH_I386, NR32_read)), SECCOMP_RET_ALLOW);
  // An arch the rule set does not name is left out with a warning.
  RuleSet native_only = load("docker/fixtures/example.json");
  CompileResult cr = compile(native_only, {"x86", "x86_64"}, 1);
  EXPECT_EQ(first_arch(cr.prog), AUDIT_ARCH_X86_64);
  ASSERT_FALSE(cr.warnings.empty());
  EXPECT_EQ(cr.warnings[0], "docker/fixtures/example.json: arch x86 is not in the rule set; left out");
  EXPECT_THROW(compile(native_only, {"x32"}, 1), CompileError);
}

// The oracle loads what libseccomp exports, and its interpreter (which runs
// the rewritten form) agrees with the local evaluator on a sweep of calls.
TEST(CorpusCompile, OracleAgreesOnCompiledProfiles) {
  for (const char* f : {"docker/default.json", "podman/seccomp.json",
                        "flatpak/flatpak-docker-seccomp.json"}) {
    for (int optimize : {1, 2}) {
      SCOPED_TRACE(std::string(f) + " optimize " + std::to_string(optimize));
      Program p = compile(load(f), {"x86_64", "x86", "x32"}, optimize).prog;
      FilterChain chain;
      LoadResult lr = chain.install(p, 0);
      ASSERT_TRUE(lr.ok()) << lr.reason;
      const Program& rewritten = chain.filters().back().insns;
      for (uint32_t arch : {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386})
        for (int32_t nr = -1; nr < 470; ++nr)
          for (uint64_t a0 : {uint64_t{0}, uint64_t{40}, kCloneNewUser, uint64_t{0xffffffff}}) {
            SeccompData d = call(arch, nr, {a0, 9});
            ASSERT_EQ(bpf_run(rewritten, d), run(p, d)) << "arch " << arch << " nr " << nr;
            d.nr = static_cast<int32_t>(X32 | static_cast<uint32_t>(nr));
            ASSERT_EQ(bpf_run(rewritten, d), run(p, d)) << "arch " << arch << " x32 nr " << nr;
          }
    }
  }
}

TEST(CorpusCompile, BadArchActionOption) {
  CompileOptions o;
  o.arches = {"x86_64"};
  o.bad_arch_action = SECCOMP_RET_KILL_PROCESS;
  Program p = compile_ruleset(load("docker/default.json"), o).prog;
  EXPECT_EQ(run(p, call(AUDIT_ARCH_I386, NR32_read)), SECCOMP_RET_KILL_PROCESS);
}

TEST(CorpusCompile, TruncatedJsonNamesFileAndLine) {
  std::string text = read_text(kProfiles + "/docker/default.json");
  // Keep the first 40 lines: the error is at the end of line 40.
  size_t cut = 0;
  for (int i = 0; i < 40; ++i) cut = text.find('\n', cut) + 1;
  try {
    parse_docker_json(text.substr(0, cut), "docker/default.json");
    FAIL() << "no error";
  } catch (const ProfileError& e) {
    EXPECT_EQ(e.file(), "docker/default.json");
    EXPECT_EQ(e.line(), 40);
    EXPECT_EQ(std::string(e.what()).rfind("docker/default.json:40: invalid JSON: ", 0), 0u) << e.what();
  }
  // A syntax error in the middle: a missing comma after line 3.
  try {
    parse_docker_json("{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\"\n  \"syscalls\": []\n}\n", "x.json");
    FAIL() << "no error";
  } catch (const ProfileError& e) {
    EXPECT_EQ(e.line(), 3) << e.what();
  }
}

TEST(CorpusCompile, ContentErrorsNameFileAndLine) {
  const std::string head = "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n";
  auto error_of = [&](const std::string& entry) -> std::string {
    try {
      parse_docker_json(head + entry + "\n  ]\n}\n", "docker/default.json");
    } catch (const ProfileError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error_of("    {\"names\": [\"read\"],\n     \"action\": \"SCMP_ACT_FOO\"}"),
            "docker/default.json:5: unknown action SCMP_ACT_FOO");
  EXPECT_EQ(error_of("    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
                     "     \"errno\": \"EFOO\"}"),
            "docker/default.json:5: unknown errno name EFOO");
  EXPECT_EQ(error_of("    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n"
                     "     \"args\": [{\"index\": 7, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}"),
            "docker/default.json:5: argument index 7 out of range 0..5");
  EXPECT_EQ(error_of("    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n"
                     "     \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_XX\"}]}"),
            "docker/default.json:5: unknown operator SCMP_CMP_XX");
  EXPECT_EQ(error_of("    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n"
                     "     \"includes\": {\"minKernel\": \"4.8.1\"}}"),
            "docker/default.json:5: invalid minKernel \"4.8.1\", expected \"<kernel>.<major>\"");
  EXPECT_EQ(error_of("    {\"name\": \"read\", \"names\": [\"write\"], \"action\": \"SCMP_ACT_ALLOW\"}"),
            "docker/default.json:4: both 'name' and 'names' are specified");
  EXPECT_EQ(error_of("    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n"
                     "     \"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}"),
            "docker/default.json:5: value must be a non-negative integer");
}

TEST(CorpusCompile, UnknownSyscallIsKeptAndReported) {
  const char* text = R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [
      {"names": ["read", "no_such_syscall", "write"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
       "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}
    ]
  })";
  RuleSet rs = parse_docker_json(text, "unknown.json");
  ASSERT_EQ(rs.rules.size(), 4u);
  EXPECT_EQ(rs.rules[1].syscall, "no_such_syscall");
  EXPECT_EQ(rs.rules[1].source_line, 4);
  EXPECT_EQ(rs.rules[3].source_line, 5);
  EXPECT_EQ(rs.rules[3].action, ERRNO(5));
  CompileResult cr = compile_ruleset(rs);
  EXPECT_EQ(cr.unknown_names, (std::vector<std::string>{"no_such_syscall"}));
  EXPECT_TRUE(cr.warnings.empty());
  EXPECT_EQ(run(cr.prog, call(AUDIT_ARCH_X86_64, NR_read)), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(cr.prog, call(AUDIT_ARCH_X86_64, 1)), SECCOMP_RET_ALLOW);  // write
  EXPECT_EQ(run(cr.prog, call(AUDIT_ARCH_X86_64, 2)), ERRNO(1));          // open
}

TEST(CorpusCompile, RefusedRuleIsAWarning) {
  RuleSet rs;
  rs.origin = "handmade";
  rs.default_action = SECCOMP_RET_ALLOW;
  rs.arches = {"x86_64", "x86"};
  // The same index twice in one rule: libseccomp refuses it (EINVAL) on every arch.
  rs.rules.push_back(Rule{"getpid", ERRNO(1), {{0, ArgCmp::EQ, 1, 0}, {0, ArgCmp::EQ, 2, 0}}, 7, {}, false});
  // arch_prctl does not exist on x86: nothing to add there, and no warning.
  rs.rules.push_back(Rule{"arch_prctl", ERRNO(1), {}, 8, {}, false});
  // Restricted to x86.
  rs.rules.push_back(Rule{"read", ERRNO(2), {}, 9, {"x86"}, false});
  // Same action as the default: skipped, as runc does.
  rs.rules.push_back(Rule{"write", SECCOMP_RET_ALLOW, {}, 10, {}, false});
  // socketcall is a pseudo syscall on x86_64, which an exact rule cannot use.
  rs.rules.push_back(Rule{"socketcall", ERRNO(3), {}, 11, {}, true});
  CompileResult cr = compile_ruleset(rs);
  ASSERT_EQ(cr.warnings.size(), 3u);
  EXPECT_EQ(cr.warnings[0].rfind("handmade:7: syscall getpid on x86_64: libseccomp refused", 0), 0u)
      << cr.warnings[0];
  EXPECT_EQ(cr.warnings[1].rfind("handmade:11: syscall socketcall on x86_64: libseccomp refused", 0), 0u)
      << cr.warnings[1];
  EXPECT_EQ(cr.warnings[2].rfind("handmade:7: syscall getpid on x86:", 0), 0u) << cr.warnings[2];
  EXPECT_EQ(run(cr.prog, call(AUDIT_ARCH_X86_64, 158)), ERRNO(1));  // arch_prctl
  EXPECT_EQ(run(cr.prog, call(AUDIT_ARCH_X86_64, NR_read)), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(cr.prog, call(AUDIT_ARCH_I386, NR32_read)), ERRNO(2));
  EXPECT_EQ(run(cr.prog, call(AUDIT_ARCH_I386, NR32_socketcall)), ERRNO(3));

  // One multi-arch context: the socketcall rule is rolled back on x86 too, and
  // the rule for x86 only cannot be expressed.
  CompileOptions single;
  single.single_context = true;
  cr = compile_ruleset(rs, single);
  ASSERT_EQ(cr.warnings.size(), 3u);
  EXPECT_EQ(cr.warnings[1].rfind("handmade:9: syscall read: a rule for some arches", 0), 0u)
      << cr.warnings[1];
  EXPECT_EQ(cr.warnings[2].rfind("handmade:11: syscall socketcall on x86_64+x86: libseccomp refused", 0), 0u)
      << cr.warnings[2];
  EXPECT_EQ(run(cr.prog, call(AUDIT_ARCH_I386, NR32_socketcall)), SECCOMP_RET_ALLOW);
}

TEST(CorpusCompile, ErrnoNames) {
  EXPECT_EQ(errno_from_name("EPERM"), 1);
  EXPECT_EQ(errno_from_name("ENOSYS"), 38);
  EXPECT_EQ(errno_from_name("EINVAL"), 22);
  EXPECT_EQ(errno_from_name("EACCES"), 13);
  EXPECT_EQ(errno_from_name("EHWPOISON"), 133);
  EXPECT_EQ(errno_from_name("EWOULDBLOCK"), 11);
  EXPECT_EQ(errno_from_name("ENOTSUP"), 95);
  EXPECT_FALSE(errno_from_name("EFOO").has_value());
}

}  // namespace
}  // namespace secdiff::corpus
