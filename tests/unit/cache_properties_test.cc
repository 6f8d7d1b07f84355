// The properties the fuzzers check, over random chains:
//   linux bitmap ⊆ exact set (except the uprobe exceptions), every cached
//   syscall evaluates to ALLOW on random inputs, and the rfc-v1 task cache
//   (fixed variant) never changes an action.
#include <gtest/gtest.h>

#include "common/random_program.h"
#include "oracle/cache/exact.h"
#include "oracle/cache/properties.h"
#include "oracle/chain.h"

namespace secdiff {
namespace {

using namespace testing;

FilterChain random_chain(std::mt19937_64& rng, std::vector<uint32_t>* consts) {
  RandomProgramOptions opt;
  opt.valid_share = 1.0;
  opt.typical_share = 0.7;
  FilterChain c;
  const int nf = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < nf; i++) {
    // Half in the emulator's own instruction set, so its every branch is exercised.
    const Program p = rng() % 2 ? random_emulator_program(rng) : random_valid_program(rng, opt);
    EXPECT_TRUE(c.install(p).ok());
    for (uint32_t k : program_constants(p)) consts->push_back(k);
  }
  return c;
}

TEST(CacheProperties, LinuxIsSoundOnRandomChains) {
  std::mt19937_64 rng(2024);
  int chains = 0, cached = 0, lost = 0, excused = 0;
  for (const char* kv : {"6.1", "6.12", "6.18"}) {
    const KernelProfile& k = *find_kernel_profile(kv);
    for (int n = 0; n < 150; n++) {
      std::vector<uint32_t> consts;
      const FilterChain c = random_chain(rng, &consts);
      auto m = make_cache_model("linux", k);
      ASSERT_FALSE(replay_attach(*m, c).has_value());
      const SubsetReport rep = check_bitmap_subset_of_exact(*m, c);
      ASSERT_TRUE(rep.ok) << "linux caches a syscall that is not constant ALLOW: "
                          << cache_arch_name(rep.unsound[0].arch) << " " << rep.unsound[0].nr;
      for (const BitDiff& d : rep.excused) {
        EXPECT_EQ(d.arch, CacheArch::Native);
        EXPECT_TRUE(d.nr == 335 || d.nr == 336);
      }
      excused += static_cast<int>(rep.excused.size());
      for (int i = 0; i < 20; i++) {
        const SeccompData args = random_seccomp_data(rng, consts);
        const auto bad = check_cached_allow_on(*m, c, args);
        ASSERT_FALSE(bad.has_value()) << "cached nr " << bad->first.nr << " returned " << bad->second;
      }
      for (CacheArch a : kCacheArches)
        for (bool b : m->bitmap(a)) cached += b;
      lost += static_cast<int>(precision_loss(*m, c).size());
      chains++;
    }
  }
  std::printf("%d chains: %d cached bits sound, %d excused (uprobe), %d constant-ALLOW bits lost\n",
              chains, cached, excused, lost);
  EXPECT_GT(lost, 0);  // the generator reaches what the emulator cannot follow
}

// The fixed RFC design: a syscall sequence through the per-task cache gives the
// same actions as the plain chain.
TEST(CacheProperties, RfcFixedTaskCacheNeverChangesTheAction) {
  std::mt19937_64 rng(99);
  const KernelProfile& k = *find_kernel_profile("6.1");
  int chains = 0, hits = 0;
  for (int n = 0; n < 300; n++) {
    std::vector<uint32_t> consts;
    const FilterChain c = random_chain(rng, &consts);
    auto m = make_cache_model("rfc-v1-fixed", k);
    if (replay_attach(*m, c)) continue;  // E2BIG: this design refuses the install
    chains++;
    for (int i = 0; i < 200; i++) {
      SeccompData sd = random_seccomp_data(rng, consts);
      if (i % 2) sd.nr = static_cast<int32_t>(rng() % 4);  // revisit numbers with new args
      const RunResult cached = seccomp_run_filters(c, sd, *m);
      const RunResult plain = seccomp_run_filters(c, sd);
      hits += cached.cache_hit;
      ASSERT_EQ(action_of(cached.ret), action_of(plain.ret)) << "chain " << n << " input " << i;
    }
  }
  std::printf("%d chains, %d task-cache hits, all equal to the plain chain\n", chains, hits);
  EXPECT_GT(hits, 0);
}

}  // namespace
}  // namespace secdiff
