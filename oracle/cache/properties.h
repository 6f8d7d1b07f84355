// The properties the fuzzers check on cache models.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oracle/cache/cache_model.h"
#include "oracle/cache/exact.h"

namespace secdiff {

struct BitDiff {
  CacheArch arch;
  int nr;
};

// Soundness: every bit the model sets is in the exact set, except the
// kernel's deliberate uprobe/uretprobe exceptions (listed in `excused`).
struct SubsetReport {
  bool ok = true;
  std::vector<BitDiff> unsound;   // in model, not in exact (with witnesses in `witnesses`)
  std::vector<ExactAnswer> witnesses;
  std::vector<BitDiff> excused;   // uprobe exceptions
};
SubsetReport check_bitmap_subset_of_exact(const CacheModel& model, const FilterChain& chain);

// Precision: exact set minus the model's bitmap (constant-ALLOW syscalls the model loses).
std::vector<BitDiff> precision_loss(const CacheModel& model, const FilterChain& chain);

// Every cached (arch, nr) evaluates to ALLOW on the given input's args/ip.
// Returns the first counterexample.
std::optional<std::pair<BitDiff, uint32_t>> check_cached_allow_on(const CacheModel& model,
                                                                   const FilterChain& chain,
                                                                   const SeccompData& args_ip);

// Where two bitmaps differ (a - b and b - a).
struct BitmapCompare {
  std::vector<BitDiff> only_a, only_b;
};
BitmapCompare compare_models(const CacheModel& a, const CacheModel& b);

}  // namespace secdiff
