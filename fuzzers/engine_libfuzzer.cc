// libFuzzer backend of fuzzers/coverage.h: BPF-level coverage as extra
// counters (libFuzzer clears them before every run and treats each byte like
// an edge counter).
#include <cstdint>

#include "fuzzers/coverage.h"

namespace {

__attribute__((section("__libfuzzer_extra_counters"), used))
uint8_t g_extra_counters[secdiff::fuzz::kCovSize];

// Set, not counted: a key is one feature. (Counting multiplies libFuzzer's
// features by its hit-count buckets, and its entropic bookkeeping then costs
// more than running the case.)
void hit(uint32_t index) { g_extra_counters[index] = 1; }

const bool g_installed = (secdiff::fuzz::set_cov_sink(hit), true);

}  // namespace
