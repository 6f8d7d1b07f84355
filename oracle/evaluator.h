// Fast exact evaluation of a fixed chain, for inner loops (fuzzers, benchmarks).
// Per filter and (arch, nr) it memoizes the machine state at the first load of a
// seccomp_data word other than nr/arch — or the return value when there is
// none — and resumes from there. The prefix depends only on (arch, nr), so the
// result equals seccomp_run_filters(); tests check that on random programs.
#pragma once

#include <memory>
#include <vector>

#include "oracle/chain.h"
#include "oracle/interpreter.h"

namespace secdiff {

class ChainEvaluator {
 public:
  // The chain must outlive the evaluator and not change.
  explicit ChainEvaluator(const FilterChain& chain);
  RunResult run(const SeccompData& sd);

 private:
  static constexpr int kSlots = 1024;  // nr values memoized per arch
  struct Entry {
    uint8_t kind = 0;   // 0 unknown, 1 final, 2 resume
    uint32_t value = 0;  // final return value, or index into states_
  };
  struct PerFilter {
    const Program* insns;
    std::vector<Entry> table;     // 3 * kSlots: x86_64, i386, x32 (nr - X32_SYSCALL_BIT)
    std::vector<BpfState> states;
  };
  uint32_t run_one(PerFilter& f, const SeccompData& sd);

  std::vector<PerFilter> filters_;  // oldest first
};

}  // namespace secdiff
