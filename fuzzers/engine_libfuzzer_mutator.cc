// The structure-aware mutator as libFuzzer hooks. Linked into the default
// libFuzzer targets; the byte-level baseline (fuzz_<target>_bytes) leaves it out.
#include <cstddef>
#include <cstdint>

#include "fuzzers/mutator.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {
const secdiff::fuzz::CaseMutator& mutator() {
  static const secdiff::fuzz::CaseMutator m;
  return m;
}
}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  // A small share of libFuzzer's own byte-level havoc keeps malformed and
  // unexpected encodings in play (the decoder and the targets' robustness).
  if (seed % 64 == 0) return LLVMFuzzerMutate(data, size, max_size);
  return mutator().mutate_bytes(data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1,
                                            const uint8_t* data2, size_t size2, uint8_t* out,
                                            size_t max_out_size, unsigned int seed) {
  return mutator().crossover_bytes(data1, size1, data2, size2, out, max_out_size, seed);
}
