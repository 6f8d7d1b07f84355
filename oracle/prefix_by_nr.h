// bpf_run_prefix() for every syscall number of one arch at once.
//
// The prefix of a filter (up to its first load of a seccomp_data word other
// than nr/arch) depends only on (arch, nr), so a filter splits the numbers
// 0..count-1 into sets that share a path. This runs the program on those sets:
// a conditional jump on A == nr (or on constants) splits a set with a few word
// operations; any other instruction on a number-dependent A or X falls back to
// bpf_run_prefix_from() for each number of the set, so the result is exactly
// bpf_run_prefix()'s. Used where every bit of a cache bitmap needs its
// classification (fuzzers/checks.cc); tests compare it number by number.
#pragma once

#include <cstdint>
#include <vector>

#include "oracle/bpf.h"

namespace secdiff {

struct PrefixOutcome {
  bool stopped = false;  // reached a load of args/ip: depends on more than (arch, nr)
  uint32_t ret = 0;      // the filter's return value when !stopped
};

// `insns` must have passed seccomp_check_filter (rewritten form).
std::vector<PrefixOutcome> bpf_prefix_by_nr(const Program& insns, uint32_t arch, uint32_t count);

}  // namespace secdiff
