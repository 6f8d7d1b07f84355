// AFL++ backend of fuzzers/coverage.h. kCovSize sanitizer-coverage guards are
// registered with AFL++'s runtime (afl-compiler-rt) from a constructor, so it
// gives each one its own slot of the coverage map (__afl_area_ptr) and counts
// them in the map size it reports to afl-fuzz; a BPF-level key then goes
// through the runtime's __sanitizer_cov_trace_pc_guard exactly as an
// instrumented edge does. (__afl_area_ptr is not named here: afl-clang-fast's
// pass declares it itself with another type.)
#include <cstdint>

#include "fuzzers/coverage.h"

extern "C" {
void __sanitizer_cov_trace_pc_guard_init(uint32_t* start, uint32_t* stop);
void __sanitizer_cov_trace_pc_guard(uint32_t* guard);
}

namespace {

uint32_t g_guards[secdiff::fuzz::kCovSize];

void hit(uint32_t index) {
  if (g_guards[index]) __sanitizer_cov_trace_pc_guard(&g_guards[index]);
}

__attribute__((constructor(101))) void register_guards() {
  __sanitizer_cov_trace_pc_guard_init(g_guards, g_guards + secdiff::fuzz::kCovSize);
  secdiff::fuzz::set_cov_sink(hit);
}

}  // namespace
