// Fuzz target: the cache models against the exact oracle (fuzzers/checks.h,
// check_cache_soundness). Input: one case in the compact encoding
// (oracle/case_codec.h). Models: SECDIFF_FUZZ_MODELS (default
// linux,rfc-v1,rfc-v1-fixed). Findings: SECDIFF_FINDINGS_DIR.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzzers/checks.h"
#include "fuzzers/target_support.h"
#include "oracle/case_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace secdiff;
  static const fuzz::CheckOptions opt = fuzz::check_options_from_env();
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  Case c;
  try {
    c = decode_case(raw);
  } catch (const WireError&) {
    return -1;  // not a case: keep it out of the corpus
  }
  fuzz::report_findings("cache_soundness", fuzz::check_cache_soundness(c, opt), &c, raw);
  return 0;
}
