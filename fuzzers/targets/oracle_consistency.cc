// Fuzz target: the oracle against itself (fuzzers/checks.h,
// check_oracle_consistency): valid programs never fault, evaluations agree,
// formats round-trip, and every parser survives the raw input bytes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "fuzzers/checks.h"
#include "fuzzers/target_support.h"
#include "oracle/case_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace secdiff;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::optional<Case> c;
  try {
    c = decode_case(raw);
  } catch (const WireError&) {
  }
  fuzz::report_findings("oracle_consistency",
                        fuzz::check_oracle_consistency(c ? &*c : nullptr, raw), c ? &*c : nullptr,
                        raw);
  return 0;
}
