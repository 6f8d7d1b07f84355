// Every file of SECDIFF_PROFILES_DIR: each profile imports through the
// dispatcher (corpus/src/profile_import.h) and compiles to filters the kernel
// accepts; the other files are named as such. Also the transcribed C tables
// (corpus/src/c_table_json.h), format detection of the new formats and the
// seed inputs their rule sets give.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "corpus/src/c_table_json.h"
#include "corpus/src/corpus_seeds.h"
#include "corpus/src/profile_import.h"
#include "corpus/src/seccomp_compile.h"
#include "oracle/chain.h"
#include "oracle/kernel_profile.h"
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

// Files that go with the profiles but are none.
const std::set<std::string> kNotProfiles = {
    "README.md",
    "crosvm/README-upstream.md",
    "crosvm/x86_64/common_device.frequency",
    "crosvm/x86_64/constants.json",
    "firejail/syscalls.txt",
    "systemd/groups-v252.json",
    "systemd/groups-v257.json",
    "systemd/syscall-filter-v252.txt",
    "systemd/syscall-filter-v257.txt",
};

ProfileFormat expected_format(const std::string& rel) {
  const std::string dir = rel.substr(0, rel.find('/'));
  if (dir == "docker" || dir == "podman" || dir == "oci-runc") return ProfileFormat::DockerJson;
  if (rel == "flatpak/flatpak-docker-seccomp.json") return ProfileFormat::DockerJson;
  if (rel == "flatpak/blocklist.json" || dir == "qemu") return ProfileFormat::CTable;
  if (dir == "lxc" || dir == "lxd") return ProfileFormat::Lxc;
  if (rel == "systemd/unit-directives-bookworm.tsv") return ProfileFormat::SystemdTsv;
  if (rel == "firejail/profile-seccomp-lines.tsv") return ProfileFormat::FirejailTsv;
  if (rel.starts_with("firejail/bpf/") || dir == "bubblewrap") return ProfileFormat::RawBpf;
  if (dir == "firecracker") return ProfileFormat::Firecracker;
  if (dir == "crosvm") return ProfileFormat::Minijail;
  if (dir == "android-bionic") return ProfileFormat::Bionic;
  ADD_FAILURE() << rel << ": no expected format; is it a new profile?";
  return ProfileFormat::DockerJson;
}

TEST(CorpusProfiles, EveryFileImportsOrIsNamed) {
  size_t profiles = 0, filters = 0, not_profiles = 0;
  for (const auto& e : fs::recursive_directory_iterator(kProfiles)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), kProfiles).string();
    const std::string bytes = read_text(e.path().string());
    if (kNotProfiles.contains(rel)) {
      EXPECT_TRUE(not_a_profile(rel, bytes).has_value()) << rel;
      EXPECT_EQ(detect_profile_format(rel, bytes), std::nullopt) << rel;
      EXPECT_THROW(import_profile_file(e.path().string()), ProfileError) << rel;
      ++not_profiles;
      continue;
    }
    SCOPED_TRACE(rel);
    EXPECT_EQ(not_a_profile(rel, bytes), std::nullopt);
    const ProfileFormat want = expected_format(rel);
    EXPECT_EQ(detect_profile_format(e.path().string(), bytes), want) << profile_format_name(want);
    ImportedProfile ip;
    ASSERT_NO_THROW(ip = import_profile_file(e.path().string()));
    ASSERT_FALSE(ip.filters.empty());
    ++profiles;
    for (const auto& f : ip.filters) {
      Program prog = f.program;
      if (f.rules) {
        ASSERT_FALSE(f.rules->arches.empty()) << f.name;
        prog = compile_ruleset(*f.rules).prog;
      }
      FilterChain chain;
      const LoadResult lr = chain.install(prog);
      EXPECT_TRUE(lr.ok()) << f.name << ": " << lr.reason;
      ++filters;
    }
  }
  EXPECT_EQ(not_profiles, kNotProfiles.size());
  // 10 Docker/Podman/OCI JSON + 2 C tables + 5 LXC/LXD + 1 systemd TSV + 1 firejail TSV
  // + 7 raw BPF + 3 Firecracker + 46 crosvm + 7 bionic.
  EXPECT_EQ(profiles, 82u);
  EXPECT_GT(filters, profiles);
}

TEST(CorpusProfiles, DetectsTheNewFormats) {
  EXPECT_EQ(detect_profile_format("x.json", R"({"vmm": {"default_action": "trap", "filter_action": "allow",
                                                         "filter": []}})"),
            ProfileFormat::Firecracker);
  EXPECT_EQ(detect_profile_format("x.json", "{\"vmm\": {\"filter_action\": \"allow\", \n"),  // broken
            ProfileFormat::Firecracker);
  EXPECT_EQ(detect_profile_format("x.json", R"({"defaultAction": "SCMP_ACT_ALLOW", "rules": []})"),
            ProfileFormat::CTable);
  EXPECT_EQ(detect_profile_format("x.json", R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})"),
            ProfileFormat::DockerJson);
  EXPECT_EQ(detect_profile_format("p.policy", "# x\n"), ProfileFormat::Minijail);
  EXPECT_EQ(detect_profile_format("p", "# x\n\nread: 1\n"), ProfileFormat::Minijail);
  EXPECT_EQ(detect_profile_format("p", "@include ./x.policy\n"), ProfileFormat::Minijail);
  EXPECT_EQ(detect_profile_format("p", "read[arch=x86_64]: 1\n"), ProfileFormat::Minijail);
  EXPECT_EQ(detect_profile_format("l.txt", "# x\nread(int, void*, size_t)\tall\n"), ProfileFormat::Bionic);
  EXPECT_EQ(detect_profile_format("SECCOMP_PRIORITY.TXT", "futex\n"), ProfileFormat::Bionic);
  // Existing formats keep their detection.
  EXPECT_EQ(detect_profile_format("x.tsv", "a.profile\tseccomp\n"), ProfileFormat::FirejailTsv);
  EXPECT_EQ(detect_profile_format("f.txt", "hello\n"), std::nullopt);
  EXPECT_TRUE(not_a_profile("g.json", R"({"@default": {"members": []}})").has_value());
  EXPECT_TRUE(not_a_profile("syscalls.txt", "Hints\n@clock=adjtimex,stime\n").has_value());
  EXPECT_TRUE(not_a_profile("f.txt", "@default\n    read\n").has_value());
}

TEST(CorpusProfiles, FlatpakTranscription) {
  const auto fs = parse_c_table_json(read_text(kProfiles + "/flatpak/blocklist.json"), "blocklist.json");
  ASSERT_EQ(fs.size(), 1u);
  const RuleSet& rs = fs[0].rules;
  EXPECT_EQ(rs.default_action, SECCOMP_RET_ALLOW);
  EXPECT_EQ(rs.arches, std::vector<std::string>{"x86_64"});
  std::map<std::string, std::vector<const Rule*>> by;
  for (const auto& r : rs.rules) by[r.syscall].push_back(&r);
  // ioctl TIOCSTI / TIOCLINUX with the low-32-bit mask.
  ASSERT_EQ(by["ioctl"].size(), 2u);
  EXPECT_EQ(by["ioctl"][0]->args.at(0), (ArgCmp{1, ArgCmp::MASKED_EQ, 0xffffffffu, 0x5412}));
  EXPECT_EQ(by["ioctl"][0]->action, SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(by["clone3"].at(0)->action, SECCOMP_RET_ERRNO | 38);
  EXPECT_EQ(by["clone"].at(0)->args.at(0), (ArgCmp{0, ArgCmp::MASKED_EQ, 0x10000000, 0x10000000}));
  EXPECT_EQ(by["personality"].at(0)->args.at(0), (ArgCmp{0, ArgCmp::NE, 0, 0}));
  // socket: allowed families 0, 1, 2, 10, 16 -> EQ 3..9, 11..15, then GE 17.
  std::vector<ArgCmp> socket;
  for (const Rule* r : by["socket"]) socket.push_back(r->args.at(0));
  ASSERT_EQ(socket.size(), 13u);
  EXPECT_EQ(socket.front(), (ArgCmp{0, ArgCmp::EQ, 3, 0}));
  EXPECT_EQ(socket[7], (ArgCmp{0, ArgCmp::EQ, 11, 0}));
  EXPECT_EQ(socket.back(), (ArgCmp{0, ArgCmp::GE, 17, 0}));
  EXPECT_EQ(by["socket"][0]->action, SECCOMP_RET_ERRNO | 97);  // EAFNOSUPPORT
  FilterChain chain;
  ASSERT_TRUE(chain.install(compile_ruleset(rs).prog).ok());
  auto eval = [&](std::string_view name, std::vector<uint64_t> args) {
    SeccompData d;
    d.arch = AUDIT_ARCH_X86_64;
    d.nr = syscall_number(Arch::X86_64, name).value();
    for (size_t i = 0; i < args.size(); ++i) d.args[i] = args[i];
    return seccomp_run_filters(chain, d).ret;
  };
  EXPECT_EQ(eval("socket", {2}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(eval("socket", {40}), SECCOMP_RET_ERRNO | 97);
  EXPECT_EQ(eval("ioctl", {0, 0xffffffff00005412ull}), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(eval("mount", {}), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(eval("read", {}), SECCOMP_RET_ALLOW);
}

TEST(CorpusProfiles, QemuTranscription) {
  const auto fs = parse_c_table_json(read_text(kProfiles + "/qemu/sandbox-denylist.json"), "q.json");
  ASSERT_EQ(fs.size(), 2u);
  EXPECT_EQ(fs[0].name, "on");
  EXPECT_EQ(fs[1].name, "all");
  auto names = [](const RuleSet& rs) {
    std::set<std::string> s;
    for (const auto& r : rs.rules) s.insert(r.syscall);
    return s;
  };
  const auto on = names(fs[0].rules), all = names(fs[1].rules);
  EXPECT_TRUE(on.contains("reboot"));    // default set
  EXPECT_TRUE(on.contains("_sysctl"));   // obsolete set
  EXPECT_FALSE(on.contains("setuid"));   // elevateprivileges=deny only
  EXPECT_TRUE(all.contains("setuid"));
  EXPECT_TRUE(all.contains("clone"));
  for (const auto& r : fs[0].rules.rules)
    if (r.syscall == "reboot") {
      EXPECT_EQ(r.action, SECCOMP_RET_KILL_PROCESS);  // TRAP upgraded
    }
  size_t clone_rules = 0;
  for (const auto& r : fs[1].rules.rules)
    if (r.syscall == "clone") {
      ++clone_rules;
      ASSERT_EQ(r.args.size(), 1u);
      EXPECT_EQ(r.args[0].op, ArgCmp::MASKED_EQ);
    }
  EXPECT_EQ(clone_rules, 23u);
  for (const auto& r : fs[1].rules.rules)
    if (r.syscall == "setns") {
      EXPECT_EQ(r.action, SECCOMP_RET_KILL_THREAD);
    }
}

TEST(CorpusProfiles, CTableBrokenInputNamesFileAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"rules\": [\n {\"names\": [\"read\"],\n  \"action\": \"SCMP_ACT_NOPE\"}]}",
       "t.json:4: unknown action"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"rules\": [\n {\"names\": [\"read\"], \"action\": \"SCMP_ACT_TRAP\",\n"
       "  \"args\": [{\"index\": 0, \"op\": \"SCMP_CMP_EQ\",\n \"value\": \"some prose\"}]}]}",
       "t.json:5: no number in"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"rules\": [\n {\"action\": \"SCMP_ACT_TRAP\"}]}",
       "t.json:3: a rule needs names"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"rules\": [\n", "t.json:2: invalid JSON"},
  };
  for (const auto& [text, want] : cases) {
    std::string got = "no error";
    try {
      parse_c_table_json(text, "t.json");
    } catch (const ProfileError& e) {
      got = e.what();
    }
    EXPECT_NE(got.find(want), std::string::npos) << "got: " << got << "\nwant: " << want;
  }
}

bool has(const std::vector<CaseInput>& v, Arch a, int64_t nr, unsigned idx, uint64_t val) {
  return std::any_of(v.begin(), v.end(), [&](const CaseInput& in) {
    return in.arch == a && in.nr == nr && in.args[idx] == val;
  });
}

// The seed writer takes inputs from the new importers' rules.
TEST(CorpusProfiles, SeedInputsFromNewRuleSets) {
  const KernelProfile& kp = default_kernel_profile();
  const int64_t mmap = syscall_number(Arch::X86_64, "mmap").value();
  const auto fc = import_profile_file(kProfiles + "/firecracker/x86_64-unknown-linux-musl.json");
  const RuleSet& vmm = *std::find_if(fc.filters.begin(), fc.filters.end(), [](auto& f) { return f.name == "vmm"; })
                            ->rules;
  const auto in = seed_inputs(vmm, {Arch::X86_64}, kp);
  // dword eq 50 on arg3: the datum, its neighbours, and garbage in the high word.
  EXPECT_TRUE(has(in, Arch::X86_64, mmap, 3, 50));
  EXPECT_TRUE(has(in, Arch::X86_64, mmap, 3, 49));
  EXPECT_TRUE(has(in, Arch::X86_64, mmap, 3, 51));
  EXPECT_TRUE(has(in, Arch::X86_64, mmap, 3, 0xffffffff00000032ull));
  // masked_eq 4 on arg2: PROT_EXEC set and clear.
  EXPECT_TRUE(has(in, Arch::X86_64, mmap, 2, 4));
  EXPECT_TRUE(has(in, Arch::X86_64, mmap, 2, 0));
  // Every named syscall.
  for (const auto& r : vmm.rules)
    EXPECT_TRUE(has(in, Arch::X86_64, syscall_number(Arch::X86_64, r.syscall).value(), 0, 0)) << r.syscall;

  const auto mj = import_profile_file(kProfiles + "/crosvm/x86_64/block_device.policy");
  const auto min = seed_inputs(*mj.filters.at(0).rules, {Arch::X86_64}, kp);
  const int64_t ioctl = syscall_number(Arch::X86_64, "ioctl").value();
  EXPECT_TRUE(has(min, Arch::X86_64, ioctl, 1, 0x1277));
  EXPECT_TRUE(has(min, Arch::X86_64, ioctl, 1, 0x1278));
  EXPECT_TRUE(has(min, Arch::X86_64, mmap, 2, 4));

  const auto bi = import_profile_file(kProfiles + "/android-bionic/SYSCALLS.TXT");
  const auto bin = seed_inputs(*bi.filters.at(0).rules, {Arch::X86_64, Arch::I386}, kp);
  EXPECT_TRUE(has(bin, Arch::I386, syscall_number(Arch::I386, "getuid32").value(), 0, 0));
  EXPECT_TRUE(has(bin, Arch::X32, X32_SYSCALL_BIT, 0, 0));  // wrong arch: x32
}

}  // namespace
}  // namespace secdiff::corpus
