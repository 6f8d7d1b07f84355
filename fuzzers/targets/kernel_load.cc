// Fuzz target: the validator against the host kernel's seccomp() (fuzzers/checks.h,
// check_kernel_load). Children only install filters (host/host_kernel.h); no
// other syscall is issued under them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzzers/checks.h"
#include "fuzzers/target_support.h"
#include "oracle/case_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace secdiff;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  Case c;
  try {
    c = decode_case(raw);
  } catch (const WireError&) {
    return -1;
  }
  fuzz::report_findings("kernel_load", fuzz::check_kernel_load(c), &c, raw);
  return 0;
}
