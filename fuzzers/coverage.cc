#include "fuzzers/coverage.h"

namespace secdiff::fuzz {

namespace {
uint8_t g_default_map[kCovSize];
void default_sink(uint32_t index) {
  uint8_t& c = g_default_map[index];
  if (c != 255) c++;
}
CovSink g_sink = default_sink;
}  // namespace

void set_cov_sink(CovSink sink) { g_sink = sink ? sink : default_sink; }
CovSink cov_sink() { return g_sink; }
uint8_t* cov_default_map() { return g_default_map; }

}  // namespace secdiff::fuzz
