// ChainEvaluator (memoized partial evaluation) against the plain seccomp_run_filters.
#include <gtest/gtest.h>

#include "common/random_program.h"
#include "oracle/evaluator.h"

namespace secdiff {
namespace {

using namespace testing;

TEST(ChainEvaluator, AgreesWithSeccompRunFiltersOnRandomChains) {
  std::mt19937_64 rng(7);
  RandomProgramOptions opt;
  opt.valid_share = 1.0;
  int chains = 0, inputs = 0, resumed = 0;
  for (int n = 0; n < 3000; n++) {
    FilterChain c;
    const int nf = 1 + static_cast<int>(rng() % 3);
    std::vector<uint32_t> consts;
    for (int i = 0; i < nf; i++) {
      const Program p = random_valid_program(rng, opt);
      ASSERT_TRUE(c.install(p).ok());
      for (uint32_t k : program_constants(p)) consts.push_back(k);
    }
    chains++;
    ChainEvaluator ev(c);
    // Repeated (arch, nr) with different args exercise the memoized states.
    for (int i = 0; i < 60; i++) {
      SeccompData sd = random_seccomp_data(rng, consts);
      if (i % 3 == 0) sd.nr = static_cast<int32_t>(rng() % 8);
      const RunResult want = seccomp_run_filters(c, sd);
      const RunResult got = ev.run(sd);
      ASSERT_EQ(got.ret, want.ret) << "chain " << n << " input " << i;
      ASSERT_EQ(got.match, want.match);
      inputs++;
    }
    (void)resumed;
  }
  std::printf("%d chains, %d inputs agree\n", chains, inputs);
}

}  // namespace
}  // namespace secdiff
