// Firecracker seccompiler JSON (corpus/src/firecracker_json.h): the files of
// SECDIFF_PROFILES_DIR/firecracker, dword semantics, actions and broken input.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "corpus/src/corpus_seeds.h"
#include "corpus/src/firecracker_json.h"
#include "corpus/src/seccomp_compile.h"
#include "oracle/chain.h"
#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"

namespace secdiff::corpus {
namespace {

const std::string kProfiles = SECDIFF_PROFILES_DIR;

std::string read_text(const std::string& rel) {
  std::ifstream in(kProfiles + "/" + rel, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const FirecrackerFilter& thread(const std::vector<FirecrackerFilter>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.thread == name) return f;
  throw std::runtime_error("no thread " + name);
}

FilterChain install(const RuleSet& rs) {
  FilterChain chain;
  const LoadResult lr = chain.install(compile_ruleset(rs).prog, 0);
  EXPECT_TRUE(lr.ok()) << lr.reason;
  return chain;
}

uint32_t eval(const FilterChain& chain, std::string_view name, std::vector<uint64_t> args = {},
              Arch arch = Arch::X86_64) {
  SeccompData d;
  d.arch = arch == Arch::I386 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
  d.nr = syscall_number(arch, name).value();
  for (size_t i = 0; i < args.size(); ++i) d.args[i] = args[i];
  return seccomp_run_filters(chain, d).ret;
}

std::string error_of(std::string_view text, const std::string& origin = "fc.json") {
  try {
    parse_firecracker_json(text, origin);
  } catch (const ProfileError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CorpusFirecracker, X86FileFacts) {
  const auto fs = parse_firecracker_json(read_text("firecracker/x86_64-unknown-linux-musl.json"),
                                         "x86_64-unknown-linux-musl.json");
  ASSERT_EQ(fs.size(), 3u);
  EXPECT_EQ(fs[0].thread, "api");  // key order, as seccompiler's BTreeMap
  EXPECT_EQ(fs[1].thread, "vcpu");
  EXPECT_EQ(fs[2].thread, "vmm");
  const RuleSet& vmm = thread(fs, "vmm").rules;
  EXPECT_EQ(vmm.rules.size(), 76u);
  std::set<std::string> names;
  for (const auto& r : vmm.rules) names.insert(r.syscall);
  EXPECT_EQ(names.size(), 50u);  // the vmm thread's syscalls
  EXPECT_EQ(thread(fs, "api").rules.rules.size(), 36u);
  EXPECT_EQ(thread(fs, "vcpu").rules.rules.size(), 49u);
  EXPECT_EQ(vmm.default_action, SECCOMP_RET_TRAP);
  EXPECT_EQ(vmm.arches, std::vector<std::string>{"x86_64"});
  for (const auto& r : vmm.rules) EXPECT_EQ(r.action, SECCOMP_RET_ALLOW);
  // The first mmap entry: MAP_FIXED|MAP_ANONYMOUS|MAP_PRIVATE (dword eq) and no PROT_EXEC.
  const Rule* mmap = nullptr;
  for (const auto& r : vmm.rules)
    if (r.syscall == "mmap") {
      mmap = &r;
      break;
    }
  ASSERT_NE(mmap, nullptr);
  ASSERT_EQ(mmap->args.size(), 2u);
  EXPECT_EQ(mmap->args[0], (ArgCmp{3, ArgCmp::MASKED_EQ, 0xffffffffu, 50}));
  EXPECT_EQ(mmap->args[1], (ArgCmp{2, ArgCmp::MASKED_EQ, 4, 0}));
  EXPECT_GT(mmap->source_line, 0);
}

TEST(CorpusFirecracker, CompiledVmmFilter) {
  const auto fs = parse_firecracker_json(read_text("firecracker/x86_64-unknown-linux-musl.json"),
                                         "x86_64-unknown-linux-musl.json");
  const FilterChain chain = install(thread(fs, "vmm").rules);
  EXPECT_EQ(eval(chain, "read"), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "ptrace"), SECCOMP_RET_TRAP);
  // masked_eq 4, datum 0: PROT_EXEC traps, garbage above bit 31 of flags is ignored (dword eq).
  EXPECT_EQ(eval(chain, "mmap", {0, 4096, 3, 50}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "mmap", {0, 4096, 3 | 4, 50}), SECCOMP_RET_TRAP);
  EXPECT_EQ(eval(chain, "mmap", {0, 4096, 3, 0xdead000000000032ull}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "mmap", {0, 4096, 3, 51}), SECCOMP_RET_TRAP);
  // ioctl FIONBIO (dword eq on arg1).
  EXPECT_EQ(eval(chain, "ioctl", {3, 0x5421}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "ioctl", {3, 0xffffffff00005421ull}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval(chain, "ioctl", {3, 0x5422}), SECCOMP_RET_TRAP);
  // Only x86_64: i386 meets libseccomp's bad-arch action.
  EXPECT_EQ(eval(chain, "read", {}, Arch::I386), SECCOMP_RET_KILL_THREAD);
}

TEST(CorpusFirecracker, Aarch64AndUnimplementedFiles) {
  const auto arm = parse_firecracker_json(read_text("firecracker/aarch64-unknown-linux-musl.json"),
                                          "firecracker/aarch64-unknown-linux-musl.json");
  ASSERT_EQ(arm.size(), 3u);
  const RuleSet& vmm = thread(arm, "vmm").rules;
  EXPECT_EQ(vmm.arches, (std::vector<std::string>{"x86_64", "x86", "x32"}));
  ASSERT_FALSE(vmm.notes.empty());
  EXPECT_NE(vmm.notes[0].find("targets aarch64"), std::string::npos) << vmm.notes[0];
  for (const auto& f : arm) {
    CompileOptions co;
    co.arches = {"x86_64", "x86"};
    const auto cr = compile_ruleset(f.rules, co);
    EXPECT_TRUE(cr.unknown_names.empty());
    FilterChain chain;
    EXPECT_TRUE(chain.install(cr.prog).ok()) << f.thread;
  }
  // newfstatat has no i386 number: a filter for x86 alone cannot name it.
  const KernelProfile& kp = default_kernel_profile();
  EXPECT_EQ(names_without_number(vmm, {Arch::I386}, kp), std::vector<std::string>{"newfstatat"});
  EXPECT_TRUE(names_without_number(vmm, {Arch::X86_64, Arch::I386}, kp).empty());

  const auto un = parse_firecracker_json(read_text("firecracker/unimplemented.json"), "unimplemented.json");
  ASSERT_EQ(un.size(), 3u);
  for (const auto& f : un) {
    EXPECT_EQ(f.rules.default_action, SECCOMP_RET_ALLOW);
    EXPECT_TRUE(f.rules.rules.empty());
    EXPECT_NE(f.rules.notes.at(0).find("names no target arch"), std::string::npos);
    const FilterChain chain = install(f.rules);
    EXPECT_EQ(eval(chain, "ptrace"), SECCOMP_RET_ALLOW);
  }
}

TEST(CorpusFirecracker, NamesWithoutX86NumberAreReported) {
  const std::string text = R"({"vmm": {"default_action": "trap", "filter_action": "allow",
    "filter": [{"syscall": "read"}, {"syscall": "cacheflush"}, {"syscall": "no_such_call"}]}})";
  const auto fs = parse_firecracker_json(text, "aarch64-test.json");
  const RuleSet& rs = fs.at(0).rules;
  const KernelProfile& kp = default_kernel_profile();
  EXPECT_EQ(names_without_number(rs, {Arch::X86_64, Arch::I386, Arch::X32}, kp),
            (std::vector<std::string>{"cacheflush", "no_such_call"}));
  const auto cr = compile_ruleset(rs);
  EXPECT_EQ(cr.unknown_names, std::vector<std::string>{"no_such_call"});
  FilterChain chain;
  ASSERT_TRUE(chain.install(cr.prog).ok());
  EXPECT_EQ(eval(chain, "read"), SECCOMP_RET_ALLOW);
}

TEST(CorpusFirecracker, ConditionsAndActions) {
  struct Case {
    const char* cond;
    ArgCmp want;
  };
  const Case cases[] = {
      {R"({"index": 1, "type": "dword", "op": "eq", "val": 7})", {1, ArgCmp::MASKED_EQ, 0xffffffffu, 7}},
      {R"({"index": 1, "type": "qword", "op": "eq", "val": 7})", {1, ArgCmp::EQ, 7, 0}},
      {R"({"index": 0, "type": "dword", "op": "ne", "val": 7})", {0, ArgCmp::NE, 7, 0}},
      {R"({"index": 2, "type": "qword", "op": "lt", "val": 7})", {2, ArgCmp::LT, 7, 0}},
      {R"({"index": 3, "type": "qword", "op": "le", "val": 7})", {3, ArgCmp::LE, 7, 0}},
      {R"({"index": 4, "type": "qword", "op": "gt", "val": 7})", {4, ArgCmp::GT, 7, 0}},
      {R"({"index": 5, "type": "qword", "op": "ge", "val": 18446744073709551615})",
       {5, ArgCmp::GE, 0xffffffffffffffffull, 0}},
      {R"({"index": 0, "type": "qword", "op": {"masked_eq": 240}, "val": 16})", {0, ArgCmp::MASKED_EQ, 240, 16}},
  };
  for (const auto& c : cases) {
    const std::string text = std::string(R"({"t": {"default_action": "trap", "filter_action": "allow",
      "filter": [{"syscall": "read", "args": [)") + c.cond + "]}]}}";
    const auto fs = parse_firecracker_json(text, "x86_64-t.json");
    ASSERT_EQ(fs.at(0).rules.rules.at(0).args.size(), 1u) << c.cond;
    EXPECT_EQ(fs[0].rules.rules[0].args[0], c.want) << c.cond;
  }
  // Two entries for one syscall OR; args of one entry AND.
  const auto fs = parse_firecracker_json(R"({"t": {"default_action": {"errno": 1}, "filter_action": "log",
    "filter": [{"syscall": "read", "args": [{"index": 0, "type": "qword", "op": "eq", "val": 1},
                                           {"index": 1, "type": "qword", "op": "eq", "val": 2}]},
               {"syscall": "read", "args": [{"index": 0, "type": "qword", "op": "eq", "val": 3}]}]}})",
                                         "x86_64-t.json");
  const RuleSet& rs = fs.at(0).rules;
  EXPECT_EQ(rs.default_action, SECCOMP_RET_ERRNO | 1);
  ASSERT_EQ(rs.rules.size(), 2u);
  EXPECT_EQ(rs.rules[0].action, SECCOMP_RET_LOG);
  const FilterChain chain = install(rs);
  EXPECT_EQ(eval(chain, "read", {1, 2}), SECCOMP_RET_LOG);
  EXPECT_EQ(eval(chain, "read", {1, 3}), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(eval(chain, "read", {3, 9}), SECCOMP_RET_LOG);
  for (const auto& [word, want] : std::vector<std::pair<std::string, uint32_t>>{
           {R"("allow")", SECCOMP_RET_ALLOW},
           {R"("trap")", SECCOMP_RET_TRAP},
           {R"("kill_thread")", SECCOMP_RET_KILL_THREAD},
           {R"("kill_process")", SECCOMP_RET_KILL_PROCESS},
           {R"("log")", SECCOMP_RET_LOG},
           {R"({"errno": 38})", SECCOMP_RET_ERRNO | 38},
           {R"({"trace": 5})", SECCOMP_RET_TRACE | 5}}) {
    const auto a = parse_firecracker_json(
        R"({"t": {"default_action": )" + word + R"(, "filter_action": "allow", "filter": []}})", "t.json");
    EXPECT_EQ(a.at(0).rules.default_action, want) << word;
  }
}

TEST(CorpusFirecracker, BrokenInputNamesFileAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"{\"vmm\": {\n\"default_action\": \"trap\",\n\"filter_action\": \"allow\",\n\"filter\": [\n{\"syscall\": \"read\"\n",
       "fc.json:5: invalid JSON"},
      {"{\"vmm\": {\n\"default_action\": \"trap\",\n\"filter\": []}}", "fc.json:1: missing field `filter_action`"},
      {"{\"vmm\": {\n\"default_action\": \"deny\",\n\"filter_action\": \"allow\", \"filter\": []}}",
       "fc.json:2: unknown action \"deny\""},
      {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [\n"
       "{\"syscall\": \"read\", \"args\": [\n{\"index\": 6, \"type\": \"dword\", \"op\": \"eq\", \"val\": 1}]}]}}",
       "fc.json:3: argument index 6 out of range 0..5"},
      {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [\n"
       "{\"syscall\": \"read\", \"args\": [{\"index\": 0,\n\"type\": \"word\", \"op\": \"eq\", \"val\": 1}]}]}}",
       "fc.json:3: type must be \"dword\" or \"qword\""},
      {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [\n"
       "{\"syscall\": \"read\", \"args\": [{\"index\": 0, \"type\": \"dword\",\n\"op\": \"masked\", \"val\": 1}]}]}}",
       "fc.json:3: unknown operator"},
      {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [\n"
       "{\"args\": []}]}}",
       "fc.json:2: missing field `syscall`"},
  };
  for (const auto& [text, want] : cases)
    EXPECT_NE(error_of(text).find(want), std::string::npos) << "got: " << error_of(text) << "\nwant: " << want;
}

}  // namespace
}  // namespace secdiff::corpus
