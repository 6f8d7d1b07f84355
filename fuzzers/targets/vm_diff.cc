// Fuzz target: the oracle's prediction against a real kernel in a VM.
//
// TODO(vm_diff): the VM runner library (vm/runner.h) is being written by
// another engineer and did not exist when this target was added (vm/ had only
// protocol.{h,cc} and kernel/). Once it exists, this target should:
//   1. get a runner from the pool once (LLVMFuzzerInitialize; the kernel
//      version from SECDIFF_FUZZ_KERNEL, the pool from the campaign's env),
//   2. send the decoded case (the compact encoding is already what
//      vm/protocol.h carries),
//   3. compare every install result and every observation with
//      predict_case() (oracle/case.h) using the kernel's profile, plus the
//      /proc/PID/seccomp_cache bitmap with the linux model's, and
//   4. report differences with fuzz::report_findings("vm_diff", ...)
//      (property "vm-diff", model "linux" or "-", kind = the first field that
//      differs), feeding BPF coverage as check_cache_soundness does.
// Until then it only decodes the case and predicts it (so it builds, runs in
// the smoke test and keeps a corpus that replays once the runner is there).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "oracle/case.h"
#include "oracle/case_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace secdiff;
  static bool warned = false;
  if (!warned) {
    warned = true;
    std::fprintf(stderr, "vm_diff: no VM runner yet (vm/runner.h); only decoding cases\n");
  }
  Case c;
  try {
    c = decode_case(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const WireError&) {
    return -1;
  }
  (void)predict_case(c);
  return 0;
}
