// corpus/src/corpus_seeds.h and corpus_report.h: format detection, seed inputs, case splitting,
// and the report's counts against the cache models.
#include <gtest/gtest.h>

#include <algorithm>

#include "corpus/src/corpus_report.h"
#include "corpus/src/corpus_seeds.h"
#include "corpus/src/seccomp_compile.h"
#include "host/case_file.h"
#include "oracle/cache/cache_model.h"
#include "oracle/case_codec.h"
#include "oracle/formats/formats.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {
namespace {

const std::string kProfiles = SECDIFF_PROFILES_DIR;

bool has(const std::vector<CaseInput>& v, Arch a, int64_t nr, unsigned idx = 0, uint64_t val = 0) {
  return std::any_of(v.begin(), v.end(), [&](const CaseInput& in) {
    return in.arch == a && in.nr == nr && in.args[idx] == val;
  });
}

TEST(CorpusSeeds, DetectsFormats) {
  EXPECT_EQ(detect_profile_format("x.json", " {\"a\":1}"), ProfileFormat::DockerJson);
  EXPECT_EQ(detect_profile_format("x.conf", "2\ndenylist\n"), ProfileFormat::Lxc);
  EXPECT_EQ(detect_profile_format("x.conf", "1\nallowlist\n0\n"), ProfileFormat::Lxc);
  EXPECT_EQ(detect_profile_format("x.tsv", "# h\ta\tb\tc\td\np\tv\tu\tSystemCallFilter\t@basic-io\n"),
            ProfileFormat::SystemdTsv);
  EXPECT_EQ(detect_profile_format("x.tsv", "a.profile\tseccomp\n"), ProfileFormat::FirejailTsv);
  EXPECT_EQ(detect_profile_format("a.service", "[Service]\nSystemCallFilter=@system-service\n"),
            ProfileFormat::SystemdUnit);
  EXPECT_EQ(detect_profile_format("f.profile", "seccomp\n"), ProfileFormat::FirejailProfile);
  EXPECT_EQ(detect_profile_format("f", std::string("\x06\0\0\0\0\0\xff\x7f", 8)), ProfileFormat::RawBpf);
  EXPECT_EQ(detect_profile_format("f.txt", "hello\n"), std::nullopt);
}

TEST(CorpusSeeds, InputsFromRules) {
  const KernelProfile& kp = default_kernel_profile();
  RuleSet rs;
  rs.arches = {"x86_64"};
  rs.rules.push_back({"read", 0x7fff0000u, {}, 0, {}, false});
  Rule r{"personality", 0x7fff0000u, {{0, ArgCmp::EQ, 0x100000008ull, 0}}, 0, {}, false};
  rs.rules.push_back(r);
  Rule m{"clone", 0x7fff0000u, {{0, ArgCmp::MASKED_EQ, 0x7e020000ull, 0}}, 0, {}, false};
  rs.rules.push_back(m);
  const auto in = seed_inputs(rs, {Arch::X86_64}, kp);
  EXPECT_TRUE(has(in, Arch::X86_64, 0));                   // read
  EXPECT_TRUE(has(in, Arch::X86_64, 135, 0, 0x100000007ull));  // personality: low word -1
  EXPECT_TRUE(has(in, Arch::X86_64, 135, 0, 0x100000008ull));
  EXPECT_TRUE(has(in, Arch::X86_64, 135, 0, 0x100000009ull));
  EXPECT_TRUE(has(in, Arch::X86_64, 135, 0, 0x000000008ull));  // high word -1
  EXPECT_TRUE(has(in, Arch::X86_64, 135, 0, 0x200000008ull));  // high word +1
  EXPECT_TRUE(has(in, Arch::X86_64, 56, 0, 0));                // clone: the datum
  EXPECT_TRUE(has(in, Arch::X86_64, 56, 0, 0x7e020000ull));    // with the mask bits
  EXPECT_TRUE(has(in, Arch::X86_64, kp.native_nr));            // past the table
  EXPECT_TRUE(has(in, Arch::X86_64, kp.native_nr + 1));
  EXPECT_TRUE(has(in, Arch::X86_64, 0xffffffffLL));
  EXPECT_TRUE(has(in, Arch::I386, 3));                          // wrong arch: i386 read
  EXPECT_TRUE(has(in, Arch::X32, 0 | X32_SYSCALL_BIT));         // x32 read
  // Unknown names are skipped.
  rs.rules.push_back({"no_such_syscall", 0x7fff0000u, {}, 0, {}, false});
  EXPECT_EQ(seed_inputs(rs, {Arch::X86_64}, kp).size(), in.size());
}

TEST(CorpusSeeds, SplitsAtTheCap) {
  std::vector<CaseInput> in(130);
  for (size_t i = 0; i < in.size(); i++) in[i].nr = static_cast<int64_t>(i);
  const Program p = assemble("ret #0x7fff0000");
  const auto cases = split_cases("x", p, in, kMaxCaseInputs);
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].inputs.size(), 64u);
  EXPECT_EQ(cases[2].inputs.size(), 2u);
  const Case back = decode_case(encode_case(cases[1]));  // the name is not encoded
  EXPECT_EQ(back.filters, cases[1].filters);
  EXPECT_EQ(back.inputs, cases[1].inputs);
}

TEST(CorpusSeeds, ImportsRealProfiles) {
  const auto docker = import_profile_file(kProfiles + "/docker/default.json");
  ASSERT_EQ(docker.filters.size(), 1u);
  ASSERT_TRUE(docker.filters[0].rules);
  ProfileImportOptions o;
  o.select = {"systemd-journald.service"};
  const auto sd = import_profile_file(kProfiles + "/systemd/unit-directives-bookworm.tsv", o);
  ASSERT_FALSE(sd.filters.empty());
  for (const auto& f : sd.filters) EXPECT_EQ(f.name.rfind("systemd-journald.service.", 0), 0u) << f.name;
  const auto raw = import_profile_file(kProfiles + "/bubblewrap/flatpak.bpf");
  EXPECT_EQ(raw.format, ProfileFormat::RawBpf);
  EXPECT_EQ(raw.filters[0].program.size(), 93u);
  EXPECT_THROW(import_profile_file(kProfiles + "/README.md"), ProfileError);
}

// The generated corpus (scripts/gen-corpus.sh) decodes: one filter the kernel accepts, <= 64 inputs.
TEST(CorpusSeeds, BuiltInCorpusDecodes) {
  const auto files = collect_case_files({std::string(SECDIFF_SOURCE_DIR) + "/corpus/seeds"});
  ASSERT_GT(files.size(), 100u);
  for (const auto& f : files) {
    const Case c = load_case_file(f);
    ASSERT_EQ(c.filters.size(), 1u) << f;
    EXPECT_LE(c.inputs.size(), kMaxCaseInputs) << f;
    FilterChain chain;
    EXPECT_TRUE(chain.install(c.filters[0].prog).ok()) << f;
  }
}

TEST(CorpusReport, CountsMatchTheModels) {
  const KernelProfile& kp = default_kernel_profile();
  const auto docker = import_profile_file(kProfiles + "/docker/default.json");
  FilterChain chain;
  ASSERT_TRUE(chain.install(compile_ruleset(*docker.filters[0].rules).prog).ok());
  const auto rows = report_chain("docker", chain, kp);
  ASSERT_EQ(rows.size(), 2u);
  auto lin = make_cache_model("linux", kp), ex = make_cache_model("exact", kp);
  replay_attach(*lin, chain);
  replay_attach(*ex, chain);
  for (size_t i = 0; i < 2; i++) {
    const Bitmap bl = lin->bitmap(kCacheArches[i]), be = ex->bitmap(kCacheArches[i]);
    EXPECT_EQ(rows[i].linux_cached, std::count(bl.begin(), bl.end(), true));
    EXPECT_EQ(rows[i].exact_allow, std::count(be.begin(), be.end(), true));
    EXPECT_TRUE(rows[i].extra.empty());
  }
  // A filter the emulator cannot follow: an argument load before ALLOW either way.
  FilterChain lost;
  ASSERT_TRUE(lost.install(assemble("ld [4]\njne #0xc000003e, ok\nld [0]\njne #1, ok\n"
                                    "ld [16]\njeq #5, ok, ok\nok: ret #0x7fff0000"))
                  .ok());
  const auto lr = report_chain("lost", lost, kp);
  EXPECT_EQ(lr[0].lost, 1);
  ASSERT_EQ(lr[0].lost_groups.size(), 1u);
  EXPECT_EQ(lr[0].lost_groups[0].pc, 4);
  EXPECT_EQ(lr[0].lost_groups[0].syscalls, std::vector<std::string>{"write"});
  EXPECT_NE(lr[0].lost_groups[0].insn.find("ld [16]"), std::string::npos);
}

}  // namespace
}  // namespace secdiff::corpus
